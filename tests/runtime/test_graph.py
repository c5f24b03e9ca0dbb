"""Task graph construction and static validation."""

from __future__ import annotations

from typing import Any

import pytest

from forethought.exceptions import GraphValidationError
from forethought.runtime.context import RunContext
from forethought.runtime.graph import Ref, Subtask, TaskGraph, Template, collect_refs, resolve


async def noop(ctx: RunContext, inputs: dict[str, Any]) -> None:
    return None


def test_deps_come_from_refs_anywhere_in_args() -> None:
    st = Subtask(id="x", fn=noop, args={"a": Ref("1"), "b": [Ref("2"), {"c": Ref("3")}],
                                        "d": Template(("$", Ref("4"), "!"))}, after=("5",))
    assert st.deps == {"1", "2", "3", "4", "5"}
    assert collect_refs(st.args) == {"1", "2", "3", "4"}


def test_resolve_substitutes_outputs() -> None:
    args = {"a": Ref("1"), "b": [Ref("2"), "k"], "t": Template(("v=", Ref("1"), " w=", Ref("2")))}
    assert resolve(args, {"1": 7, "2": [1, 2]}) == {"a": 7, "b": [[1, 2], "k"], "t": "v=7 w=[1, 2]"}


def test_cycle_rejected_naming_nodes() -> None:
    graph = TaskGraph([Subtask(id="a", fn=noop, after=("c",)), Subtask(id="b", fn=noop,
                       after=("a",)), Subtask(id="c", fn=noop, after=("b",)),
                       Subtask(id="d", fn=noop)])
    expected = r"cycle in task graph at node 'a': 'a' needs 'c', 'c' needs 'b', 'b' needs 'a'"
    with pytest.raises(GraphValidationError, match=expected) as info:
        graph.validate()
    assert info.value.node_id in {"a", "b", "c"}


def test_dangling_reference_rejected_naming_node() -> None:
    graph = TaskGraph([Subtask(id="a", fn=noop), Subtask(id="b", fn=noop, args={"x": Ref("z")})])
    with pytest.raises(GraphValidationError, match=r"node 'b' references \$z") as info:
        graph.validate()
    assert info.value.node_id == "b"


def test_unknown_tool_rejected_with_valid_names() -> None:
    graph = TaskGraph([Subtask(id="t", kind="tool", tool="sarch")])
    with pytest.raises(GraphValidationError,
                       match=r"node 't' calls unknown tool 'sarch'; available tools: 'search'"):
        graph.validate(["search"])


def test_malformed_subtasks() -> None:
    with pytest.raises(GraphValidationError, match="references its own output"):
        Subtask(id="a", fn=noop, args={"x": Ref("a")})
    with pytest.raises(GraphValidationError, match="needs a tool name"):
        Subtask(id="a", kind="tool")
    with pytest.raises(GraphValidationError, match="needs fn="):
        Subtask(id="a", kind="function")
    with pytest.raises(GraphValidationError, match="'prompt'"):
        Subtask(id="a", kind="llm")
    with pytest.raises(GraphValidationError, match="duplicate node id 'a'"):
        TaskGraph([Subtask(id="a", fn=noop), Subtask(id="a", fn=noop)])


def test_to_networkx() -> None:
    graph = TaskGraph([Subtask(id="a", fn=noop), Subtask(id="b", fn=noop, after=("a",))])
    g = graph.to_networkx()
    assert list(g.edges) == [("a", "b")]
