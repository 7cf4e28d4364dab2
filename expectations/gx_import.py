"""Importing Great Expectations without the modules zonefacts never calls into.

``import great_expectations`` imports every core expectation, and one of them (KL divergence)
imports ``scipy.stats`` and ``altair`` at module level for its statistics and charts: ~2 s of
the ~6 s import, for code no zonefacts suite runs. Those modules stand in as
``DeferredModule`` until an attribute of theirs is first read, which imports the real one.

SQLAlchemy is an optional dependency of GX (its SQL data sources), installed here for Prefect.
The validation process, which never imports Prefect, hides it (``hide(ABSENT_FOR_GX)``) and GX
imports as it does where SQLAlchemy is not installed: ~0.45 s less CPU while the run extracts.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import Any

# Imported by GX at its own import, used only by expectations and renderers zonefacts does not use.
DEFERRED_BY_GX = ("scipy.stats", "altair")
# Optional for GX, used only by its SQL data sources; zonefacts validates pandas frames.
ABSENT_FOR_GX = ("sqlalchemy",)


class DeferredModule(types.ModuleType):
    """Stands in for the module ``name`` in ``sys.modules``; the first attribute read imports
    the real module, puts it in ``sys.modules`` and reads the attribute from it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        # no spec: the import system then treats it as a loaded module, not one being imported
        self.__spec__ = None

    def __getattr__(self, attribute: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attribute)


def defer(names: tuple[str, ...]) -> None:
    """Stand in for each of ``names`` not imported yet."""
    for name in names:
        sys.modules.setdefault(name, DeferredModule(name))


def hide(names: tuple[str, ...]) -> None:
    """Make ``import name`` raise ImportError in this process, for each of ``names`` not imported
    yet: code that treats the module as optional then runs as if it were not installed."""
    for name in names:
        if name not in sys.modules:
            sys.modules[name] = None  # the import system's mark for "not importable"


def hidden() -> list[str]:
    """The module names marked unimportable in this process (``hide`` marks them)."""
    return sorted(name for name, module in sys.modules.items() if module is None)


def import_gx() -> types.ModuleType:
    """``great_expectations``, imported with ``DEFERRED_BY_GX`` standing in if it is not imported yet."""
    if "great_expectations" not in sys.modules:
        defer(DEFERRED_BY_GX)
    import great_expectations

    return great_expectations
