"""The validation process: a child that imports Great Expectations once and runs the
validate and quality stages (flows/validation.py) for the runs of this process.

Importing GX is ~6 s of pure-Python work under the GIL. Done in the run's own process it
stalls reading and extraction for that long; a child imports it on the other core while
this process imports Prefect and extracts. Once GX is imported it says so (``READY``); from then
on it also extracts the batches the run hands it while it is idle
(``run_in_validation_process_if_idle``), with a GIL of its own. A stage may leave work for after
its answer (``after_reply``: the Data Docs), which then overlaps the end of the run; the next
call, or ``settle_validation_process``, waits for it. The child dies with this process
(``flows.lifeline``). Standard library only, so that ``zonefacts run`` can start the child before
it imports anything heavy.
"""
from __future__ import annotations

import atexit
import importlib
import json
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flows import collector, lifeline

# ZONEFACTS_VALIDATION_PROCESS=0 keeps GX in the run's own process (one process to debug).
_ENABLED = os.environ.get("ZONEFACTS_VALIDATION_PROCESS", "1") != "0"


class ValidationProcessDied(RuntimeError):
    """The validation process exited under a stage (killed, out of memory)."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in the validation process (its ``__cause__``)."""


class _ValidationProcess:
    """A ``python -c`` child that imports GX at once, then runs stages sent as pickles over a
    pipe pair. Not ``multiprocessing``: its spawn re-imports the caller's ``__main__``, which
    breaks scripts without a main guard."""

    def __init__(self) -> None:
        request_r, request_w = os.pipe()
        response_r, response_w = os.pipe()
        code = ("import sys, json; sys.path[:] = json.loads(sys.argv[3]); "
                "from flows.validation_process import _serve; _serve(int(sys.argv[1]), int(sys.argv[2]))")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, str(request_r), str(response_w), json.dumps(sys.path)],
                pass_fds=(request_r, response_w), stdin=subprocess.DEVNULL)
        except BaseException:
            os.close(request_w)
            os.close(response_r)
            raise
        finally:
            os.close(request_r)
            os.close(response_w)
        self.requests = os.fdopen(request_w, "wb")
        self.responses = os.fdopen(response_r, "rb")
        self.lock = threading.Lock()
        self.broken = False
        self.settling = False   # its last call left work to do after its answer (after_reply)
        self.ready = False      # it sent READY: done importing, reading requests

    def call(self, name: str, *args: Any) -> Any:
        """Run the function ``name`` ("module:qualname") there with ``args``; its result or its exception."""
        # pickled before the pipe is touched: an argument that does not pickle leaves it in step
        request = pickle.dumps((name, args), protocol=pickle.HIGHEST_PROTOCOL)
        with self.lock:
            return self._exchange(name, request)

    def call_if_idle(self, name: str, *args: Any) -> tuple | None:
        """``(result,)`` of ``call(name, *args)`` if the process is idle now: done importing GX, no
        call under way, no work left after its last answer. Else None at once, nothing sent."""
        if self.settling or not self.lock.acquire(blocking=False):
            return None
        try:
            if self.settling or not self._ready(wait=False):
                return None
            # pickled only once the process is known idle: a busy answer costs nothing
            request = pickle.dumps((name, args), protocol=pickle.HIGHEST_PROTOCOL)
            return (self._exchange(name, request),)
        finally:
            self.lock.release()

    def _ready(self, wait: bool) -> bool:
        """Whether the process has sent ``READY`` (read here, once; ``wait``: until it does). With the lock held."""
        if not self.ready and (wait or select.select([self.responses], [], [], 0)[0]):
            try:
                pickle.load(self.responses)   # READY
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                self.broken = True
                raise ValidationProcessDied(f"the validation process died while importing GX: {exc!r}") from None
            self.ready = True
        return self.ready

    def _exchange(self, name: str, request: bytes) -> Any:
        """Send ``request`` and return its answer, or raise its exception. With the lock held."""
        if self.broken:
            raise ValidationProcessDied("the validation process was abandoned after an interrupted call")
        try:
            self.requests.write(request)
            self.requests.flush()
            self._ready(wait=True)
            ok, value, self.settling = pickle.load(self.responses)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            self.broken = True
            code = self.process.poll()
            raise ValidationProcessDied(
                f"the validation process died during {name} (exit status {code}): {exc!r}") from None
        except BaseException:
            self.broken = True   # interrupted mid-exchange: its answer would be taken for the next call's
            raise
        if ok:
            return value
        exc, remote = value
        exc.__cause__ = RemoteTraceback(remote)
        raise exc

    def settle(self) -> None:
        """Wait until the work its last call left for after its answer is done."""
        if self.settling and not self.broken:
            self.call(f"{__name__}:{_settled.__qualname__}")

    def stop(self, wait: bool = True) -> None:
        for stream in (self.requests, self.responses):
            try:
                stream.close()
            except OSError:
                pass
        # idle, or still importing GX: nothing to finish, so no need to wait for a clean exit
        self.process.terminate()
        if not wait:
            return
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# In the validation process: work a stage left for after its answer (after_reply).
_AFTER_REPLY: list[tuple[Callable, tuple]] = []
_SERVING = False


def after_reply(fn: Callable, *args: Any) -> None:
    """In the validation process, ``fn(*args)`` once the current stage has answered, so the run
    goes on meanwhile (its next call, or ``settle_validation_process``, waits for it); anywhere
    else, now. An exception it raises is logged, not raised: the stage has answered."""
    if _SERVING:
        _AFTER_REPLY.append((fn, args))
    else:
        fn(*args)


def _settled() -> None:
    """The call ``settle`` makes: answered once the work before it is done."""


def _run_after_reply() -> None:
    while _AFTER_REPLY:
        fn, args = _AFTER_REPLY.pop(0)
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - nobody is waiting for it to raise
            logging.getLogger("zonefacts.validation").exception("after the stage's answer, %s failed",
                                                                getattr(fn, "__qualname__", fn))


SERVED_STAGES = "flows.validation"
# The process's first message, once GX is imported: until then a call would wait for the import.
READY = "ready"


def _serve(request_fd: int, response_fd: int) -> None:
    """The validation process: import GX, then answer requests until the pipe closes."""
    global _SERVING
    _SERVING = True
    requests, responses = os.fdopen(request_fd, "rb"), os.fdopen(response_fd, "wb")
    # Ctrl-C reaches the whole process group: the run decides, and stops this process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collector.pause()
    try:
        from expectations.gx_import import ABSENT_FOR_GX, hide

        hide(ABSENT_FOR_GX)   # this process never imports Prefect, the one user of SQLAlchemy
        # the stages this process serves, imported now rather than at the first request; by name,
        # because they are the client of this module, not a part of it
        importlib.import_module(SERVED_STAGES)
        from expectations.suites import warm_up

        warm_up()
    except Exception:  # noqa: BLE001 - the first stage raises it, with its traceback
        pass
    collector.freeze_imports()
    try:
        responses.write(pickle.dumps(READY))
        responses.flush()
    except OSError:
        os._exit(0)   # the run is over (or died) before this process was ready
    while True:
        try:
            name, args = pickle.load(requests)
        except EOFError:
            os._exit(0)   # the run is over (or died); nothing here to tear down
        try:
            module, _, qualname = name.partition(":")
            fn = importlib.import_module(module)
            for part in qualname.split("."):
                fn = getattr(fn, part)
            reply = pickle.dumps((True, fn(*args), bool(_AFTER_REPLY)), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # noqa: BLE001 - sent back and raised in the run
            remote = traceback.format_exc()
            try:
                reply = pickle.dumps((False, (exc, remote), bool(_AFTER_REPLY)), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - an exception that does not pickle travels as text
                reply = pickle.dumps((False, (RuntimeError(f"{type(exc).__name__}: {exc}"), remote),
                                      bool(_AFTER_REPLY)))
        try:
            responses.write(reply)
            responses.flush()
        except OSError:
            os._exit(0)   # the run died while this answered it
        _run_after_reply()


_LOCK = threading.Lock()
_PROCESS: _ValidationProcess | None = None


def start_validation_process() -> None:
    """Start the validation process and have it import GX now; a no-op when it runs already
    (one per process, reused by every later run: ``zonefacts serve`` pays the import once)."""
    global _PROCESS
    if not _ENABLED:
        return
    with _LOCK:
        if _PROCESS is not None:
            return
        lifeline.hold()   # it dies with this process, killed or not
        try:
            _PROCESS = _ValidationProcess()
        except OSError as exc:   # no process to be had (fd or process limits): validate here
            sys.stderr.write(f"zonefacts: could not start the validation process ({exc}); validating in this one\n")


def stop_validation_process(wait: bool = True) -> None:
    """Stop it now, even mid-import (a run that exits early must not wait ~6 s for GX)."""
    global _PROCESS
    with _LOCK:
        process, _PROCESS = _PROCESS, None
    if process is not None:
        process.stop(wait=wait)


_SETTLE_LATER = False


@contextmanager
def settling_after() -> Iterator[None]:
    """Runs inside leave the wait for their after-reply work (the Data Docs) to the end of the
    block, so that it overlaps what follows the run there: the CLI's flow teardown."""
    global _SETTLE_LATER
    _SETTLE_LATER = True
    try:
        yield
    finally:
        _SETTLE_LATER = False
        settle_validation_process()


def settle_validation_process(at_end_of_run: bool = False) -> None:
    """Wait until the validation process has done the work its last stage left for after its
    answer (the run's Data Docs). ``at_end_of_run``: not inside ``settling_after``."""
    if at_end_of_run and _SETTLE_LATER:
        return
    with _LOCK:
        process = _PROCESS
    if process is None:
        return
    try:
        process.settle()
    except ValidationProcessDied as exc:
        sys.stderr.write(f"zonefacts: {exc}\n")
    finally:
        _forget_if_broken(process)


def _at_exit() -> None:
    settle_validation_process()
    # then not waiting for it: a process of a GB takes ~0.2 s to be torn down
    stop_validation_process(wait=False)


atexit.register(_at_exit)


def run_in_validation_process(fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` in the validation process when it is started, else here. ``fn`` must be a
    module-level function; its arguments and result travel as pickles."""
    with _LOCK:
        process = _PROCESS
    if process is None:
        return fn(*args)
    try:
        return process.call(f"{fn.__module__}:{fn.__qualname__}", *args)
    finally:
        _forget_if_broken(process)


def run_in_validation_process_if_idle(fn: Callable, *args: Any) -> tuple | None:
    """``(fn(*args),)`` run in the validation process if it is started and idle (done importing
    GX, serving no other call); None at once otherwise, and the caller runs ``fn`` itself.

    For CPU-bound work the run can hand off: that process has a GIL of its own, and it sits idle
    while the run extracts, between its GX import and its validations. ``fn`` must be a
    module-level function; its arguments and result travel as pickles."""
    with _LOCK:
        process = _PROCESS
    if process is None:
        return None
    try:
        return process.call_if_idle(f"{fn.__module__}:{fn.__qualname__}", *args)
    finally:
        _forget_if_broken(process)


def _forget_if_broken(process: _ValidationProcess) -> None:
    """A broken process is stopped and forgotten: the next run (serve) starts a fresh one."""
    global _PROCESS
    if process.broken:
        with _LOCK:
            if _PROCESS is process:
                _PROCESS = None
        process.stop()
