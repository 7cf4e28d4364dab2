"""The garbage collector of a run's processes, tuned to what they allocate (performance machinery:
bench/README.md, "The garbage collector").

CPython collects its youngest generation every 700 net allocations and, one time in a hundred,
traverses every object alive, the hundreds of thousands that importing Prefect, Polars and GX
leaves for the life of the process included. A run allocates in bursts of short-lived objects
that reference counting frees (the extractor's Python steps, GX's and Prefect's pydantic models),
so those collections find almost nothing, on CPU that both cores need.

``relax`` collects the youngest generation less often; the older generations keep their ratios
to it, so cyclic garbage is still collected, later. ``freeze_imports`` moves what exists once
the process has imported its modules into the permanent generation, which no collection
traverses again, and collects again if collection was paused while it imported (the
validation process, which always reaches that point). Standard library only: the validation
process calls these before it imports anything.
"""
from __future__ import annotations

import gc

# net allocations between two collections of the youngest generation (CPython's default: 700)
YOUNG_COLLECTION_EVERY = 20_000

_tuned = False     # this process's entry point tuned its collector: it is a zonefacts process
_frozen = False


def relax() -> None:
    """Collect the youngest generation every ``YOUNG_COLLECTION_EVERY`` net allocations (the
    entry point of a zonefacts process calls this, or ``pause``, first)."""
    global _tuned
    _tuned = True
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, oldest)


def pause() -> None:
    """No collection until ``freeze_imports``: for a process that always reaches it."""
    global _tuned
    _tuned = True
    gc.disable()


def freeze_imports() -> None:
    """Leave everything alive now out of every later collection, then collect as ``relax`` says;
    the freeze once per process, after its imports (a long-lived process, ``zonefacts serve``,
    must not freeze what its runs leave). Nothing in a process whose entry point is not
    zonefacts' (a program calling ``flows.cli.main``): its heap is not ours to freeze."""
    global _frozen
    if not _tuned:
        return
    if not _frozen:
        gc.freeze()
        _frozen = True
    relax()
    gc.enable()
