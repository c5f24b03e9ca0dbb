"""The streaming step-machine protocol: launched actions come back as they complete, in small
groups in launch order; more can be launched meanwhile; cancelled calls are charged and
leave nothing running; the budget still refuses at dispatch and throws into a machine that
launches after a refusal; run_offline drives it all at once or on a simulated clock."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import pytest

from forethought.exceptions import BudgetExceeded, UserError
from forethought.models.messages import Message, ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.collector import LARGE_BATCH, YOUNG_THRESHOLD
from forethought.runtime.context import RunContext
from forethought.runtime.events import ModelCallFinished
from forethought.search.machine import (
    Action,
    Cancel,
    Compute,
    Launch,
    Outcome,
    Sample,
    StepMachine,
    Wait,
    cancel,
    drive,
    launch,
    merge,
    run_offline,
    wait,
)
from forethought.tools.base import ToolRegistry


def request(text: str) -> ModelRequest:
    return ModelRequest(messages=(Message.user(text),))


async def after(request: ModelRequest) -> str:
    """Replies ``re X`` to ``X:seconds`` after that many seconds."""
    text = request.messages[-1].content
    await asyncio.sleep(float(text.split(":")[1]))
    return f"re {text}"


def ctx_for(model: ScriptedModel, budget: Budget | None = None) -> RunContext:
    return RunContext(model=model, tools=ToolRegistry(["calculator"]),
                      budget=BudgetTracker(budget=budget or Budget()))


def others() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


# --- the driver -------------------------------------------------------------------------------

async def test_outcomes_arrive_as_they_complete_in_small_groups_in_launch_order() -> None:
    def machine() -> StepMachine:
        launched = yield from launch([Sample(request=request(f"q{i}:{d}"))
                                      for i, d in enumerate((0.3, 0.01, 0.01, 0.15))])
        assert list(launched.tickets) == [0, 1, 2, 3]
        groups: list[list[int]] = []
        texts: dict[int, list[str]] = {}
        pending = set(launched.tickets)
        while pending:
            arrivals = yield from wait(pending)
            groups.append([a.ticket for a in arrivals.items])
            for a in arrivals.items:
                pending.discard(a.ticket)
                texts[a.ticket] = a.outcome.texts
        return groups, texts

    groups, texts = await drive(ctx_for(ScriptedModel(after)), machine())
    assert groups == [[1, 2], [3], [0]]  # the two fast ones together, in launch order
    assert texts == {i: [f"re q{i}:{d}"] for i, d in enumerate((0.3, 0.01, 0.01, 0.15))}


async def test_more_work_is_launched_while_earlier_work_is_in_flight() -> None:
    def machine() -> StepMachine:
        slow = (yield from launch([Sample(request=request("slow:0.3"))])).tickets
        fast = (yield from launch([Sample(request=request("fast:0.01"))])).tickets
        first = yield from wait(set(slow) | set(fast))
        assert [a.ticket for a in first.items] == list(fast)
        more = (yield from launch([Sample(request=request("more:0.01"))])).tickets
        second = yield from wait(set(slow) | set(more))
        third = yield from wait(set(slow) | set(more))
        return [[a.outcome.texts[0] for a in g.items] for g in (first, second, third)]

    start = time.perf_counter()
    got = await drive(ctx_for(ScriptedModel(after)), machine())
    assert got == [["re fast:0.01"], ["re more:0.01"], ["re slow:0.3"]]
    assert time.perf_counter() - start < 1.0  # the slow call overlapped the rest


async def test_wait_at_least_all_and_until() -> None:
    def machine() -> StepMachine:
        tickets = (yield from launch([Sample(request=request(f"q:{d}"))
                                      for d in (0.01, 0.4)])).tickets
        early = yield from wait(tickets, until=0.0)  # nothing has completed at time 0
        timed = yield from wait(tickets, at_least=2, until=0.2)
        rest = yield from wait(tickets, at_least=5)  # more than are left: all of them
        again = yield from wait(tickets)  # everything was received: returns at once
        return early, timed, rest, again

    early, timed, rest, again = await drive(ctx_for(ScriptedModel(after)), machine())
    assert early.items == [] and early.now < 0.2
    assert [a.ticket for a in timed.items] == [0] and 0.2 <= timed.now < 0.38
    assert [a.ticket for a in rest.items] == [1] and rest.now >= 0.4
    assert again.items == []


async def test_a_launched_sample_of_n_folds_like_a_batch_and_n_zero_arrives_at_once() -> None:
    counter = iter(range(100))
    model = ScriptedModel(lambda r: f"s{next(counter)}")

    def machine() -> StepMachine:
        tickets = (yield from launch([Sample(request=request("a"), n=3),
                                      Sample(request=request("b"), n=0),
                                      Compute(fn=lambda: 42)])).tickets
        got = yield from wait(tickets, at_least=3)
        return [a.outcome for a in got.items]

    three, none, computed = await drive(ctx_for(model), machine())
    assert sorted(three.texts) == ["s0", "s1", "s2"] and three.usage.model_calls == 3
    assert none.texts == [] and none.ok and computed.value == 42
    assert all(r.settings.n == 1 for r in model.requests)


async def test_failures_arrive_as_outcomes() -> None:
    def reply(r: ModelRequest) -> str | BaseException:
        return RuntimeError("provider down") if "bad" in r.messages[-1].content else "ok"

    def machine() -> StepMachine:
        tickets = (yield from launch([Sample(request=request("bad"), n=2),
                                      Compute(fn=lambda: 1 / 0)])).tickets
        return [a.outcome for a in (yield from wait(tickets, at_least=2)).items]

    sampled, computed = await drive(ctx_for(ScriptedModel(reply)), machine())
    assert isinstance(sampled.error, RuntimeError) and sampled.texts == []
    assert isinstance(computed.error, ZeroDivisionError)


async def test_cancelled_calls_are_charged_and_leave_nothing_running() -> None:
    ctx = ctx_for(ScriptedModel(after))
    finished: list[ModelCallFinished] = []
    ctx.events.subscribe(lambda e: finished.append(e) if isinstance(e, ModelCallFinished)
                         else None)

    def machine() -> StepMachine:
        tickets = (yield from launch([Sample(request=request(f"q{i}:{d}"))
                                      for i, d in enumerate((0.01, 5, 5))])).tickets
        first = yield from wait(tickets)
        stopped = yield from cancel(tickets)
        return [a.ticket for a in first.items], stopped

    start = time.perf_counter()
    received, stopped = await drive(ctx, machine())
    assert time.perf_counter() - start < 2
    assert received == [0] and stopped == [1, 2]
    assert others() == set()
    assert ctx.budget.in_flight == 0 and ctx.budget.started_calls == 3
    # Each cancelled call is charged what the provider read: its prompt.
    assert ctx.budget.spent.model_calls == 3
    cancelled = [e for e in finished if e.error and "CancelledError" in e.error]
    assert len(cancelled) == 2 and all(e.usage.prompt_tokens > 0 for e in cancelled)


async def test_what_is_in_flight_when_a_machine_ends_or_fails_is_cancelled() -> None:
    ctx = ctx_for(ScriptedModel(after))

    def returns() -> StepMachine:
        tickets = (yield from launch([Sample(request=request("q:5"))] * 3)).tickets
        yield from wait(tickets, until=0.05)  # the calls are at the provider
        return "done"

    def fails() -> StepMachine:
        tickets = (yield from launch([Sample(request=request("q:5"))] * 2)).tickets
        yield from wait(tickets, until=0.05)
        raise ValueError("the strategy failed")

    def unsent() -> StepMachine:
        yield from launch([Sample(request=request("q:5"))] * 4)
        return "never sent"

    assert await drive(ctx, returns()) == "done"
    with pytest.raises(ValueError, match="the strategy failed"):
        await drive(ctx, fails())
    assert others() == set() and ctx.budget.in_flight == 0
    assert ctx.budget.spent.model_calls == 5 and ctx.budget.spent.prompt_tokens > 0
    # Cancelled before they were dispatched: never sent, never charged.
    assert await drive(ctx, unsent()) == "never sent"
    assert ctx.budget.started_calls == 5 and ctx.budget.spent.model_calls == 5


async def test_cancelling_a_drive_mid_stream_propagates_and_cancels_the_calls() -> None:
    ctx = ctx_for(ScriptedModel(after))

    def machine() -> StepMachine:
        tickets = (yield from launch([Sample(request=request("q:5"))] * 3)).tickets
        yield from wait(tickets)

    task = asyncio.ensure_future(drive(ctx, machine()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert others() == set() and ctx.budget.in_flight == 0


async def test_budget_refusals_arrive_as_outcomes_and_a_launch_after_one_is_refused() -> None:
    ctx = ctx_for(ScriptedModel(after), Budget(max_model_calls=3))
    caught: list[BaseException] = []

    def machine() -> StepMachine:
        tickets = (yield from launch([Sample(request=request(f"q{i}:0.05")) for i in range(5)]
                                     )).tickets
        got = yield from wait(tickets, at_least=5)
        refused = [a.ticket for a in got.items if a.outcome.budget_exceeded]
        try:
            yield from launch([Sample(request=request("more:0.01"))])
        except BudgetExceeded as exc:
            caught.append(exc)
        # Waiting and cancelling stay allowed after a refusal.
        assert (yield from wait(tickets)).items == []
        assert (yield from cancel(tickets)) == []
        return [a.ticket for a in got.items if a.outcome.ok], refused

    ok, refused = await drive(ctx, machine())
    assert ok == [0, 1, 2] and refused == [3, 4]
    assert "model calls 3 >= limit 3" in str(caught[0])
    assert ctx.budget.started_calls == 3


async def test_a_batch_after_a_streamed_refusal_is_thrown_in_too() -> None:
    ctx = ctx_for(ScriptedModel(after), Budget(max_model_calls=1))

    def machine() -> StepMachine:
        tickets = (yield from launch([Sample(request=request("q:0.01"))] * 2)).tickets
        yield from wait(tickets, at_least=2)
        try:
            yield [Sample(request=request("q:0.01"))]
        except BudgetExceeded:
            return "stopped"
        return "not stopped"

    assert await drive(ctx, machine()) == "stopped"


async def test_batches_and_commands_mix_in_one_machine() -> None:
    def machine() -> StepMachine:
        tickets = (yield from launch([Sample(request=request("slow:0.2"))])).tickets
        batch = yield [Sample(request=request("batch:0.01"), n=2)]
        late = yield from wait(tickets)
        return batch[0].texts, late.items[0].outcome.texts

    assert await drive(ctx_for(ScriptedModel(after)), machine()) == (
        ["re batch:0.01"] * 2, ["re slow:0.2"])


async def test_bad_commands_name_what_was_wrong() -> None:
    def unknown_ticket() -> StepMachine:
        yield from launch([Sample(request=request("q:0"))])
        yield from wait({0, 7})

    def stray() -> StepMachine:
        yield "go"  # type: ignore[misc]

    ctx = ctx_for(ScriptedModel(after))
    with pytest.raises(UserError, match=r"Wait names ticket 7, which was never launched "
                                        r"\(tickets launched: 0 to 0\)"):
        await drive(ctx, unknown_ticket())
    with pytest.raises(TypeError, match="a step machine yielded 'go'"):
        await drive(ctx, stray())
    with pytest.raises(UserError, match=r"Wait\.at_least must be >= 0, got -1"):
        Wait(tickets=[0], at_least=-1)
    assert others() == set()


async def test_thousands_in_flight_run_with_fewer_collections_and_restore_the_collector(
        ) -> None:
    seen: list[int] = []

    def machine() -> StepMachine:
        tickets = (yield from launch([Sample(request=request("x"))] * LARGE_BATCH)).tickets
        seen.append(gc.get_threshold()[0])
        yield from wait(tickets, at_least=LARGE_BATCH)
        seen.append(gc.get_threshold()[0])  # the strategy's bookkeeping runs inside too
        small = (yield from launch([Sample(request=request("x"))])).tickets
        yield from wait(small)
        seen.append(gc.get_threshold()[0])

    before = gc.get_threshold()
    await drive(ctx_for(ScriptedModel(lambda r: "x")), machine())
    assert seen == [YOUNG_THRESHOLD, YOUNG_THRESHOLD, before[0]]
    assert gc.get_threshold() == before


# --- offline ----------------------------------------------------------------------------------

def echo(action: Action) -> Outcome:
    assert isinstance(action, Sample)
    return Outcome(value=[action.request.messages[0].content])


def test_offline_everything_arrives_at_once_in_launch_order() -> None:
    answered: list[str] = []

    def respond(action: Action) -> Outcome:
        answered.append(echo(action).texts[0])
        return echo(action)

    def machine() -> StepMachine:
        tickets = (yield from launch([Sample(request=request(f"q{i}")) for i in range(4)]
                                     )).tickets
        first = yield from wait({2})  # everything due completes, the named one is received
        stopped = yield from cancel({3})  # arrived, not received: discarded, not "stopped"
        rest = yield from wait(tickets)
        return [a.ticket for a in first.items], stopped, [a.ticket for a in rest.items]

    assert run_offline(machine(), respond) == ([2], [], [0, 1])
    assert answered == ["q0", "q1", "q2", "q3"]


def test_offline_on_a_simulated_clock() -> None:
    answered: list[str] = []
    delays = {"a": 3.0, "b": 1.0, "c": 1.0, "d": 5.0}

    def respond(action: Action) -> Outcome:
        answered.append(echo(action).texts[0])
        return echo(action)

    def machine() -> StepMachine:
        launched = yield from launch([Sample(request=request(x)) for x in "abcd"])
        assert launched.at == 0.0
        first = yield from wait(launched.tickets)
        early = yield from wait(launched.tickets, until=2.0)
        stopped = yield from cancel({3})
        last = yield from wait(launched.tickets)
        return ([(a.ticket, first.now) for a in first.items], early.now, early.items, stopped,
                [(a.ticket, last.now) for a in last.items])

    def latency(action: Action, ticket: int) -> float:
        assert isinstance(action, Sample)
        return delays[action.request.messages[0].content]

    first, early_now, early, stopped, last = run_offline(machine(), respond, latency=latency)
    assert first == [(1, 1.0), (2, 1.0)]
    assert (early_now, early, stopped) == (2.0, [], [3])
    assert last == [(0, 3.0)]
    assert answered == ["b", "c", "a"]  # in completion order; the cancelled one never


def test_offline_commands_are_checked_too() -> None:
    def machine() -> StepMachine:
        yield Launch(actions=[Sample(request=request("a"))])
        yield Cancel(tickets=[5])

    with pytest.raises(UserError, match="Cancel names ticket 5, which was never launched"):
        run_offline(machine(), echo)
    with pytest.raises(UserError, match=r"latency of .* is -1\.0; it must be >= 0"):
        run_offline(machine(), echo, latency=lambda a, t: -1.0)


def test_merge_folds_one_call_outcomes_as_one_sample() -> None:
    refused, failed = BudgetExceeded("spent"), RuntimeError("down")
    merged = merge([Outcome(value=["a"]), Outcome(error=failed), Outcome(value=["b"]),
                    Outcome(error=refused)])
    assert merged.texts == ["a", "b"] and merged.error is refused
    assert merge([Outcome(error=failed), Outcome(value=["c"])]).error is failed
    assert merge([]).texts == [] and merge([]).ok
