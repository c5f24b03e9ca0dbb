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

Machines compose with ``yield from``: a planner can run a strategy for a sub-question inside its
own machine. When the budget runs out, the outcomes carry :class:`BudgetExceeded` errors; the
strategy should return its best answer so far with ``partial=True``. A machine that yields
again after that gets :class:`BudgetExceeded` thrown into it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias, cast

from forethought._threads import in_thread
from forethought.exceptions import BudgetExceeded, ForethoughtError
from forethought.models.messages import ModelRequest, ModelResponse, ModelSettings, Usage
from forethought.runtime.collector import large_batch
from forethought.runtime.context import RunContext
from forethought.runtime.events import StrategyStep


@dataclass(kw_only=True, frozen=True, slots=True)
class Sample:
    """Draw ``n`` independent completions of ``request`` (one model call each)."""

    request: ModelRequest
    n: int = 1
    tag: str = ""
    """What this sample is for (``propose``, ``value``, ``vote``...), for traces."""


@dataclass(kw_only=True, frozen=True, slots=True)
class CallTool:
    """Call a registered tool (an exact verifier, a calculator...)."""

    tool: str
    args: dict[str, Any] = field(default_factory=dict[str, Any])
    tag: str = ""


@dataclass(kw_only=True, frozen=True, slots=True)
class Compute:
    """Run exact Python work: ``fn()``, sync (in a worker thread) or async."""

    fn: Callable[[], Any]
    tag: str = ""


@dataclass(kw_only=True, frozen=True, slots=True)
class Invoke:
    """Run async work that needs the run context: ``await fn(ctx)``. For agents whose work
    is a short conversation of its own (a structured reply with a repair turn, formal checks
    that call sandboxed tools, then a model judgement), so every call inside is still budgeted
    and observed through ``ctx``.
    """

    fn: Callable[[RunContext], Awaitable[Any]]
    tag: str = ""


Action: TypeAlias = Sample | CallTool | Compute | Invoke


@dataclass(kw_only=True, frozen=True, slots=True)
class Outcome:
    """What an action produced: ``value`` (a list of texts for a :class:`Sample`, the output
    otherwise) or the ``error`` that stopped it.
    """

    value: Any = None
    error: BaseException | None = None
    usage: Usage | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def budget_exceeded(self) -> bool:
        return isinstance(self.error, BudgetExceeded)

    @property
    def texts(self) -> list[str]:
        """The completions of a :class:`Sample` (those drawn before any failure)."""
        value: object = self.value
        if not isinstance(value, list):
            return []
        return [str(v) for v in cast(list[object], value)]


StepMachine: TypeAlias = Generator[list[Action], list[Outcome], Any]
"""Yields batches of actions, receives their outcomes, returns the machine's result."""


def budget_hit(outcomes: list[Outcome]) -> bool:
    """Whether any outcome of a batch was refused for lack of budget."""
    return any(o.budget_exceeded for o in outcomes)


def _one_per_call(request: ModelRequest) -> ModelRequest:
    """``request`` asking for one completion: a Sample of n is n calls."""
    if request.settings.n != 1:
        return replace(request, settings=replace(request.settings, n=1))
    return request


def _fold(results: Sequence[ModelResponse | BaseException]) -> Outcome:
    """One Sample's outcome from its calls' results, in order."""
    texts: list[str] = []
    usage = Usage()
    error: BaseException | None = None
    for r in results:
        if isinstance(r, BaseException):
            # Budget refusals matter most to the strategy; keep one if there is one.
            if error is None or isinstance(r, BudgetExceeded):
                error = r
            continue
        texts.extend(r.texts)
        usage.add(r.usage)
    if isinstance(error, asyncio.CancelledError):
        raise error
    if error is not None and not isinstance(error, Exception):
        raise error
    return Outcome(value=texts, error=error, usage=usage)


async def _sample(ctx: RunContext, action: Sample, node_id: str | None) -> Outcome:
    request = _one_per_call(action.request)
    calls = [ctx.complete(request, node_id=node_id) for _ in range(action.n)]
    return _fold(await asyncio.gather(*calls, return_exceptions=True))


async def _call(fn: Callable[[], Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn()
    result = await in_thread(fn)
    if inspect.isawaitable(result):
        return await result
    return result


async def execute(ctx: RunContext, action: Action, *, node_id: str | None = None) -> Outcome:
    """Run one action through ``ctx``; failures become the outcome's ``error``."""
    if isinstance(action, Sample):
        return await _sample(ctx, action, node_id)
    try:
        if isinstance(action, CallTool):
            return Outcome(value=await ctx.call_tool(action.tool, action.args, node_id=node_id))
        if isinstance(action, Invoke):
            async with ctx.deadline():
                return Outcome(value=await action.fn(ctx))
        awaited: Awaitable[Any] = _call(action.fn)
        async with ctx.deadline():  # a thread cannot be stopped, but the search moves on
            return Outcome(value=await awaited)
    except (ForethoughtError, Exception) as exc:  # noqa: BLE001 - the strategy decides
        return Outcome(error=exc)


async def drive(ctx: RunContext, machine: StepMachine, *, node_id: str | None = None) -> Any:
    """Run ``machine`` to completion: each yielded batch runs in parallel, its outcomes are
    sent back in order, and the machine's return value is returned.
    """
    exhausted = False
    steps = 0
    try:
        batch = next(machine)
        while True:
            if exhausted:
                batch = machine.throw(BudgetExceeded(
                    ctx.budget.exhausted() or "budget spent earlier in this search"))
                continue
            # Thousands of calls per step keep tens of thousands of objects alive: with the
            # collector's default thresholds, its full passes over them would cost more than
            # the strategy's own work (see forethought/runtime/collector.py).
            with large_batch(_calls(batch)):
                outcomes = await _run_batch(ctx, batch, node_id)
                exhausted = budget_hit(outcomes)
                steps += 1
                if ctx.events.active:
                    ctx.events.emit(StrategyStep(
                        node_id=node_id, step=steps,
                        actions=dict(Counter(a.tag for a in batch)),
                        failed=sum(not o.ok for o in outcomes), budget_hit=exhausted))
                batch = machine.send(outcomes)
    except StopIteration as stop:
        return stop.value
    finally:
        machine.close()


def _calls(batch: list[Action]) -> int:
    return sum(max(a.n, 0) if isinstance(a, Sample) else 1 for a in batch)


async def _run_batch(ctx: RunContext, batch: list[Action], node_id: str | None
                     ) -> list[Outcome]:
    """Every call of every action at once, in one gather, then one outcome per action.

    One task per model call and nothing around it: gathering the actions, each gathering its
    own calls, cost two tasks, a gathering future and two coroutines per call. The calls
    start in the same order as before (action by action), so seeded runs are unchanged.
    """
    work: list[Awaitable[Any]] = []
    for action in batch:
        if isinstance(action, Sample):
            request = _one_per_call(action.request)
            work.extend(ctx.complete(request, node_id=node_id) for _ in range(action.n))
        else:
            work.append(execute(ctx, action, node_id=node_id))
    results: list[Any] = await asyncio.gather(*work, return_exceptions=True)
    outcomes: list[Outcome] = []
    at = 0
    for action in batch:
        if isinstance(action, Sample):
            calls = max(action.n, 0)
            outcomes.append(_fold(results[at:at + calls]))
            at += calls
            continue
        result = results[at]
        at += 1
        if isinstance(result, BaseException):  # cancelled: execute() keeps other errors
            raise result
        outcomes.append(result)
    return outcomes


def run_offline(machine: StepMachine, respond: Callable[[Action], Outcome]) -> Any:
    """Drive ``machine`` with a function that answers each action synchronously: the way to
    test a strategy's exact behaviour without models or an event loop.
    """
    try:
        batch = next(machine)
        while True:
            batch = machine.send([respond(a) for a in batch])
    except StopIteration as stop:
        return stop.value


DETERMINISTIC = ModelSettings(temperature=0.0)
