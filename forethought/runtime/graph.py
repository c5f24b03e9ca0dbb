"""Task graphs: subtasks whose inputs reference other subtasks' outputs."""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeAlias

from forethought.exceptions import GraphValidationError

if TYPE_CHECKING:
    from forethought.runtime.context import RunContext

NodeKind = Literal["llm", "tool", "function", "search", "verify", "join"]
NodeFn: TypeAlias = Callable[["RunContext", dict[str, Any]], Awaitable[Any]]
"""A node's work: receives the run context and its resolved inputs, returns its output."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to another node's output, replaced by that output before the node runs."""

    node: str

    def __repr__(self) -> str:
        return f"${self.node}"


@dataclass(frozen=True, slots=True)
class Template:
    """Text with embedded references (``"$1 * 12"``), rendered with the outputs' text."""

    parts: tuple[str | Ref, ...]

    def render(self, outputs: Mapping[str, Any]) -> str:
        from forethought.runtime.rendering import render_output

        return "".join(p if isinstance(p, str) else render_output(outputs[p.node])
                       for p in self.parts)

    def __repr__(self) -> str:
        return "".join(p if isinstance(p, str) else repr(p) for p in self.parts)


def collect_refs(value: Any, into: set[str] | None = None) -> set[str]:
    """Every node id referenced anywhere inside ``value``."""
    found = set[str]() if into is None else into
    if isinstance(value, Ref):
        found.add(value.node)
    elif isinstance(value, Template):
        found.update(p.node for p in value.parts if isinstance(p, Ref))
    elif isinstance(value, dict):
        for v in value.values():  # pyright: ignore[reportUnknownVariableType]
            collect_refs(v, found)
    elif isinstance(value, list | tuple):
        for v in value:  # pyright: ignore[reportUnknownVariableType]
            collect_refs(v, found)
    return found


def resolve(value: Any, outputs: Mapping[str, Any]) -> Any:
    """``value`` with every :class:`Ref` and :class:`Template` replaced by outputs."""
    if isinstance(value, Ref):
        return outputs[value.node]
    if isinstance(value, Template):
        return value.render(outputs)
    if isinstance(value, dict):
        return {k: resolve(v, outputs) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return [resolve(v, outputs) for v in value]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, tuple):
        return tuple(resolve(v, outputs) for v in value)  # pyright: ignore[reportUnknownVariableType]
    return value


@dataclass(kw_only=True, slots=True)
class Subtask:
    """One node of a task graph."""

    id: str
    kind: NodeKind = "function"
    tool: str | None = None
    """For ``kind="tool"``: the registered tool to call with ``args``."""
    args: dict[str, Any] = field(default_factory=dict[str, Any])
    """Inputs; any value may be (or contain) a :class:`Ref` or :class:`Template`."""
    fn: NodeFn | None = None
    """For function-like kinds: the coroutine function that does the work."""
    after: tuple[str, ...] = ()
    """Extra ordering dependencies whose outputs are not inputs."""
    description: str = ""
    timeout_s: float | None = None
    """Overrides the executor's per-node timeout."""
    retries: int | None = None
    """Overrides the failure policy's retry count."""
    deps: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        if not self.id:
            raise GraphValidationError("a subtask needs a non-empty id")
        if self.kind == "tool":
            if not self.tool:
                raise GraphValidationError(f"node {self.id!r}: a tool node needs a tool name",
                                           node_id=self.id)
        elif self.kind == "llm":
            if "prompt" not in self.args:
                raise GraphValidationError(f"node {self.id!r}: an llm node needs a 'prompt' arg",
                                           node_id=self.id)
        elif self.fn is None:
            raise GraphValidationError(f"node {self.id!r}: a {self.kind} node needs fn=",
                                       node_id=self.id)
        self.deps = frozenset(collect_refs(self.args, set(self.after)) if self.args
                              else self.after)
        if self.id in self.deps:
            raise GraphValidationError(f"node {self.id!r} references its own output",
                                       node_id=self.id)


class TaskGraph:
    """A DAG of subtasks. :meth:`validate` rejects cycles, dangling references and unknown tools
    before anything runs; the executor can also grow a graph while it runs.
    """

    def __init__(self, subtasks: Iterable[Subtask] = ()) -> None:
        self.nodes: dict[str, Subtask] = {}
        for st in subtasks:
            self.add(st)

    def add(self, subtask: Subtask) -> Subtask:
        if subtask.id in self.nodes:
            raise GraphValidationError(f"duplicate node id {subtask.id!r}", node_id=subtask.id)
        self.nodes[subtask.id] = subtask
        return subtask

    def __iter__(self) -> Iterator[Subtask]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def validate(self, tools: Collection[str] | None = None) -> None:
        """Raise :class:`GraphValidationError` naming the first offending node: an unknown
        tool or a reference to no node, in the order the nodes were added; then a cycle.
        """
        nodes = self.nodes
        # One pass over nodes listed after their dependencies (as planners write them)
        # proves that nothing dangles and nothing cycles. A node that refers ahead ends it.
        earlier: set[str] = set()
        ahead: Subtask | None = None
        for st in nodes.values():
            if st.kind == "tool" and tools is not None and st.tool not in tools:
                _unknown_tool(st, tools)
            if not earlier.issuperset(st.deps):
                ahead = st
                break
            earlier.add(st.id)
        if ahead is None:
            return
        ids = nodes.keys()
        for st in itertools.dropwhile(lambda st: st is not ahead, nodes.values()):
            if st.kind == "tool" and tools is not None and st.tool not in tools:
                _unknown_tool(st, tools)
            if not ids >= st.deps:  # one C-level subset test per node; names come after
                dep = min(d for d in st.deps if d not in nodes)
                raise GraphValidationError(
                    f"node {st.id!r} references ${dep}, which is not a node of the graph",
                    node_id=st.id)
        cycle = find_cycle({st.id: st.deps for st in nodes.values()})
        if cycle:
            raise GraphValidationError(cycle_message(cycle), node_id=cycle[0])

    def to_networkx(self) -> Any:
        """The graph as a ``networkx.DiGraph``, edges pointing from input to consumer."""
        g = _networkx().DiGraph()
        for st in self.nodes.values():
            g.add_node(st.id, kind=st.kind)
            for dep in st.deps:
                g.add_edge(dep, st.id)
        return g


def _unknown_tool(st: Subtask, tools: Collection[str]) -> NoReturn:
    valid = ", ".join(repr(t) for t in sorted(tools))
    raise GraphValidationError(
        f"node {st.id!r} calls unknown tool {st.tool!r}; available tools: {valid}",
        node_id=st.id)


def cycle_message(cycle: list[str]) -> str:
    """Describe a cycle given in dependency order (each node needs the next)."""
    steps = ", ".join(f"{a!r} needs {b!r}" for a, b in zip(cycle, [*cycle[1:], cycle[0]],
                                                           strict=True))
    return f"cycle in task graph at node {cycle[0]!r}: {steps}"


def find_cycle(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """A cycle among ``deps`` (node -> nodes it depends on) in dependency order, or ``[]``.
    Dependencies on nodes that are not keys of ``deps`` are ignored.

    Graphs usually list each node after its dependencies (planners write them so), which one
    pass over the nodes confirms. Otherwise Kahn's algorithm, also linear, finds the nodes
    left on or behind cycles, and only those go to networkx (slow to import) to name a cycle.
    """
    seen: set[str] = set()
    for node, ds in deps.items():
        if not seen.issuperset(ds) and any(d in deps for d in ds if d not in seen):
            break
        seen.add(node)
    else:
        return []
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
    nx = _networkx()
    g = nx.DiGraph()
    for node in left:
        for d in deps[node]:
            if d in indegree and indegree[d] > 0:
                g.add_edge(node, d)
    edges: list[tuple[str, str]] = nx.find_cycle(g)
    return [u for u, _v in edges]


def _networkx() -> Any:
    # networkx takes ~0.4 s to import and ships no types; load it only when a cycle needs
    # naming or a caller asks for a networkx graph.
    return importlib.import_module("networkx")
