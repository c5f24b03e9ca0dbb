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

from typing import Any

from forethought.exceptions import BudgetExceeded
from forethought.models.messages import ModelSettings
from forethought.runtime.collector import large_batch
from forethought.runtime.context import RunContext
from forethought.search.flight import Flight, calls_in, execute, run_batch
from forethought.search.offline import Latency, run_offline
from forethought.search.protocol import (
    Action,
    Arrival,
    Arrivals,
    CallTool,
    Cancel,
    Command,
    Compute,
    Flow,
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
    "Compute", "Flow", "Latency", "Launch", "Launched", "Outcome", "Sample", "StepMachine",
    "Wait", "Yielded", "budget_hit", "cancel", "drive", "execute", "launch", "merge",
    "run_offline", "wait",
]


async def drive(ctx: RunContext, machine: StepMachine, *, node_id: str | None = None) -> Any:
    """Run ``machine`` to completion: each yielded batch runs in parallel and its outcomes are
    sent back in order; commands are carried out as they come; the machine's return value is
    returned.
    """
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
                    step = machine.send(outcomes)
                continue
            if flight is None:
                flight = Flight(ctx, node_id)
            if isinstance(step, Launch):
                step = machine.send(flight.launch(step.actions))
            elif isinstance(step, Wait):
                arrivals = await flight.wait(step)
                exhausted = exhausted or arrivals.budget_hit
                step = machine.send(arrivals)
            elif isinstance(step, Cancel):  # pyright: ignore[reportUnnecessaryIsInstance]
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
