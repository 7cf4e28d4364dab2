"""Child processes die with the process that started them, however it dies.

No signal reaches a child when its parent is killed: after `kill -9` of `zonefacts run`, Prefect's
temporary server (uvicorn, ~220 MB), the validation process and any Dask worker live on under
PID 1, as does the Prefect server of a killed `zonefacts serve`. PR_SET_PDEATHSIG does not fit:
it must be set in the child (Prefect starts its server itself) and fires when the parent
*thread* that forked exits, not the process.

So a process that starts children calls ``hold()`` first (once; later calls do nothing):

- its environment gets a token in ``_ZONEFACTS_LIFELINE`` (a space-separated list: a zonefacts
  process started by another adds its own), which every process started from then on inherits,
  and their children in turn;
- a reaper starts: this file as a script (``python -I -S``, standard library only, ~15 ms), in
  a session of its own, blocked reading a pipe whose only writer is the holder. When the holder
  ends, normally or by SIGKILL, the kernel closes the pipe; the reaper reads end-of-file,
  SIGKILLs every process whose environment carries the token, and exits.

At a normal exit the holder has already stopped its children (their own atexit handlers);
the reaper then finds nothing, or what was still shutting down.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time

ENV = "_ZONEFACTS_LIFELINE"
_PASSES = 5          # a child may start another between a scan and the kills: scan again

_lock = threading.Lock()
_writer: int | None = None          # the holder's end of the pipe; closed only by its death
_reaper: subprocess.Popen | None = None


def hold() -> None:
    """Make every child started from now on die with this process (see the module docstring)."""
    global _writer, _reaper
    with _lock:
        if _writer is not None:
            return
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        read_end, write_end = os.pipe()   # not inheritable: no other child holds the writer
        try:
            _reaper = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__), str(read_end), token],
                pass_fds=(read_end,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:   # no process to be had: children may then outlive a killed run
            os.close(write_end)
            sys.stderr.write(f"zonefacts: could not start the reaper of child processes ({exc})\n")
            return
        finally:
            os.close(read_end)
        _writer = write_end
        os.environ[ENV] = " ".join(filter(None, (os.environ.get(ENV), token)))


def _forget_in_forked_child() -> None:
    """A child forked without exec must not keep its parent's lifeline open past the parent."""
    global _writer, _reaper
    if _writer is not None:
        os.close(_writer)
    _writer, _reaper = None, None


os.register_at_fork(after_in_child=_forget_in_forked_child)


# --------------------------------------------------------------------------- the reaper


def _carries(pid: int, token: bytes) -> bool:
    """Whether the environment ``pid`` was started with lists ``token`` (False when unreadable:
    gone, a zombie, or another user's)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            environ = fh.read()
    except OSError:
        return False
    prefix = ENV.encode() + b"="
    return any(entry.startswith(prefix) and token in entry[len(prefix):].split(b" ")
               for entry in environ.split(b"\0"))


def _reap(fd: int, token: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.read(fd, 4096):      # nothing is ever written: this returns b"" when the holder is gone
        pass
    me, marked = os.getpid(), token.encode()
    for _ in range(_PASSES):
        # a pid is reused only once the pid space wraps, far slower than a scan and its kills
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != me]
        found = [pid for pid in pids if _carries(pid, marked)]
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


if __name__ == "__main__":
    _reap(int(sys.argv[1]), sys.argv[2])
