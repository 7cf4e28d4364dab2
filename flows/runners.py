"""How a stage is executed: runners, submitters and task runners.

A *runner* is ``runner(stage_name, fn, *args, **kwargs) -> fn's result``: ``run_plain`` calls
the stage (benchmarks, unit tests), ``run_as_prefect_task`` runs it as the Prefect task of the
same name, or as a plain call for the stages ``flows.stages.STAGES`` keeps in the flow run. A
*submitter* has the same signature and returns a future (the extract stage only):
``submit_as_prefect_task`` on the flow's task runner, ``thread_submitter`` without Prefect.
``dask_task_runner`` is the flow's task runner on a Dask cluster.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.stages import STAGE_BY_NAME, STAGES

Runner = Callable[..., Any]  # runner(stage_name, fn, *args, **kwargs) -> fn's result

TASK_RUNNERS = ("default", "dask")

# Extraction threads of the default task runner. The extractor's many small Polars queries and
# its Python steps mostly serialize on the GIL, so a second thread gains little by itself; it
# pays because either thread hands its batch to the validation process while that one sits idle
# (flows/stages.py: _extract_where_idle). More threads only contend for the GIL.
EXTRACT_THREADS = 2


def run_plain(stage: str, fn: Callable, *args, **kwargs):
    """Call the stage directly; a stage with ``retries`` in the table is retried on OSError."""
    attempts = STAGE_BY_NAME[stage].retries + 1
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except OSError:
            if attempt + 1 == attempts:
                raise
            time.sleep(0.5)


PREFECT_TASKS: dict[str, Any] = {
    s.name: task(s.fn, name=s.name, cache_policy=NO_CACHE, persist_result=False, task_run_name=s.task_run_name)
    for s in STAGES if s.task
}


def _prefect_task(stage: str, fn: Callable):
    t = PREFECT_TASKS[stage]
    if t.fn is not fn:
        raise ValueError(f"stage {stage!r} is bound to {t.fn.__name__}, not {fn.__name__}")
    return t


def run_as_prefect_task(stage: str, fn: Callable, *args, **kwargs):
    """Runner that executes ``fn`` as its Prefect task (inside a flow run), or as a plain call
    for a stage the table keeps in the flow run."""
    if not STAGE_BY_NAME[stage].task:
        return run_plain(stage, fn, *args, **kwargs)
    return _prefect_task(stage, fn)(*args, **kwargs)


def submit_as_prefect_task(stage: str, fn: Callable, *args, **kwargs):
    """Like ``run_as_prefect_task`` but ``task.submit``: returns a future on the flow's task
    runner (e.g. a Dask cluster); the caller takes ``.result()``. Used for ``extract`` only."""
    return _prefect_task(stage, fn).submit(*args, **kwargs)


@contextmanager
def thread_submitter(threads: int = EXTRACT_THREADS) -> Iterator[Runner]:
    """A ``submit`` for ``run_pipeline`` without Prefect: extraction on a thread pool, as the
    Prefect flow's default task runner does it (``submit(stage, fn, ...)`` returns a future)."""
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="zonefacts-extract") as pool:
        yield lambda stage, fn, *args, **kwargs: pool.submit(run_plain, stage, fn, *args, **kwargs)


def dask_task_runner(address: str | None = None, n_workers: int = 2):
    """prefect-dask's DaskTaskRunner: on the cluster at ``address`` (tcp://host:8786), else on
    a LocalCluster of ``n_workers`` single-threaded worker processes."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_class=_local_cluster,
                          cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "processes": True})


def _local_cluster(**kwargs):
    """A ``distributed.LocalCluster`` whose workers report to this flow's Prefect API.

    Created when the first task is submitted, i.e. inside the flow run, once the API is
    known: $PREFECT_API_URL / the settings context, else the flow's temporary server.
    Without it every worker process would start a temporary server of its own (~25 s
    each) and record its task runs there."""
    import distributed
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    if not api_url:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()   # the flow process's temporary server (a singleton)
        api_url = server.api_url if server.server_process is not None else None
    env = {k: v for k, v in os.environ.items() if k.startswith(("PREFECT_LOGGING_", "ZONEFACTS_"))}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return distributed.LocalCluster(env={**env, **kwargs.pop("env", {})}, **kwargs)
