"""Search algorithms as sans-I/O step machines, and the driver that runs them.

A strategy is written as a generator that *yields* a batch of actions (model samples, tool
calls, exact computations) and *receives* their outcomes, in order; it finally *returns* its
result. It never awaits anything itself. The driver owns all I/O: it runs each batch in
parallel through the :class:`~forethought.runtime.RunContext`, so every model call is budgeted
and observed, and a strategy can be unit-tested by feeding it outcomes by hand, without an event
loop (httpx's ``Auth.auth_flow`` is the model for this)::

    def steps(self, task):
        outcomes = yield [Sample(request=task.request, n=8)]
        texts = outcomes[0].value            # eight completions
        ...
        return StrategyResult(answer=..., candidates=...)

A machine that can use outcomes as they arrive yields commands instead (see
:mod:`forethought.search.protocol`): :class:`Launch` starts actions and returns their tickets
at once, :class:`Wait` receives outcomes as they complete (one by one or in small groups),
:class:`Cancel` stops what it no longer needs. It can launch more work while earlier work is
in flight, and stop without waiting for its slowest call::

    def steps(self, task):
        launched = yield from launch([Sample(request=task.request)] * 8)
        pending = set(launched.tickets)
        while pending:
            arrivals = yield from wait(pending)
            for a in arrivals.items:
                pending.discard(a.ticket)
                ...                           # decide, launch more...
            if decided:
                yield from cancel(pending)    # cancelled calls are still charged
                break

Both kinds of step mix freely in one machine, and machines compose with ``yield from``: a
planner can run a strategy for a sub-question inside its own machine.

Budgets: a call is admitted when it is dispatched; a refused one comes back as an outcome
with a :class:`BudgetExceeded` error, and the strategy should return its best answer so far
with ``partial=True``. A machine that yields a batch or launches again after receiving a
refusal gets :class:`BudgetExceeded` thrown into it (it may still wait for and cancel what is
in flight). Whatever is still in flight when a machine returns or fails is cancelled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from forethought.exceptions import BudgetExceeded
from forethought.models.messages import ModelSettings
from forethought.runtime.collector import large_batch
from forethought.runtime.context import RunContext
from forethought.runtime.events import StrategyStep
from forethought.search.flight import Flight, calls_in, execute, run_batch
from forethought.search.offline import Latency, run_offline
from forethought.search.progress import SearchProgress, tracking
from forethought.search.protocol import (
    Action,
    Arrival,
    Arrivals,
    CallTool,
    Cancel,
    Command,
    Compute,
    Flow,
    Invoke,
    Launch,
    Launched,
    Outcome,
    Sample,
    StepMachine,
    Wait,
    Yielded,
    budget_hit,
    cancel,
    launch,
    merge,
    wait,
)

__all__ = [
    "DETERMINISTIC", "Action", "Arrival", "Arrivals", "CallTool", "Cancel", "Command",
    "Compute", "Flow", "Invoke", "Latency", "Launch", "Launched", "Outcome", "Sample",
    "StepMachine", "Wait", "Yielded", "budget_hit", "cancel", "drive", "execute", "launch",
    "merge", "run_offline", "wait",
]


class _Progress:
    """The :class:`StrategyStep` events of one search: one per batch, and one per group of
    arrivals of a streaming machine (what arrived, by tag), only while someone listens. Each
    is emitted after the machine has read the outcomes, so it carries the candidates and the
    best score the strategy has noted by then (``search``).
    """

    def __init__(self, ctx: RunContext, node_id: str | None, search: SearchProgress) -> None:
        self._ctx = ctx
        self._node_id = node_id
        self._search = search
        self._steps = 0
        self._tags: dict[int, str] = {}  # launched tickets' tags, while events are listened to

    def launched(self, tickets: range, actions: Sequence[Action]) -> None:
        if self._ctx.events.active:
            self._tags.update(zip(tickets, (a.tag for a in actions), strict=True))

    def cancelled(self, tickets: Iterable[int]) -> None:
        for t in tickets:
            self._tags.pop(t, None)

    def ran(self, tags: Iterable[str], outcomes: Sequence[Outcome], budget_hit: bool) -> None:
        self._steps += 1
        if self._ctx.events.active:
            search = self._search
            self._ctx.events.emit(StrategyStep(
                node_id=self._node_id, step=self._steps, actions=dict(Counter(tags)),
                failed=sum(not o.ok for o in outcomes), budget_hit=budget_hit,
                candidates=search.candidates, best_score=search.best_score,
                best_answer=search.best_answer))

    def arrived(self, arrivals: Arrivals, budget_hit: bool) -> None:
        if not arrivals.items:
            return
        tags = [self._tags.pop(a.ticket, "") for a in arrivals.items]
        self.ran(tags, [a.outcome for a in arrivals.items], budget_hit)


async def drive(ctx: RunContext, machine: StepMachine, *, node_id: str | None = None) -> Any:
    """Run ``machine`` to completion: each yielded batch runs in parallel and its outcomes are
    sent back in order; commands are carried out as they come; the machine's return value is
    returned.
    """
    with tracking() as search:
        return await _drive(ctx, machine, node_id, _Progress(ctx, node_id, search))


async def _drive(ctx: RunContext, machine: StepMachine, node_id: str | None,
                 progress: _Progress) -> Any:
    flight: Flight | None = None
    exhausted = False
    try:
        step: Yielded = next(machine)
        while True:
            if exhausted and isinstance(step, list | Launch):
                step = machine.throw(BudgetExceeded(
                    ctx.budget.exhausted() or "budget spent earlier in this search"))
                continue
            if isinstance(step, list):
                # Thousands of calls per step keep tens of thousands of objects alive: with
                # the collector's default thresholds, its full passes over them would cost
                # more than the strategy's own work (see forethought/runtime/collector.py).
                with large_batch(calls_in(step)):
                    outcomes = await run_batch(ctx, step, node_id)
                    exhausted = budget_hit(outcomes)
                    batch = step
                    try:
                        step = machine.send(outcomes)
                    finally:  # after send(): the strategy has scored what the batch brought
                        progress.ran((a.tag for a in batch), outcomes, exhausted)
                continue
            if flight is None:
                flight = Flight(ctx, node_id)
            if isinstance(step, Launch):
                launched = flight.launch(step.actions)
                progress.launched(launched.tickets, step.actions)
                step = machine.send(launched)
            elif isinstance(step, Wait):
                arrivals = await flight.wait(step)
                exhausted = exhausted or arrivals.budget_hit
                try:
                    step = machine.send(arrivals)
                finally:
                    progress.arrived(arrivals, exhausted)
            elif isinstance(step, Cancel):  # pyright: ignore[reportUnnecessaryIsInstance]
                progress.cancelled(step.tickets)
                step = machine.send(await flight.cancel(step.tickets))
            else:
                raise TypeError(f"a step machine yielded {step!r}: a list of actions, "
                                f"Launch, Wait or Cancel were expected")
    except StopIteration as stop:
        return stop.value
    finally:
        machine.close()
        if flight is not None:
            await flight.close()


DETERMINISTIC = ModelSettings(temperature=0.0)
