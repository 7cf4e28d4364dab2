"""The fault tests' hook: a stage listener (``flows.stages.STAGE_LISTENERS``) that raises, or
SIGKILLs its own process, when the run reaches a given stage.

``"load"`` → raise at that stage; ``"kill:load"`` → SIGKILL the process there. The load's
fault strikes inside its transaction, once every row (the run's own included) is inserted and
nothing is committed: the run's ``"commit"`` event. Every other stage's strikes as it begins.

In this process: ``with injected("load"): run_pipeline(...)``. In a child process (a
``zonefacts run`` or ``python -c``): ``PYTHONPATH=<this folder>`` and ``FAULT_HOOK_AT=<spec>``
in its environment; ``sitecustomize`` here installs the hook before the program starts.
Production code never imports this.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ENV = "FAULT_HOOK_AT"
FOLDER = Path(__file__).resolve().parent

# the event at which a stage's fault strikes, where it is not the stage's own beginning
_EVENT = {"load": "commit"}


class InjectedFault(RuntimeError):
    """Raised at the stage a fault names."""


@dataclass(frozen=True)
class Fault:
    """``"load"`` → raise inside that stage; ``"kill:load"`` → SIGKILL this process there."""

    stage: str
    kill: bool = False

    @classmethod
    def parse(cls, spec: str | None) -> "Fault | None":
        from flows.stages import STAGE_BY_NAME

        if not spec:
            return None
        kill = spec.startswith("kill:")
        stage = spec.removeprefix("kill:")
        if stage not in STAGE_BY_NAME:
            raise ValueError(f"unknown fault stage {stage!r}; expected one of {', '.join(STAGE_BY_NAME)}")
        return cls(stage, kill)

    def __call__(self, event: str) -> None:
        if event != _EVENT.get(self.stage, self.stage):
            return
        if self.kill:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.stage == "load":
            raise InjectedFault("injected failure after loading observations, before the load's commit")
        raise InjectedFault(f"injected failure at stage {self.stage!r}")


@contextmanager
def injected(spec: str) -> Iterator[Fault]:
    """The fault ``spec`` listens to the runs of this process inside the block."""
    from flows.stages import STAGE_LISTENERS

    fault = Fault.parse(spec)
    STAGE_LISTENERS.append(fault)
    try:
        yield fault
    finally:
        STAGE_LISTENERS.remove(fault)


def install_from_environment() -> None:
    """Listen with the fault named by ``FAULT_HOOK_AT`` for the life of this process. The variable
    is removed, so the processes this one starts (the validation process, Prefect's server) run
    without the hook."""
    spec = os.environ.pop(ENV, None)
    if spec:
        from flows.stages import STAGE_LISTENERS

        STAGE_LISTENERS.append(Fault.parse(spec))


def environment(spec: str, env: dict[str, str]) -> dict[str, str]:
    """``env`` for a child process that runs with the fault ``spec`` installed."""
    path = os.pathsep.join(filter(None, (str(FOLDER), env.get("PYTHONPATH"))))
    return {**env, "PYTHONPATH": path, ENV: spec}
