"""Budgets: limits on tokens, dollars, seconds and model calls, enforced when a call is sent.

What is exact and what can be overrun (the README's "Budgets" section says the same):

- ``max_model_calls`` is exact: a call is counted when it is admitted, and refused once the
  count is reached.
- ``max_tokens`` and ``max_cost_usd`` are enforced with reservations. A call is admitted at the
  moment it is sent (after the model's own queue, see :mod:`forethought.models.admission`) and
  reserves its worst case: its prompt tokens plus ``max_tokens`` per sample (or the model's
  ceiling), priced with the model's cost table. A call is admitted only if everything spent,
  everything reserved by calls still at the provider and its own worst case fit under the cap;
  otherwise it waits for calls in flight to return (their reservations then shrink to what they
  really used). When nothing is in flight and the call still does not fit, it goes out alone if
  the cap is not yet reached: that single call is the only way past the cap, by at most its own
  usage. So a cap is never overrun by more than the calls at the provider when it was reached,
  and not at all while every call stays within its worst case.
- ``max_seconds`` is a deadline: the run context cancels model and tool calls in flight when it
  passes, and refuses new ones.

Budgets nest: a tracker may have a ``parent`` (a dataset's budget over the runs of its
instances, which run at the same time). A call is admitted only when it fits under its own
caps and under every ancestor's, with the same rule at each level; its reservation and its
usage count in all of them. So a dataset cap is admitted at dispatch as exactly as a run's,
across every instance in flight, and the earliest deadline of the chain applies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from forethought.exceptions import BudgetExceeded, UserError
from forethought.models.messages import Usage


@dataclass(kw_only=True, frozen=True)
class Budget:
    """Limits for one run; ``None`` means unlimited."""

    max_tokens: int | None = None
    """Prompt plus completion tokens."""
    max_cost_usd: float | None = None
    max_seconds: float | None = None
    """Wall time since the run started: a deadline that cancels calls in flight."""
    max_model_calls: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_tokens", "max_cost_usd", "max_seconds", "max_model_calls"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise UserError(f"Budget.{name} must be >= 0, got {value!r}")


@dataclass(kw_only=True, slots=True)
class Reservation:
    """One admitted dispatch: the worst case held against the budget until it returns."""

    worst: Usage
    settled: bool = False


@dataclass(kw_only=True)
class BudgetTracker:
    """Accounts for one run's spending against its :class:`Budget` (see the module docs).

    :meth:`admit` is awaited when a call is sent and returns a :class:`Reservation`;
    :meth:`settle` reconciles it with the call's real usage when it returns.
    """

    budget: Budget = field(default_factory=Budget)
    clock: Callable[[], float] = time.monotonic
    spent: Usage = field(default_factory=Usage)
    """Usage of the calls that have returned."""
    reserved: Usage = field(default_factory=Usage)
    """Worst cases of the calls in flight."""
    started_calls: int = 0
    in_flight: int = 0
    started_at: float = field(default=0.0)
    refused: str | None = None
    """Why the first call was refused (or cancelled at the deadline); ``None`` if none was."""
    in_flight_at_cap: int | None = None
    """Calls in flight when a token or cost cap was first reached (for reports)."""
    parent: BudgetTracker | None = None
    """A tracker this one's calls also count against (a dataset's budget over its instances):
    a call must fit under both, and settles in both. Its overruns are its own: :meth:`over`
    reports this tracker's caps only."""
    name: str = ""
    """What this budget is called in the refusals of its children (``"dataset"``)."""
    _changed: asyncio.Event | None = None

    def __post_init__(self) -> None:
        self.started_at = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started_at

    def chain(self) -> list[BudgetTracker]:
        """This tracker, then its parent, its parent's parent..."""
        out: list[BudgetTracker] = []
        tracker: BudgetTracker | None = self
        while tracker is not None:
            out.append(tracker)
            tracker = tracker.parent
        return out

    def _own_remaining(self) -> float | None:
        if self.budget.max_seconds is None:
            return None
        return max(0.0, self.budget.max_seconds - self.elapsed())

    def remaining_seconds(self) -> float | None:
        """Seconds until the earliest deadline of the chain, ``None`` without one (never
        negative).
        """
        deadlines = [r for t in self.chain() if (r := t._own_remaining()) is not None]
        return min(deadlines) if deadlines else None

    def deadline_reason(self) -> str:
        """Why the deadline passed, naming the budget whose ``max_seconds`` it was (the
        earliest of the chain; at the instant of cancelling, the clock may not show it yet).
        """
        timed = [t for t in self.chain() if t.budget.max_seconds is not None] or [self]
        tracker = min(timed, key=lambda t: t._own_remaining() or 0.0)
        return tracker._labelled(
            f"elapsed {tracker.elapsed():.2f}s >= limit {tracker.budget.max_seconds}s")

    def _labelled(self, reason: str) -> str:
        return f"{self.name} budget: {reason}" if self.name else reason

    def exhausted(self) -> str | None:
        """The reason no further call may start (under this budget or an ancestor's), or
        ``None`` while within budget.
        """
        for tracker in self.chain():
            reason = tracker._own_exhausted()
            if reason is not None:
                return tracker._labelled(reason)
        return None

    def _own_exhausted(self) -> str | None:
        b = self.budget
        if b.max_model_calls is not None and self.started_calls >= b.max_model_calls:
            return f"model calls {self.started_calls} >= limit {b.max_model_calls}"
        if b.max_tokens is not None and self.spent.total_tokens >= b.max_tokens:
            return f"tokens {self.spent.total_tokens} >= limit {b.max_tokens}"
        if b.max_cost_usd is not None and self.spent.cost_usd >= b.max_cost_usd:
            return f"cost ${self.spent.cost_usd:.6f} >= limit ${b.max_cost_usd:.6f}"
        if b.max_seconds is not None and self.elapsed() >= b.max_seconds:
            return f"elapsed {self.elapsed():.2f}s >= limit {b.max_seconds}s"
        return None

    def over(self) -> str | None:
        """Which cap the spending went past (an in-flight overrun), or ``None``."""
        b = self.budget
        if b.max_tokens is not None and self.spent.total_tokens > b.max_tokens:
            return f"tokens {self.spent.total_tokens} > limit {b.max_tokens}"
        if b.max_cost_usd is not None and self.spent.cost_usd > b.max_cost_usd:
            return f"cost ${self.spent.cost_usd:.6f} > limit ${b.max_cost_usd:.6f}"
        return None

    def refuse(self, reason: str) -> BudgetExceeded:
        """Record a refusal (the first one is kept, here and by an ancestor whose cap it was)
        and return the error to raise.
        """
        if self.refused is None:
            self.refused = reason
        for ancestor in self.chain()[1:]:
            if ancestor.refused is None and ancestor._own_exhausted() is not None:
                ancestor.refused = reason
        return BudgetExceeded(reason)

    def check(self) -> None:
        """Raise :class:`BudgetExceeded` if no call may start now (no reservation made)."""
        reason = self.exhausted()
        if reason is not None:
            raise self.refuse(reason)

    def _fits(self, worst: Usage) -> bool:
        b = self.budget
        if b.max_tokens is not None and (self.spent.total_tokens + self.reserved.total_tokens
                                         + worst.total_tokens) > b.max_tokens:
            return False
        return not (b.max_cost_usd is not None and (
            self.spent.cost_usd + self.reserved.cost_usd + worst.cost_usd) > b.max_cost_usd)

    async def admit(self, worst: Usage) -> Reservation:
        """Admit a call whose worst case is ``worst``: at once if it fits under every cap,
        after calls in flight return if it does not, alone if nothing is in flight; or raise
        :class:`BudgetExceeded` once a cap is reached.
        """
        chain = self.chain()
        while True:
            self.check()
            # The same rule at every level: fits, or nothing of that level is in flight.
            blocking = next((t for t in chain if t.in_flight and not t._fits(worst)), None)
            if blocking is None:
                break
            if blocking._changed is None:
                blocking._changed = asyncio.Event()
            await blocking._changed.wait()
        for tracker in chain:
            tracker.started_calls += 1
            tracker.in_flight += 1
            tracker.reserved.add(worst)
        return Reservation(worst=worst)

    def settle(self, reservation: Reservation, usage: Usage | None) -> None:
        """Replace ``reservation`` by the call's real ``usage`` (``None``: nothing known), here
        and in every ancestor.
        """
        if reservation.settled:
            return
        reservation.settled = True
        for tracker in self.chain():
            tracker._settle_one(reservation.worst, usage)

    def _settle_one(self, worst: Usage, usage: Usage | None) -> None:
        self.in_flight -= 1
        _subtract(self.reserved, worst)
        if usage is not None:
            self.spent.add(usage)
            if self.in_flight_at_cap is None and self.over_or_at_cap():
                self.in_flight_at_cap = self.in_flight + 1
        if self._changed is not None:
            # Wake every waiter to re-check; a new event for the next round of waiting.
            self._changed.set()
            self._changed = None

    def over_or_at_cap(self) -> bool:
        b = self.budget
        return (b.max_tokens is not None and self.spent.total_tokens >= b.max_tokens) or (
            b.max_cost_usd is not None and self.spent.cost_usd >= b.max_cost_usd)


def _subtract(total: Usage, part: Usage) -> None:
    total.prompt_tokens -= part.prompt_tokens
    total.completion_tokens -= part.completion_tokens
    total.cost_usd = max(0.0, total.cost_usd - part.cost_usd)
    total.model_calls -= part.model_calls
