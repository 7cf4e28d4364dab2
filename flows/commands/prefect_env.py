"""The Prefect environment of a ``zonefacts`` process, set before Prefect is first imported
(it reads these variables at import): quiet by default, Prefect's own logs with ``--verbose``.

Quiet means the command's own output is all the user reads: for ``zonefacts run`` that is
the summary, or one error line. Prefect's flow- and task-run loggers would repeat a failure
with its traceback, and its API log handler, left to flush after the temporary server has
stopped, adds "Error logging to API"; both are off for a quiet run. ``serve`` keeps the run
loggers: its scheduled runs report to the server they run on.

Heartbeats: Prefect emits flow-run heartbeats so that an automation can mark a deployment's run
whose machine died as crashed. ``zonefacts run`` is not a deployment's run: whoever started it
sees it end. There Prefect's heartbeat thread only costs its join at the flow's end (it sleeps
in one-second steps, so up to a second per run), and ``one_off_run`` turns it off unless the
user set a frequency. ``serve``'s scheduled runs keep them.

Block types: ``import prefect`` defines every notification and webhook block type it ships
(``prefect.blocks`` imports them to register them): pure-Python work at the start of every run,
before its first batch is read. A run uses one only when an alert channel is a Prefect block, and that channel
imports them itself (``flows.alerts``); ``defer_block_types`` makes them stand in until then.
"""
from __future__ import annotations

import atexit
import os
import typing
from collections.abc import Iterator
from contextlib import contextmanager

_ALWAYS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLI_PROMPT": "false",
    # the temporary server needs ~25 s on a small machine (Prefect's default wait is 20 s)
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}
_QUIET = {
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
}
# Prefect's names for the flow-run heartbeat frequency (the second is its legacy alias)
_HEARTBEAT_VARIABLES = ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")
# Imported by ``import prefect``, used only by the Prefect-block alert channel
DEFERRED_BY_PREFECT = ("prefect.blocks.notifications", "prefect.blocks.webhook")
_QUIET_RUNS = {
    "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_TO_API_ENABLED": "false",
}


def prepare_prefect(*, verbose: bool, quiet_runs: bool) -> None:
    """Set Prefect's variables for this process (a value the user set is kept)."""
    import logging

    settings = dict(_ALWAYS)
    if not verbose:
        settings |= _QUIET | (_QUIET_RUNS if quiet_runs else {})
    for name, value in settings.items():
        os.environ.setdefault(name, value)
    # GX logs its temporary docs folder at INFO on every validation
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    if not verbose:
        # Prefect's events worker warns "Still processing items" when the process ends with
        # events queued; it sends them all before the process exits, so a quiet run omits it
        logging.getLogger("EventsWorker").setLevel(logging.ERROR)
    if verbose:
        logging.getLogger("zonefacts").setLevel(logging.INFO)
    # DuckDB's nanobind binding reports objects still cached by typing at shutdown as
    # "leaked"; they are not (nanobind docs, refleaks): clearing typing's caches first
    # keeps stderr for real errors.
    atexit.register(_clear_typing_caches)


def defer_block_types() -> None:
    """Before Prefect's first import: its notification and webhook block types stand in
    (``DeferredModule``) until an attribute of theirs is first read."""
    from expectations.gx_import import defer

    defer(DEFERRED_BY_PREFECT)


@contextmanager
def one_off_run() -> Iterator[None]:
    """Prefect's settings for a flow run called directly (``zonefacts run``): no heartbeats,
    unless the user set their frequency. Imports Prefect: call it after ``prepare_prefect``."""
    if any(name in os.environ for name in _HEARTBEAT_VARIABLES):
        yield
        return
    # None cannot be spelled as an environment variable (the setting parses an int)
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def _clear_typing_caches() -> None:
    for cleanup in getattr(typing, "_cleanups", []):
        cleanup()
