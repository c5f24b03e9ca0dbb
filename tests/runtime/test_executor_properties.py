"""Property tests of the executor's invariants over random DAGs, schedules and budgets:
each node runs exactly once, never before its inputs, never above the concurrency limit, and
the budget is never exceeded by more than the calls already in flight."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forethought.exceptions import BudgetExceeded
from forethought.models.messages import Message, ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, ModelCallStarted
from forethought.runtime.executor import Executor, NodeStatus
from forethought.runtime.graph import Ref, Subtask, TaskGraph


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[frozenset[int]], list[int]]:
    """Random DAGs: node i may depend on any nodes before it; plus a yield count per node to
    vary the interleaving of coroutines."""
    n = draw(st.integers(1, 25))
    deps = [frozenset(draw(st.sets(st.integers(0, i - 1), max_size=4)) if i else set())
            for i in range(n)]
    yields = [draw(st.integers(0, 3)) for _ in range(n)]
    return deps, yields


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=dags(), limit=st.integers(1, 6), streamed=st.booleans())
def test_each_node_once_never_before_inputs_never_above_limit(
        graph: tuple[list[frozenset[int]], list[int]], limit: int, streamed: bool) -> None:
    deps, yields = graph
    starts: list[int] = []
    finished: set[int] = set()
    running = 0
    peak = 0

    def node_fn(i: int):
        async def fn(ctx: RunContext, inputs: dict[str, Any]) -> int:
            nonlocal running, peak
            assert deps[i] <= finished, f"node {i} started before inputs {deps[i] - finished}"
            assert all(inputs[f"in{d}"] == d for d in deps[i])
            starts.append(i)
            running += 1
            peak = max(peak, running)
            for _ in range(yields[i]):
                await asyncio.sleep(0)
            running -= 1
            finished.add(i)
            return i
        return fn

    subtasks = [Subtask(id=str(i), fn=node_fn(i), args={f"in{d}": Ref(str(d)) for d in deps[i]})
                for i in range(len(deps))]

    async def main() -> None:
        executor = Executor(RunContext(model=ScriptedModel([])), max_concurrency=limit)
        if streamed:
            # Add in reverse order while running: consumers arrive before their inputs.
            for s in reversed(subtasks):
                executor.add(s)
                await asyncio.sleep(0)
            executor.close()
            result = await executor.join()
        else:
            result = await executor.run(TaskGraph(subtasks))
        assert result.status == "ok"
        assert result.outputs == {str(i): i for i in range(len(deps))}

    asyncio.run(main())
    assert sorted(starts) == list(range(len(deps)))  # exactly once each
    assert peak <= limit


@settings(max_examples=100, deadline=None)
@given(
    n_nodes=st.integers(1, 20),
    calls_per_node=st.integers(1, 3),
    limit=st.integers(1, 8),
    max_calls=st.integers(0, 30),
    max_tokens=st.integers(0, 400),
    reply_len=st.integers(1, 120),
)
def test_budget_never_exceeded_beyond_in_flight_calls(
        n_nodes: int, calls_per_node: int, limit: int, max_calls: int, max_tokens: int,
        reply_len: int) -> None:
    budget = Budget(max_model_calls=max_calls, max_tokens=max_tokens)
    tracker = BudgetTracker(budget=budget)
    model = ScriptedModel(lambda r: "x" * reply_len, delay_s=0.001)
    ctx = RunContext(model=model, budget=tracker)
    started_when: list[tuple[int, int]] = []  # (tokens spent, calls started) at each start

    def on_event(event: Event) -> None:
        if isinstance(event, ModelCallStarted):
            started_when.append((tracker.spent.total_tokens, tracker.started_calls))

    ctx.events.subscribe(on_event)

    async def fn(c: RunContext, inputs: dict[str, Any]) -> None:
        for _ in range(calls_per_node):
            await c.complete(ModelRequest(messages=(Message.user("q"),)))

    async def main() -> None:
        graph = TaskGraph([Subtask(id=str(i), fn=fn) for i in range(n_nodes)])
        result = await Executor(ctx, max_concurrency=limit).run(graph)
        if result.status == "budget_exhausted":
            assert isinstance(result.error, BudgetExceeded)
            assert any(r.status is NodeStatus.FAILED for r in result.nodes.values())
        else:
            assert result.status == "ok"

    asyncio.run(main())
    per_call = max(1, reply_len // 4)
    # Every call started while the budget still had room...
    assert all(tokens < max_tokens and calls <= max_calls for tokens, calls in started_when)
    # ...so the call count is exact and tokens overshoot by at most the calls in flight.
    assert tracker.started_calls <= max_calls
    assert tracker.spent.completion_tokens <= max_tokens + limit * per_call
    assert tracker.in_flight == 0
