"""Running a session: a backend runs the instances, and each result is committed the moment
it arrives, then shown.

The dataset's budget is one :class:`~forethought.runtime.budget.BudgetTracker` that every
instance's tracker reports to (its ``parent``), so its caps are admitted at dispatch across all
instances in flight. It starts from what earlier sessions spent; once it is spent no further
instance starts, and an instance refused before it made any call stays to do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from forethought.eval.datasets import Instance
from forethought.eval.results import InstanceResult, Tally
from forethought.eval.resume import Session
from forethought.models.messages import Usage
from forethought.runtime.budget import BudgetTracker

OnResult = Callable[[InstanceResult], None]


class Backend(ABC):
    """Runs instances somewhere (this process, a Ray cluster) and hands back each result."""

    name: str

    @abstractmethod
    async def run(self, session: Session, instances: Sequence[Instance], on_result: OnResult,
                  dataset_budget: BudgetTracker) -> None:
        """Run ``instances``, calling ``on_result`` once for each one that finished (not for
        an instance the dataset budget refused before it started).
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the backend started."""


class Sink(Protocol):
    """Shows progress: a live display, JSON lines."""

    def start(self, session: Session, tally: Tally) -> None: ...

    def finished(self, result: InstanceResult) -> None: ...

    def close(self) -> None: ...


@dataclass(kw_only=True)
class SessionOutcome:
    ran: int
    """Instances finished in this session."""
    not_run: int
    """Pending instances that did not run (the dataset budget was spent)."""
    budget_stop: str | None
    """Why the dataset budget stopped the eval, if it did."""
    tally: Tally
    """Totals over every finished instance of the eval."""


def dataset_tracker(session: Session) -> BudgetTracker:
    """The dataset's budget, charged with what earlier sessions' kept results spent."""
    tracker = BudgetTracker(budget=session.spec.budget.to_budget(), name="dataset")
    for r in session.previous:
        tracker.spent.add(Usage(prompt_tokens=r.usage.prompt_tokens,
                                completion_tokens=r.usage.completion_tokens,
                                cost_usd=r.usage.cost_usd, model_calls=r.usage.model_calls))
    tracker.started_calls = tracker.spent.model_calls
    return tracker


async def run_session(session: Session, backend: Backend, sinks: Sequence[Sink]
                      ) -> SessionOutcome:
    """Run the session's pending instances; every result is in the store before any sink
    sees it.
    """
    tally = Tally()
    for r in session.previous:
        tally.add(r)
    for sink in sinks:
        sink.start(session, tally)
    ran = 0

    def on_result(result: InstanceResult) -> None:
        nonlocal ran
        session.store.record(session.eval_id, result)
        ran += 1
        tally.add(result)
        for sink in sinks:
            sink.finished(result)

    tracker = dataset_tracker(session)
    try:
        await backend.run(session, session.pending, on_result, tracker)
    finally:
        for sink in sinks:
            sink.close()
    return SessionOutcome(ran=ran, not_run=len(session.pending) - ran,
                          budget_stop=tracker.refused or tracker.exhausted(), tally=tally)
