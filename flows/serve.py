"""``zonefacts serve``: run the ``zonefacts_run`` flow on a schedule (cron or interval).

Prefect's temporary server cannot run schedules, so when ``PREFECT_API_URL`` is not set,
``serve`` starts and supervises its own ``prefect server start`` on 127.0.0.1 and a free
port, with its SQLite database under ``<warehouse dir>/.prefect`` (PREFECT_HOME), waits for
``/api/health``, and stops it (the whole process group) when serve exits: on SIGTERM,
SIGINT or normal exit; when serve is killed, its lifeline (``flows.lifeline``) kills the server.
With ``PREFECT_API_URL`` set, that server is used and nothing is started.

Overlap: runs never overlap on one warehouse.
  1. The flow takes ``fcntl.flock`` on ``<warehouse>.lock``; a run that finds it held returns
     status ``skipped`` (the CLI exits 75) and touches nothing. This holds across processes,
     servers and hosts sharing a local file system.
  2. ``serve(limit=1)``: this serve process executes at most one flow run at a time; a
     scheduled run that comes due while one is running waits for the slot.
  3. ``global_limit=1`` on the deployment: the server hands out one concurrency slot for
     the deployment, so even two ``serve`` processes of the same deployment do not run
     it concurrently.

Import of Prefect is deferred until PREFECT_API_URL / PREFECT_HOME are set for this process.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from flows import lifeline

DEPLOYMENT_NAME = "zonefacts-scheduled"

# Settings the supervised server inherits from our environment when set (tests lower the
# scheduler loop to see scheduled runs in seconds instead of a minute).
_SERVER_ENV_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_healthy(api_url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    url = api_url.rstrip("/") + "/health"
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {proc.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.5)
    raise RuntimeError(f"prefect server at {api_url} not healthy after {timeout:.0f} s ({last})")


@dataclass
class LocalServer:
    """A supervised ``prefect server start`` in its own process group."""

    home: Path
    host: str = "127.0.0.1"
    port: int = 0
    startup_timeout: float = 120.0
    proc: subprocess.Popen | None = field(default=None, repr=False)
    log_path: Path | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    def start(self) -> "LocalServer":
        lifeline.hold()   # a killed serve takes its server along
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.host)
        env = dict(os.environ)
        env.pop("PREFECT_API_URL", None)
        env["PREFECT_HOME"] = str(self.home)
        for k, v in _SERVER_ENV_DEFAULTS.items():
            env.setdefault(k, v)
        prefect = Path(sys.executable).with_name("prefect")
        cmd = [str(prefect) if prefect.exists() else "prefect", "server", "start",
               "--host", self.host, "--port", str(self.port)]
        self.log_path = self.home / "server.log"
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        try:
            wait_healthy(self.api_url, self.startup_timeout, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server's whole process group; on return nothing of it is left listening.

        The leader (``prefect server start``) can exit before its uvicorn child has released the
        port, so the group is waited on, and killed, after the leader is gone.
        """
        proc, self.proc = self.proc, None
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(5)
        deadline = time.monotonic() + 5
        while _signal_group(proc.pid, 0) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> bool:
    """Send signum to a process group; False when no process of it is left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:   # only a zombie is left, or the id was reused by another user
        return False
    return True


def _raise_keyboard_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def serve(*, inbox: Path, warehouse: Path, cron: str | None = None, interval: float | None = None,
          timezone: str | None = None, max_file_bytes: int | None = None,
          batch_documents: int | None = None, lock_wait_seconds: float = 0.0,
          out=sys.stdout) -> int:
    """Serve the deployment until interrupted. Returns an exit code."""
    if (cron is None) == (interval is None):
        raise ValueError("give exactly one of cron or interval")
    inbox, warehouse = Path(inbox).resolve(), Path(warehouse).resolve()
    server: LocalServer | None = None
    if not os.environ.get("PREFECT_API_URL"):
        home = warehouse.parent / ".prefect"
        server = LocalServer(home=home)
        print(f"zonefacts serve: starting Prefect server (PREFECT_HOME={home}) …", file=out, flush=True)
        atexit.register(server.stop)
        server.start()
        os.environ["PREFECT_API_URL"] = server.api_url
        os.environ["PREFECT_HOME"] = str(home)
        print(f"zonefacts serve: Prefect server on port {server.port}: {server.api_url} "
              f"(UI http://{server.host}:{server.port})", file=out, flush=True)
    else:
        print(f"zonefacts serve: using Prefect server {os.environ['PREFECT_API_URL']}", file=out, flush=True)
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        from prefect.flows import EntrypointType
        from prefect.schedules import Cron, Interval

        from flows.pipeline import zonefacts_run
        from flows.settings import DEFAULT_BATCH_DOCUMENTS, DEFAULT_MAX_FILE_BYTES

        schedule = (Cron(cron, timezone=timezone) if cron is not None
                    else Interval(float(interval), timezone=timezone))
        parameters = {
            "inbox": str(inbox), "warehouse": str(warehouse),
            "max_file_bytes": max_file_bytes or DEFAULT_MAX_FILE_BYTES,
            "batch_documents": batch_documents or DEFAULT_BATCH_DOCUMENTS, "lock_wait_seconds": lock_wait_seconds,
        }
        what = f"cron {cron!r}" if cron is not None else f"every {interval:g} s"
        print(f"zonefacts serve: deployment zonefacts-run/{DEPLOYMENT_NAME}, {what}"
              f"{f' ({timezone})' if timezone else ''}, parameters {json.dumps(parameters, ensure_ascii=False)}",
              file=out, flush=True)
        zonefacts_run.serve(
            name=DEPLOYMENT_NAME, schedules=[schedule], parameters=parameters,
            pause_on_shutdown=False, limit=1, global_limit=1,
            print_starting_message=False, entrypoint_type=EntrypointType.MODULE_PATH,
            description="zonefacts: ingest the inbox into the warehouse (served by `zonefacts serve`)",
        )
        return 0
    except KeyboardInterrupt:
        print("zonefacts serve: stopping", file=out, flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server is not None:
            server.stop()
