"""Keep Python's cyclic garbage collector from dominating large batches.

CPython runs a collection of its youngest generation every 700 net new container objects, an
older one every ten of those, and a full one, which visits every object of the process,
whenever the objects promoted since the last full collection reach a quarter of the rest.
Building a 100,000-node graph or keeping 10,000 outcomes of one search step alive creates
millions of objects that all survive: collections then find nothing to free, yet the full
ones visit ever more memory, out of the CPU caches, and set-up cost per node triples.

:func:`large_batch` raises the youngest generation's threshold while a large batch is built
or processed, so there are about a hundred times fewer collections, and restores it after.
Collection still happens (garbage cycles are freed, a little later), which is why this uses
thresholds rather than :func:`gc.disable` or :func:`gc.freeze`: a batch that awaits model
calls lets other code run meanwhile, and :func:`gc.freeze` would also undo a user's own
freeze (done before forking, to spare copy-on-write) when it unfreezes.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Generator
from contextlib import contextmanager

LARGE_BATCH = 2_000
"""Batches smaller than this leave the collector alone: its cost only shows above."""
YOUNG_THRESHOLD = 100_000
"""The youngest generation's threshold during a large batch (CPython's default is 700)."""

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, ...] | None = None
"""The thresholds to restore, while a batch has raised them."""
_raised: tuple[int, ...] | None = None


@contextmanager
def large_batch(size: int) -> Generator[None]:
    """Fewer garbage collections while a batch of ``size`` items (nodes, calls, outcomes) is
    built or processed, if ``size`` is at least :data:`LARGE_BATCH`.

    Safe to nest and to enter from concurrent tasks or threads: the first to enter raises
    the threshold and the last to leave restores it, also when the body raises. A threshold
    of 0 (collection switched off by the user) is left as it is, and so is a threshold the
    user changed while the batch ran.
    """
    if size < LARGE_BATCH:
        yield
        return
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _depth, _saved, _raised
    with _lock:
        _depth += 1
        if _depth > 1:
            return
        current = gc.get_threshold()
        if current[0] == 0 or current[0] >= YOUNG_THRESHOLD:
            return
        _saved = current
        _raised = (YOUNG_THRESHOLD, *current[1:])
        gc.set_threshold(*_raised)


def _leave() -> None:
    global _depth, _saved, _raised
    with _lock:
        _depth -= 1
        if _depth > 0 or _saved is None:
            return
        if gc.get_threshold() == _raised:
            gc.set_threshold(*_saved)
        _saved = _raised = None
