"""TaskGraph.validate and the executor's cycle checks: the same errors, in the same order, as
the plain definition, checked once per graph."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forethought.exceptions import GraphValidationError
from forethought.models.scripted import ScriptedModel
from forethought.runtime import executor as executor_module
from forethought.runtime import graph as graph_module
from forethought.runtime.context import RunContext
from forethought.runtime.executor import Executor, NodeStatus
from forethought.runtime.graph import Subtask, TaskGraph, cycle_message, find_cycle
from forethought.tools.base import ToolRegistry, tool


async def noop(ctx: RunContext, inputs: dict[str, Any]) -> None:
    return None


def reference_validate(graph: TaskGraph, tools: Collection[str] | None) -> None:
    """The definition: every node in order (unknown tool, then the first missing input by
    name), then a cycle named by networkx over the whole graph."""
    for st_ in graph.nodes.values():
        if st_.kind == "tool" and tools is not None and st_.tool not in tools:
            valid = ", ".join(repr(t) for t in sorted(tools))
            raise GraphValidationError(
                f"node {st_.id!r} calls unknown tool {st_.tool!r}; available tools: {valid}",
                node_id=st_.id)
        for dep in sorted(st_.deps):
            if dep not in graph.nodes:
                raise GraphValidationError(
                    f"node {st_.id!r} references ${dep}, which is not a node of the graph",
                    node_id=st_.id)
    cycle = reference_cycle({s.id: s.deps for s in graph.nodes.values()})
    if cycle:
        raise GraphValidationError(cycle_message(cycle), node_id=cycle[0])


def reference_cycle(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """Kahn's algorithm over everything, then networkx on what is left (the code before the
    one-pass check)."""
    indegree = {n: 0 for n in deps}
    users: dict[str, list[str]] = {n: [] for n in deps}
    for node, ds in deps.items():
        for d in ds:
            if d in indegree:
                indegree[node] += 1
                users[d].append(node)
    stack = [n for n, k in indegree.items() if k == 0]
    while stack:
        n = stack.pop()
        for u in users[n]:
            indegree[u] -= 1
            if indegree[u] == 0:
                stack.append(u)
    left = [n for n, k in indegree.items() if k > 0]
    if not left:
        return []
    g: Any = nx.DiGraph()
    for node in left:
        for d in deps[node]:
            if d in indegree and indegree[d] > 0:
                g.add_edge(node, d)
    return [u for u, _v in nx.find_cycle(g)]


def outcome(fn: Any, *args: Any) -> tuple[str, str | None] | None:
    try:
        fn(*args)
    except GraphValidationError as exc:
        return str(exc), exc.node_id
    return None


@st.composite
def graphs(draw: st.DrawFn) -> tuple[TaskGraph, list[str] | None]:
    """Graphs in any order, with forward references, dangling references, cycles and tool
    nodes calling known or unknown tools."""
    n = draw(st.integers(1, 14))
    names = [f"n{i}" for i in range(n)]
    order = draw(st.permutations(range(n)))
    extra = ["ghost", "zz"]
    subtasks: list[Subtask] = []
    for i in order:
        pool = names[:i] if draw(st.booleans()) else names + extra
        drawn = draw(st.lists(st.sampled_from(pool), max_size=3)) if pool else []
        after = tuple(d for d in drawn if d != names[i])
        if draw(st.integers(0, 5)) == 0:
            subtasks.append(Subtask(id=names[i], kind="tool", tool=draw(st.sampled_from(
                ["calc", "search", "nope"])), after=after))
        else:
            subtasks.append(Subtask(id=names[i], fn=noop, after=after))
    tools = draw(st.one_of(st.none(), st.just(["calc", "search"])))
    return TaskGraph(subtasks), tools


@settings(max_examples=400, deadline=None)
@given(case=graphs())
def test_validate_matches_the_definition(case: tuple[TaskGraph, list[str] | None]) -> None:
    graph, tools = case
    assert outcome(graph.validate, tools) == outcome(reference_validate, graph, tools)


@settings(max_examples=300, deadline=None)
@given(deps=st.dictionaries(st.sampled_from("abcdefgh"),
                            st.frozensets(st.sampled_from("abcdefghxy"), max_size=3),
                            max_size=8))
def test_find_cycle_matches_the_definition(deps: dict[str, frozenset[str]]) -> None:
    deps = {k: frozenset(d - {k}) for k, d in deps.items()}
    assert find_cycle(deps) == reference_cycle(deps)


def test_dependencies_listed_after_their_users_are_valid() -> None:
    ids = [f"n{i}" for i in range(50)]
    graph = TaskGraph(reversed([Subtask(id=ids[i], fn=noop, after=(ids[i - 1],) if i else ())
                                for i in range(50)]))
    graph.validate()


def test_first_error_in_insertion_order_is_reported_after_a_forward_reference() -> None:
    graph = TaskGraph([Subtask(id="a", fn=noop, after=("b",)),  # forward: fine
                       Subtask(id="b", fn=noop),
                       Subtask(id="c", kind="tool", tool="nope"),
                       Subtask(id="d", fn=noop, after=("ghost",))])
    with pytest.raises(GraphValidationError, match=r"node 'c' calls unknown tool 'nope'"):
        graph.validate(["calc"])
    with pytest.raises(GraphValidationError, match=r"node 'd' references \$ghost"):
        graph.validate()


class Counter:
    """Counts the nodes handed to find_cycle."""

    def __init__(self) -> None:
        self.nodes = 0

    def __call__(self, deps: Mapping[str, Iterable[str]]) -> list[str]:
        self.nodes += len(deps)
        return find_cycle(deps)


@pytest.mark.parametrize("reverse", [False, True])
async def test_run_checks_a_graph_for_cycles_once(monkeypatch: pytest.MonkeyPatch,
                                                  reverse: bool) -> None:
    in_graph, in_executor = Counter(), Counter()
    monkeypatch.setattr(graph_module, "find_cycle", in_graph)
    monkeypatch.setattr(executor_module, "find_cycle", in_executor)
    nodes = [Subtask(id=f"n{i}", fn=noop, after=(f"n{i - 1}",) if i else ()) for i in range(30)]
    graph = TaskGraph(reversed(nodes) if reverse else nodes)
    result = await Executor(RunContext(model=ScriptedModel([]))).run(graph)
    assert result.status == "ok"
    # In order, the one pass over the nodes proves there is no cycle; out of order, Kahn's
    # algorithm looks at every node once. The executor does not look again.
    assert in_graph.nodes == (30 if reverse else 0)
    assert in_executor.nodes == 0


async def test_run_raises_for_a_cycle_before_anything_runs() -> None:
    ran: list[str] = []

    def fn(name: str) -> Any:
        async def node(ctx: RunContext, inputs: dict[str, Any]) -> None:
            ran.append(name)
        return node

    graph = TaskGraph([Subtask(id="free", fn=fn("free")),
                       Subtask(id="a", fn=fn("a"), after=("c",)),
                       Subtask(id="b", fn=fn("b"), after=("a",)),
                       Subtask(id="c", fn=fn("c"), after=("b",))])
    expected = r"cycle in task graph at node 'a': 'a' needs 'c', 'c' needs 'b', 'b' needs 'a'"
    with pytest.raises(GraphValidationError, match=expected):
        await Executor(RunContext(model=ScriptedModel([]))).run(graph)
    await asyncio.sleep(0)
    assert ran == []


async def test_nodes_added_one_by_one_next_to_a_run_graph_are_still_checked() -> None:
    # A cycle among nodes given to add() is found at close() even when a validated graph is
    # run by the same executor (the graph's nodes are the ones not checked again).
    executor = Executor(RunContext(model=ScriptedModel([]), tools=ToolRegistry([])))
    executor.add(Subtask(id="x", fn=noop, after=("y", "n1")))
    executor.add(Subtask(id="y", fn=noop, after=("x",)))
    executor.add(Subtask(id="tail", fn=noop, after=("x",)))
    result = await executor.run(TaskGraph([Subtask(id="n0", fn=noop),
                                           Subtask(id="n1", fn=noop, after=("n0",))]))
    assert result.nodes["n0"].status is result.nodes["n1"].status is NodeStatus.DONE
    for node_id in ("x", "y"):
        error = result.nodes[node_id].error
        assert isinstance(error, GraphValidationError)
        assert str(error).startswith("cycle in task graph at node")
        assert error.node_id == node_id
    assert result.nodes["tail"].status is NodeStatus.SKIPPED
    assert result.status == "failed"


@tool
def calc(x: int) -> int:
    """Double a number."""
    return 2 * x


async def test_large_shuffled_graph_runs_each_node_once_after_its_inputs() -> None:
    rng = random.Random(3)
    n = 3_000  # above collector.LARGE_BATCH, so the collector is tuned during the run
    done: set[int] = set()
    order: list[int] = []

    def fn(i: int, parents: tuple[int, ...]) -> Any:
        async def node(ctx: RunContext, inputs: dict[str, Any]) -> int:
            assert set(parents) <= done
            if i % 7 == 0:
                await asyncio.sleep(0)
            done.add(i)
            order.append(i)
            return i
        return node

    nodes: list[Subtask] = []
    for i in range(n):
        parents = tuple(rng.sample(range(i), min(3, i)))
        nodes.append(Subtask(id=f"n{i}", fn=fn(i, parents),
                             after=tuple(f"n{p}" for p in parents)))
    rng.shuffle(nodes)
    ctx = RunContext(model=ScriptedModel([]), tools=ToolRegistry([calc]))
    result = await Executor(ctx, max_concurrency=8).run(TaskGraph(nodes))
    assert result.status == "ok"
    assert sorted(order) == list(range(n))
    assert result.outputs == {f"n{i}": i for i in range(n)}
