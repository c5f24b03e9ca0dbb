"""Running a step machine's actions through the run context: a whole batch at once, or
launched actions tracked until the machine receives or cancels them.

Both keep to one task per model call and nothing around it: a :class:`Sample` of ``n`` is
``n`` calls to :meth:`RunContext.complete`, each in its own task, folded into one
:class:`Outcome` when the last returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

from forethought._threads import in_thread
from forethought.exceptions import BudgetExceeded, ForethoughtError, UserError
from forethought.models.messages import ModelRequest, ModelResponse, Usage
from forethought.runtime.collector import LARGE_BATCH, large_batch
from forethought.runtime.context import RunContext
from forethought.search.protocol import (
    Action,
    Arrival,
    Arrivals,
    CallTool,
    Invoke,
    Launched,
    Outcome,
    Sample,
    Wait,
)


def one_per_call(request: ModelRequest) -> ModelRequest:
    """``request`` asking for one completion: a Sample of n is n calls."""
    if request.settings.n != 1:
        return replace(request, settings=replace(request.settings, n=1))
    return request


def fold(results: Sequence[ModelResponse | BaseException]) -> Outcome:
    """One Sample's outcome from its calls' results, in order; a cancellation (or another
    ``BaseException``) is raised, not folded.
    """
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
        request = one_per_call(action.request)
        calls = [ctx.complete(request, node_id=node_id) for _ in range(action.n)]
        return fold(await asyncio.gather(*calls, return_exceptions=True))
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


def calls_in(actions: Sequence[Action]) -> int:
    """Model calls (or tool and compute calls) that ``actions`` make."""
    return sum(max(a.n, 0) if isinstance(a, Sample) else 1 for a in actions)


async def run_batch(ctx: RunContext, batch: Sequence[Action], node_id: str | None
                    ) -> list[Outcome]:
    """Every call of every action at once, in one gather, then one outcome per action.

    One task per model call and nothing around it: gathering the actions, each gathering its
    own calls, cost two tasks, a gathering future and two coroutines per call. The calls
    start in the same order as before (action by action), so seeded runs are unchanged.
    """
    work: list[Awaitable[Any]] = []
    for action in batch:
        if isinstance(action, Sample):
            request = one_per_call(action.request)
            work.extend(ctx.complete(request, node_id=node_id) for _ in range(action.n))
        else:
            work.append(execute(ctx, action, node_id=node_id))
    results: list[Any] = await asyncio.gather(*work, return_exceptions=True)
    outcomes: list[Outcome] = []
    at = 0
    for action in batch:
        if isinstance(action, Sample):
            calls = max(action.n, 0)
            outcomes.append(fold(results[at:at + calls]))
            at += calls
            continue
        result = results[at]
        at += 1
        if isinstance(result, BaseException):  # cancelled: execute() keeps other errors
            raise result
        outcomes.append(result)
    return outcomes


class _Unit:
    """One launched action: its calls' tasks and results until the last returns."""

    __slots__ = ("action", "cancelled", "remaining", "results", "tasks", "ticket")

    def __init__(self, ticket: int, action: Action, calls: int) -> None:
        self.ticket = ticket
        self.action = action
        self.remaining = calls
        self.results: list[Any] = [None] * calls
        self.tasks: list[asyncio.Future[Any]] = []
        self.cancelled = False


class Flight:
    """The actions a streaming machine launched and has not yet received (see
    :mod:`forethought.search.protocol`).

    A launched action's outcome is filed when its last call returns (a done callback, no
    task around it) and handed over at the next :meth:`wait` that names it. A wait sleeps on
    one future that the callbacks resolve once enough named tickets are in, so a step of
    thousands of calls costs one wake-up per group of arrivals, not a scan per call.
    """

    def __init__(self, ctx: RunContext, node_id: str | None) -> None:
        self._ctx = ctx
        self._node_id = node_id
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._next = 0
        self._units: dict[int, _Unit] = {}
        self._arrived: dict[int, Outcome | BaseException] = {}
        self._watch: Collection[int] = ()
        self._hits = 0
        self._need = 0
        self._wake: asyncio.Future[None] | None = None
        self.calls_in_flight = 0
        self._collector = contextlib.ExitStack()
        self._collecting = False

    def now(self) -> float:
        return self._loop.time() - self._start

    # --- launch -------------------------------------------------------------------------------

    def launch(self, actions: Sequence[Action]) -> Launched:
        first = self._next
        ctx, node_id, loop = self._ctx, self._node_id, self._loop
        for action in actions:
            ticket = self._next
            self._next += 1
            if isinstance(action, Sample):
                calls = max(action.n, 0)
                unit = _Unit(ticket, action, calls)
                if not calls:
                    self._file(unit, fold([]))
                    continue
                request = one_per_call(action.request)
                for i in range(calls):
                    task = loop.create_task(ctx.complete(request, node_id=node_id))
                    task.add_done_callback(functools.partial(self._returned, unit, i))
                    unit.tasks.append(task)
            else:
                unit = _Unit(ticket, action, 1)
                task = loop.create_task(execute(ctx, action, node_id=node_id))
                task.add_done_callback(functools.partial(self._returned, unit, 0))
                unit.tasks.append(task)
            self._units[ticket] = unit
            self.calls_in_flight += unit.remaining
        self._tune_collector(0)
        return Launched(tickets=range(first, self._next), at=self.now())

    def _returned(self, unit: _Unit, index: int, task: asyncio.Future[Any]) -> None:
        self.calls_in_flight -= 1
        # Read the result even when it is not wanted: an exception left unread is logged.
        result: Any = asyncio.CancelledError() if task.cancelled() else (
            task.exception() or task.result())
        if unit.cancelled:
            return
        unit.results[index] = result
        unit.remaining -= 1
        if unit.remaining:
            return
        if isinstance(unit.action, Sample):
            try:
                outcome: Outcome | BaseException = fold(unit.results)
            except BaseException as exc:  # noqa: BLE001 - raised when the machine receives it
                outcome = exc
        else:
            outcome = unit.results[0]
        del self._units[unit.ticket]
        self._file(unit, outcome)

    def _file(self, unit: _Unit, outcome: Outcome | BaseException) -> None:
        self._arrived[unit.ticket] = outcome
        if self._wake is not None and unit.ticket in self._watch:
            self._hits += 1
            if self._hits >= self._need and not self._wake.done():
                self._wake.set_result(None)

    # --- wait ---------------------------------------------------------------------------------

    def _check(self, tickets: Collection[int], command: str) -> None:
        for t in tickets:
            if not 0 <= t < self._next:
                raise UserError(f"{command} names ticket {t!r}, which was never launched "
                                f"(tickets launched: 0 to {self._next - 1})")

    async def wait(self, command: Wait) -> Arrivals:
        tickets = command.tickets
        self._check(tickets, "Wait")
        watch = tickets if isinstance(tickets, set | frozenset | range) else set(tickets)
        ready = flying = 0
        for t in watch:
            if t in self._arrived:
                ready += 1
            elif t in self._units:
                flying += 1
        need = min(command.at_least, ready + flying)
        if ready < need and (command.until is None or self.now() < command.until):
            self._watch, self._hits, self._need = watch, ready, need
            self._wake = self._loop.create_future()
            try:
                if command.until is None:
                    await self._wake
                else:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(self._start + command.until):
                            await self._wake
            finally:
                self._watch, self._wake = (), None
        got = sorted(t for t in self._arrived if t in watch)
        items: list[Arrival] = []
        for t in got:
            outcome = self._arrived.pop(t)
            if isinstance(outcome, BaseException):  # a call cancelled by someone else
                raise outcome
            items.append(Arrival(ticket=t, outcome=outcome))
        self._tune_collector(len(items))
        return Arrivals(items=items, now=self.now())

    # --- cancel -------------------------------------------------------------------------------

    async def cancel(self, tickets: Collection[int]) -> list[int]:
        """Cancel what is in flight among ``tickets`` and wait until it has stopped, so its
        usage is settled when this returns.
        """
        self._check(tickets, "Cancel")
        stopped: list[int] = []
        tasks: list[asyncio.Future[Any]] = []
        for t in sorted(tickets):
            self._arrived.pop(t, None)
            unit = self._units.pop(t, None)
            if unit is None:
                continue
            unit.cancelled = True
            stopped.append(t)
            for task in unit.tasks:
                if not task.done():
                    task.cancel()
                    tasks.append(task)
        if tasks:
            await asyncio.wait(tasks)
        self._tune_collector(0)
        return stopped

    async def close(self) -> None:
        """Cancel everything still in flight and wait for it: nothing outlives the drive."""
        try:
            if self._units:
                await self.cancel(list(self._units))
            self._arrived.clear()
        finally:
            self._collector.close()

    def _tune_collector(self, received: int) -> None:
        """Fewer collections while thousands of calls are in flight or just received (see
        :mod:`forethought.runtime.collector`), the usual ones otherwise.
        """
        large = self.calls_in_flight + received >= LARGE_BATCH
        if large and not self._collecting:
            self._collector.enter_context(large_batch(LARGE_BATCH))
            self._collecting = True
        elif not large and self._collecting:
            self._collector.close()
            self._collecting = False
