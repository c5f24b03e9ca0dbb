"""The step-machine driver: batches run in parallel, outcomes return in order, failures and
budget exhaustion reach the machine as data."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import pytest

from forethought.exceptions import BudgetExceeded, ToolArgumentError
from forethought.models.messages import Message, ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.collector import LARGE_BATCH, YOUNG_THRESHOLD
from forethought.runtime.context import RunContext
from forethought.search.machine import (
    Action,
    CallTool,
    Compute,
    Outcome,
    Sample,
    StepMachine,
    budget_hit,
    drive,
    execute,
    run_offline,
)
from forethought.tools.base import ToolRegistry

REQUEST = ModelRequest(messages=(Message.user("propose"),))


def ctx_for(model: ScriptedModel, budget: Budget | None = None) -> RunContext:
    return RunContext(model=model, tools=ToolRegistry(["calculator"]),
                      budget=BudgetTracker(budget=budget or Budget()))


def test_outcomes_come_back_in_order_with_values() -> None:
    counter = iter(range(100))
    model = ScriptedModel(lambda r: f"s{next(counter)}")

    async def twice(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    def machine() -> StepMachine:
        outs = yield [Sample(request=REQUEST, n=3), CallTool(tool="calculator",
                      args={"expression": "6 * 7"}), Compute(fn=lambda: "sync"),
                      Compute(fn=lambda: twice(21))]
        return [o.value for o in outs]

    texts, tool, sync, coro = asyncio.run(drive(ctx_for(model), machine()))
    assert sorted(texts) == ["s0", "s1", "s2"]
    assert (tool, sync, coro) == ("42", "sync", 42)


def test_each_sample_is_one_call_and_they_run_in_parallel() -> None:
    model = ScriptedModel(lambda r: "x", delay_s=0.1)
    ctx = ctx_for(model)

    def machine() -> StepMachine:
        outs = yield [Sample(request=REQUEST, n=8)]
        return outs[0]

    start = time.perf_counter()
    outcome = asyncio.run(drive(ctx, machine()))
    assert time.perf_counter() - start < 0.5
    assert outcome.texts == ["x"] * 8 and outcome.usage.model_calls == 8
    assert ctx.budget.started_calls == 8
    assert all(r.settings.n == 1 for r in model.requests)


def test_failures_are_outcomes_not_crashes() -> None:
    def machine() -> StepMachine:
        outs = yield [CallTool(tool="calculator", args={"expression": "1/0"}),
                      CallTool(tool="nope"), Compute(fn=lambda: 1 / 0)]
        return outs

    outs = asyncio.run(drive(ctx_for(ScriptedModel([])), machine()))
    assert isinstance(outs[0].error, ToolArgumentError) and "division by zero" in str(outs[0].error)
    assert "unknown tool 'nope'" in str(outs[1].error)
    assert isinstance(outs[2].error, ZeroDivisionError)
    assert not any(o.ok for o in outs)


def test_budget_refusal_arrives_as_outcomes_and_keeps_partial_samples() -> None:
    ctx = ctx_for(ScriptedModel(lambda r: "x"), Budget(max_model_calls=5))

    def machine() -> StepMachine:
        seen: list[str] = []
        while True:
            outs = yield [Sample(request=REQUEST, n=3)]
            seen.extend(outs[0].texts)
            if budget_hit(outs):
                return ("partial", len(seen))

    assert asyncio.run(drive(ctx, machine())) == ("partial", 5)


def test_a_machine_that_ignores_the_budget_gets_it_thrown_in() -> None:
    ctx = ctx_for(ScriptedModel(lambda r: "x"), Budget(max_model_calls=2))
    caught: list[BaseException] = []

    def stubborn() -> StepMachine:
        try:
            while True:
                yield [Sample(request=REQUEST, n=2)]
        except BudgetExceeded as exc:
            caught.append(exc)
            return "stopped"

    assert asyncio.run(drive(ctx, stubborn())) == "stopped"
    assert "model calls 2 >= limit 2" in str(caught[0])


def test_machines_compose_with_yield_from_and_run_offline() -> None:
    def inner(q: str) -> StepMachine:
        outs = yield [Sample(request=ModelRequest(messages=(Message.user(q),)))]
        return outs[0].texts[0]

    def outer() -> StepMachine:
        a = yield from inner("first")
        b = yield from inner(f"second after {a}")
        return [a, b]

    def respond(action: Action) -> Outcome:
        assert isinstance(action, Sample)
        return Outcome(value=[action.request.messages[0].content.upper()])

    assert run_offline(outer(), respond) == ["FIRST", "SECOND AFTER FIRST"]


def test_cancellation_propagates() -> None:
    ctx = ctx_for(ScriptedModel(lambda r: "x", delay_s=5))

    def machine() -> StepMachine:
        yield [Sample(request=REQUEST, n=2)]
        return None

    async def main() -> Any:
        task = asyncio.create_task(drive(ctx, machine()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ctx.budget.in_flight == 0

    asyncio.run(main())


def request(text: str) -> ModelRequest:
    return ModelRequest(messages=(Message.user(text),))


def reply_or_fail(r: ModelRequest) -> str | BaseException:
    text = r.messages[-1].content
    return RuntimeError(f"no reply to {text}") if text.startswith("fail") else f"re {text}"


def mixed_batch() -> list[Action]:
    return [Sample(request=request("a"), n=3), CallTool(tool="calculator",
            args={"expression": "1 +"}), Sample(request=request("none"), n=0),
            Compute(fn=lambda: "computed"), Sample(request=request("fail b"), n=2),
            Sample(request=request("c"), n=1), CallTool(tool="calculator",
            args={"expression": "2 * 3"})]


def test_a_batch_gives_each_action_what_executing_it_alone_gives() -> None:
    def machine() -> StepMachine:
        return (yield mixed_batch())

    driven: list[Outcome] = asyncio.run(drive(ctx_for(ScriptedModel(reply_or_fail)),
                                              machine()))

    async def one_by_one() -> list[Outcome]:
        ctx = ctx_for(ScriptedModel(reply_or_fail))
        return [await execute(ctx, a) for a in mixed_batch()]

    alone = asyncio.run(one_by_one())
    assert len(driven) == len(alone) == 7

    def shape(o: Outcome) -> tuple[Any, ...]:
        return (o.value, type(o.error).__name__, str(o.error) if o.error else None,
                o.usage.model_calls if o.usage else None)

    assert [shape(o) for o in driven] == [shape(o) for o in alone]
    assert driven[0].value == ["re a"] * 3 and driven[2].value == []
    assert isinstance(driven[4].error, RuntimeError) and driven[4].value == []


def test_calls_reach_the_model_action_by_action() -> None:
    model = ScriptedModel(lambda r: "x")

    def machine() -> StepMachine:
        yield [Sample(request=request(f"q{i}"), n=i % 3 + 1) for i in range(6)]

    asyncio.run(drive(ctx_for(model), machine()))
    assert [r.messages[-1].content for r in model.requests] == [
        f"q{i}" for i in range(6) for _ in range(i % 3 + 1)]


def test_large_batches_run_with_fewer_collections_and_restore_the_collector() -> None:
    seen: list[int] = []

    def machine() -> StepMachine:
        yield [Sample(request=REQUEST, n=LARGE_BATCH)]
        seen.append(gc.get_threshold()[0])  # the strategy's bookkeeping runs inside too
        yield [Sample(request=REQUEST, n=2)]
        seen.append(gc.get_threshold()[0])
        yield [Sample(request=REQUEST, n=LARGE_BATCH)]
        raise ValueError("the strategy failed")

    before = gc.get_threshold()
    with pytest.raises(ValueError, match="the strategy failed"):
        asyncio.run(drive(ctx_for(ScriptedModel(lambda r: "x")), machine()))
    assert seen == [YOUNG_THRESHOLD, before[0]]
    assert gc.get_threshold() == before


def test_cancelling_a_drive_mid_batch_propagates() -> None:
    async def main() -> None:
        async def hang(r: ModelRequest) -> str:
            await asyncio.sleep(10)
            return "late"

        def machine() -> StepMachine:
            yield [Sample(request=REQUEST, n=3), Compute(fn=lambda: 1)]

        task = asyncio.ensure_future(drive(ctx_for(ScriptedModel(hang)), machine()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 5))
