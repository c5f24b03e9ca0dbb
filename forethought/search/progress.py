"""What a search reports about itself while it runs: its best candidate so far.

Step machines do no I/O and hold no run context, so a strategy cannot emit events. But the
driver runs every step of a machine inside ``machine.send()`` on its own task, so a context
variable set by :func:`~forethought.search.machine.drive` is visible to the strategy's code:
:class:`~forethought.search.ops.SearchLog` notes each scored candidate in the driver's
:class:`SearchProgress`, and the driver puts the figures into its
:class:`~forethought.runtime.events.StrategyStep` events (a live view shows them). Outside a
driver (a machine fed outcomes by hand in a test) there is no record and noting costs nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(kw_only=True)
class SearchProgress:
    """The figures of the search being driven."""

    candidates: int = 0
    """Final candidates recorded so far (distinct solutions)."""
    best_score: float | None = None
    """The highest score among them (``None``: none scored yet)."""
    best_answer: str | None = None
    """The answer of that candidate."""

    def note(self, *, candidates: int, score: float | None, answer: str | None) -> None:
        """Record that there are ``candidates`` now, one of them just scored ``score``."""
        self.candidates = candidates
        if score is not None and (self.best_score is None or score > self.best_score):
            self.best_score, self.best_answer = score, answer


_CURRENT: ContextVar[SearchProgress | None] = ContextVar("forethought_search_progress",
                                                        default=None)


def current_progress() -> SearchProgress | None:
    """The progress record of the search this code runs in (``None`` outside a driver)."""
    return _CURRENT.get()


@contextmanager
def tracking() -> Generator[SearchProgress, None, None]:
    """A fresh progress record, current until the block ends (a nested search gets its own)."""
    progress = SearchProgress()
    token = _CURRENT.set(progress)
    try:
        yield progress
    finally:
        _CURRENT.reset(token)
