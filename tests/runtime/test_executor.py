"""The executor: ordering, parallelism, failure policies, timeouts, cancellation, streaming."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from forethought.exceptions import (
    DependencyFailedError,
    GraphValidationError,
    NodeTimeoutError,
    UserError,
)
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, NodeFailed
from forethought.runtime.executor import Executor, FailurePolicy, NodeStatus
from forethought.runtime.graph import Ref, Subtask, TaskGraph, Template
from forethought.tools.base import ToolRegistry, tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def make_ctx(events: list[Event] | None = None) -> RunContext:
    ctx = RunContext(model=ScriptedModel(lambda r: "ok"), tools=ToolRegistry([add]))
    if events is not None:
        ctx.events.subscribe(events.append)
    return ctx


def value(v: Any, *, delay: float = 0.0, log: list[str] | None = None, name: str = ""):
    async def fn(ctx: RunContext, inputs: dict[str, Any]) -> Any:
        if log is not None:
            log.append(f"start {name}")
        if delay:
            await asyncio.sleep(delay)
        if log is not None:
            log.append(f"end {name}")
        return v(inputs) if callable(v) else v
    return fn


async def test_tool_llm_and_function_nodes_pass_outputs_along() -> None:
    graph = TaskGraph([
        Subtask(id="a", kind="tool", tool="add", args={"a": 1, "b": 2}),
        Subtask(id="b", kind="tool", tool="add", args={"a": Ref("a"), "b": 10}),
        Subtask(id="c", kind="llm", args={"prompt": Template(("total: ", Ref("b")))}),
        Subtask(id="d", fn=value(lambda i: i["x"] * 2), args={"x": Ref("b")}),
    ])
    ctx = make_ctx()
    result = await Executor(ctx).run(graph)
    assert result.status == "ok"
    assert result.outputs == {"a": 3, "b": 13, "c": "ok", "d": 26}
    model = ctx.model
    assert isinstance(model, ScriptedModel)
    assert model.requests[0].messages[0].content == "total: 13"


async def test_independent_nodes_run_in_parallel() -> None:
    graph = TaskGraph([Subtask(id=str(i), fn=value(i, delay=0.1)) for i in range(20)])
    start = time.perf_counter()
    result = await Executor(make_ctx(), max_concurrency=32).run(graph)
    elapsed = time.perf_counter() - start
    assert result.status == "ok"
    assert elapsed < 0.5, f"20 parallel 0.1 s nodes took {elapsed:.2f}s"


async def test_concurrency_limit_is_respected() -> None:
    running = 0
    peak = 0

    async def fn(ctx: RunContext, inputs: dict[str, Any]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    graph = TaskGraph([Subtask(id=str(i), fn=fn) for i in range(12)])
    result = await Executor(make_ctx(), max_concurrency=3).run(graph)
    assert result.status == "ok"
    assert peak == 3


async def test_skip_dependants_keeps_independent_work() -> None:
    async def boom(ctx: RunContext, inputs: dict[str, Any]) -> None:
        raise ValueError("broken input")

    events: list[Event] = []
    graph = TaskGraph([
        Subtask(id="bad", fn=boom),
        Subtask(id="child", fn=value(1), after=("bad",)),
        Subtask(id="grandchild", fn=value(2), args={"x": Ref("child")}),
        Subtask(id="other", fn=value(3, delay=0.01)),
    ])
    result = await Executor(make_ctx(events)).run(graph)
    assert result.status == "failed"
    assert result.nodes["bad"].status is NodeStatus.FAILED
    assert isinstance(result.nodes["bad"].error, ValueError)
    assert result.nodes["child"].status is NodeStatus.SKIPPED
    assert isinstance(result.nodes["grandchild"].error, DependencyFailedError)
    assert result.outputs == {"other": 3}
    kinds = [e.kind for e in events]
    assert kinds.count("node_skipped") == 2
    assert "node_failed" in kinds


async def test_fail_fast_cancels_running_nodes() -> None:
    async def boom(ctx: RunContext, inputs: dict[str, Any]) -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("first failure")

    graph = TaskGraph([
        Subtask(id="bad", fn=boom),
        Subtask(id="slow", fn=value(1, delay=5)),
        Subtask(id="later", fn=value(2), after=("slow",)),
    ])
    start = time.perf_counter()
    result = await Executor(make_ctx(), policy=FailurePolicy(mode="fail_fast")).run(graph)
    assert time.perf_counter() - start < 1
    assert result.status == "failed"
    assert isinstance(result.error, RuntimeError)
    assert result.nodes["slow"].status is NodeStatus.CANCELLED
    assert result.nodes["later"].status is NodeStatus.CANCELLED


async def test_fail_fast_before_siblings_started_still_returns() -> None:
    # The failing node fails in its first step, before the event loop has started the other
    # ready workers: they are cancelled unstarted, and the run must still end.
    async def boom(ctx: RunContext, inputs: dict[str, Any]) -> None:
        raise RuntimeError("at once")

    graph = TaskGraph([Subtask(id="bad", fn=boom),
                       *(Subtask(id=f"s{i}", fn=value(i)) for i in range(10)),
                       Subtask(id="after", fn=value(0), after=("s0",))])
    executor = Executor(make_ctx(), policy=FailurePolicy(mode="fail_fast"))
    result = await asyncio.wait_for(executor.run(graph), 5)
    assert result.status == "failed"
    assert str(result.error) == "at once"
    assert result.nodes["bad"].status is NodeStatus.FAILED
    statuses = {n: r.status for n, r in result.nodes.items() if n != "bad"}
    assert set(statuses.values()) == {NodeStatus.CANCELLED}
    assert executor._running == {}  # pyright: ignore[reportPrivateUsage]


async def test_cancel_before_any_worker_started_returns() -> None:
    executor = Executor(make_ctx(), max_concurrency=3)
    for i in range(5):
        executor.add(Subtask(id=f"n{i}", fn=value(i)))
    executor.close()
    executor.cancel()
    result = await asyncio.wait_for(executor.join(), 5)
    assert result.status == "cancelled"
    assert {r.status for r in result.nodes.values()} == {NodeStatus.CANCELLED}


async def test_retries_then_success() -> None:
    attempts = 0

    async def flaky(ctx: RunContext, inputs: dict[str, Any]) -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("transient")
        return "done"

    events: list[Event] = []
    graph = TaskGraph([Subtask(id="f", fn=flaky)])
    result = await Executor(make_ctx(events), policy=FailurePolicy(retries=2)).run(graph)
    assert result.output("f") == "done"
    assert result.nodes["f"].attempts == 3
    retried = [e for e in events if isinstance(e, NodeFailed)]
    assert len(retried) == 2 and all(e.will_retry for e in retried)


async def test_retries_exhausted_fails_with_last_error() -> None:
    async def never(ctx: RunContext, inputs: dict[str, Any]) -> None:
        raise ConnectionError("still down")

    graph = TaskGraph([Subtask(id="f", fn=never, retries=1)])
    result = await Executor(make_ctx()).run(graph)
    assert result.nodes["f"].status is NodeStatus.FAILED
    assert result.nodes["f"].attempts == 2
    with pytest.raises(KeyError, match="still down"):
        result.output("f")


async def test_node_timeout() -> None:
    graph = TaskGraph([Subtask(id="slow", fn=value(1, delay=5), timeout_s=0.05),
                       Subtask(id="fast", fn=value(2))])
    result = await Executor(make_ctx()).run(graph)
    assert isinstance(result.nodes["slow"].error, NodeTimeoutError)
    assert "timed out after 0.05s" in str(result.nodes["slow"].error)
    assert result.outputs == {"fast": 2}


async def test_cancel_from_outside_cancels_children() -> None:
    log: list[str] = []
    graph = TaskGraph([Subtask(id="s", fn=value(1, delay=5, log=log, name="s"))])
    executor = Executor(make_ctx())
    task = asyncio.create_task(executor.run(graph))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert executor.results["s"].status is NodeStatus.CANCELLED
    assert log == ["start s"]


async def test_executor_cancel_method() -> None:
    graph = TaskGraph([Subtask(id="s", fn=value(1, delay=5)),
                       Subtask(id="t", fn=value(2), after=("s",))])
    executor = Executor(make_ctx())
    task = asyncio.create_task(executor.run(graph))
    await asyncio.sleep(0.02)
    executor.cancel()
    result = await task
    assert result.status == "cancelled"
    assert {r.status for r in result.nodes.values()} == {NodeStatus.CANCELLED}


async def test_nodes_added_while_running_start_when_inputs_exist() -> None:
    log: list[str] = []
    executor = Executor(make_ctx())
    executor.add(Subtask(id="1", fn=value(1, delay=0.02, log=log, name="1")))
    # "3" arrives before "2", which it needs: it must wait for it.
    executor.add(Subtask(id="3", fn=value(lambda i: i["x"] + 1, log=log, name="3"),
                         args={"x": Ref("2")}))
    await asyncio.sleep(0.05)
    executor.add(Subtask(id="2", fn=value(lambda i: i["x"] * 10, log=log, name="2"),
                         args={"x": Ref("1")}))
    executor.close()
    result = await executor.join()
    assert result.outputs == {"1": 1, "2": 10, "3": 11}
    assert log.index("end 2") < log.index("start 3")


async def test_dangling_reference_fails_at_close_naming_the_node() -> None:
    executor = Executor(make_ctx())
    executor.add(Subtask(id="ok", fn=value(1)))
    executor.add(Subtask(id="orphan", fn=value(2), args={"x": Ref("ghost")}))
    executor.add(Subtask(id="needs-orphan", fn=value(3), after=("orphan",)))
    executor.close()
    result = await executor.join()
    err = result.nodes["orphan"].error
    assert isinstance(err, GraphValidationError)
    assert err.node_id == "orphan" and "$ghost" in str(err)
    assert result.nodes["needs-orphan"].status is NodeStatus.SKIPPED
    assert result.outputs == {"ok": 1}


async def test_cycle_added_while_streaming_fails_at_close() -> None:
    executor = Executor(make_ctx())
    executor.add(Subtask(id="a", fn=value(1), after=("b",)))
    executor.add(Subtask(id="b", fn=value(2), after=("a",)))
    executor.add(Subtask(id="free", fn=value(3)))
    executor.close()
    result = await executor.join()
    assert result.outputs == {"free": 3}
    for node in ("a", "b"):
        err = result.nodes[node].error
        assert isinstance(err, GraphValidationError)
        assert "cycle" in str(err)


async def test_unknown_tool_and_duplicate_rejected_on_add() -> None:
    executor = Executor(make_ctx())
    with pytest.raises(GraphValidationError, match=r"unknown tool 'nope'; available tools: 'add'"):
        executor.add(Subtask(id="1", kind="tool", tool="nope"))
    executor.add(Subtask(id="2", fn=value(1)))
    with pytest.raises(GraphValidationError, match="duplicate node id '2'"):
        executor.add(Subtask(id="2", fn=value(1)))
    executor.close()
    with pytest.raises(UserError, match="closed"):
        executor.add(Subtask(id="3", fn=value(1)))
    await executor.join()


async def test_tool_errors_become_node_failures() -> None:
    graph = TaskGraph([Subtask(id="bad-args", kind="tool", tool="add", args={"a": "x", "b": 1}),
                       Subtask(id="good", kind="tool", tool="add", args={"a": 1, "b": 1})])
    result = await Executor(make_ctx()).run(graph)
    assert "invalid arguments for tool 'add'" in str(result.nodes["bad-args"].error)
    assert result.output("good") == 2


async def test_events_cover_every_step() -> None:
    events: list[Event] = []
    graph = TaskGraph([Subtask(id="t", kind="tool", tool="add", args={"a": 1, "b": 1}),
                       Subtask(id="l", kind="llm", args={"prompt": "hi"}, after=("t",))])
    await Executor(make_ctx(events)).run(graph)
    assert [e.kind for e in events] == [
        "node_added", "node_added",
        "node_started", "tool_call_started", "tool_call_finished", "node_finished",
        "node_started", "model_call_started", "model_call_finished", "node_finished",
    ]


async def test_a_long_chain_behind_a_failed_node_is_skipped_without_recursion() -> None:
    async def boom(ctx: RunContext, inputs: dict[str, Any]) -> None:
        raise ValueError("head failed")

    n = 5000
    graph = TaskGraph([Subtask(id="0", fn=boom),
                       *(Subtask(id=str(i), fn=value(i), after=(str(i - 1),))
                         for i in range(1, n))])
    result = await Executor(make_ctx()).run(graph)
    assert result.nodes["0"].status is NodeStatus.FAILED
    assert all(result.nodes[str(i)].status is NodeStatus.SKIPPED for i in range(1, n))


async def test_a_long_chain_runs_in_order() -> None:
    order: list[int] = []

    def step(i: int):
        async def fn(ctx: RunContext, inputs: dict[str, Any]) -> int:
            order.append(i)
            return i
        return fn

    graph = TaskGraph([Subtask(id=str(i), fn=step(i), after=(str(i - 1),) if i else ())
                       for i in range(2000)])
    result = await Executor(make_ctx(), max_concurrency=4).run(graph)
    assert result.status == "ok" and order == list(range(2000))
