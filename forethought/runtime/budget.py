"""Budgets: limits on tokens, dollars, seconds and model calls, enforced before each call."""

from __future__ import annotations

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
    """Wall time since the run started."""
    max_model_calls: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_tokens", "max_cost_usd", "max_seconds", "max_model_calls"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise UserError(f"Budget.{name} must be >= 0, got {value!r}")


@dataclass(kw_only=True)
class BudgetTracker:
    """Accounts for one run's spending against its :class:`Budget`.

    :meth:`reserve` is called before every model call and raises :class:`BudgetExceeded` once a
    limit is reached. Model calls are counted when they start, so ``max_model_calls`` is exact;
    tokens and cost are known only when a call returns, so they can be overrun by at most the
    calls already in flight when the limit was reached, and never by a call started after.
    """

    budget: Budget = field(default_factory=Budget)
    clock: Callable[[], float] = time.monotonic
    spent: Usage = field(default_factory=Usage)
    """Usage of the calls that have returned."""
    started_calls: int = 0
    in_flight: int = 0
    started_at: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started_at = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started_at

    def exhausted(self) -> str | None:
        """The reason no further call may start, or ``None`` while within budget."""
        b = self.budget
        if b.max_model_calls is not None and self.started_calls >= b.max_model_calls:
            return f"model calls {self.started_calls} >= limit {b.max_model_calls}"
        if b.max_tokens is not None and self.spent.total_tokens >= b.max_tokens:
            return f"tokens {self.spent.total_tokens} >= limit {b.max_tokens}"
        if b.max_cost_usd is not None and self.spent.cost_usd >= b.max_cost_usd:
            return f"cost ${self.spent.cost_usd:.4f} >= limit ${b.max_cost_usd:.4f}"
        if b.max_seconds is not None and self.elapsed() >= b.max_seconds:
            return f"elapsed {self.elapsed():.2f}s >= limit {b.max_seconds}s"
        return None

    def reserve(self) -> None:
        """Claim one model call, or raise :class:`BudgetExceeded`."""
        reason = self.exhausted()
        if reason is not None:
            raise BudgetExceeded(reason)
        self.started_calls += 1
        self.in_flight += 1

    def settle(self, usage: Usage | None) -> None:
        """Record a finished call (``None`` if it failed without a usage report)."""
        self.in_flight -= 1
        if usage is not None:
            self.spent.add(usage)
