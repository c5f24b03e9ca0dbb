"""A run rebuilt from its stored events: steps, rounds, nodes and calls, ready to display.

The events say everything but in a flat stream; :func:`build_trace` folds them into a tree:

- a *planner step* groups the calls a planner made outside the task graph under one node id
  (``plan-1``, ``join-1``, ``search``, ``step-3``; calls without a node id go to ``(run)``);
- a *round* groups the graph nodes added between two planner steps (one plan and its tasks);
- each node holds the model and tool calls made for it.

Calls are numbered 1, 2, ... in the order they started, model and tool calls alike: that number
is what ``forethought trace --call N`` and the HTML page use. Events of kinds this module does
not know (``selection`` decisions, say, or events a plugin emits) are kept as notes, shown
generically; nothing in the stream is dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from forethought.runtime.store import RunRecord

CallKind = Literal["model", "tool"]
NodeState = Literal["pending", "running", "done", "failed", "skipped"]

_KNOWN = frozenset({
    "run_started", "run_finished", "node_added", "node_started", "node_finished",
    "node_failed", "node_skipped", "model_call_started", "model_call_finished",
    "tool_call_started", "tool_call_finished"})
_NOTE_FIELDS = ("kind", "run_id", "node_id", "ts")
DECISION_KINDS = frozenset({"selection", "selection_decision", "arm_finished"})
"""Events shown as the selection agent's decisions (the trace page's Decisions tab)."""


@dataclass(kw_only=True)
class CallTrace:
    """One model or tool call."""

    n: int
    """Position among the run's calls by start time (1-based)."""
    kind: CallKind
    call_id: int
    """The call's id among calls of its kind (0 for tool calls in stores older than ids)."""
    node_id: str | None
    name: str
    """The model's or the tool's name."""
    start: float
    end: float | None = None
    purpose: str | None = None
    usage: dict[str, Any] = field(default_factory=dict[str, Any])
    cached: bool = False
    error: str | None = None
    arguments: dict[str, Any] | None = None
    output: str | None = None
    """A tool call's output as the event kept it (500 characters at most)."""
    request: dict[str, Any] | None = None
    """Content (when the store kept it): messages, settings, tools."""
    response: dict[str, Any] | None = None
    """Content: the samples' text and tool calls."""
    result: str | None = None
    """Content: a tool's whole result."""

    @property
    def duration(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.start)

    @property
    def prompt_tokens(self) -> int:
        return int(self.usage.get("prompt_tokens", 0))

    @property
    def completion_tokens(self) -> int:
        return int(self.usage.get("completion_tokens", 0))

    @property
    def cost_usd(self) -> float:
        return float(self.usage.get("cost_usd", 0.0))

    @property
    def label(self) -> str:
        """``chat MODEL`` or ``execute_tool NAME``, the OpenTelemetry span names."""
        return f"chat {self.name}" if self.kind == "model" else f"execute_tool {self.name}"


@dataclass(kw_only=True)
class Totals:
    """What a group of calls cost."""

    model_calls: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, call: CallTrace) -> None:
        if call.kind == "model":
            self.model_calls += 1
            self.prompt_tokens += call.prompt_tokens
            self.completion_tokens += call.completion_tokens
            self.cost_usd += call.cost_usd
        else:
            self.tool_calls += 1


def totals(calls: Iterable[CallTrace]) -> Totals:
    out = Totals()
    for call in calls:
        out.add(call)
    return out


@dataclass(kw_only=True)
class NodeTrace:
    """One task-graph node and the calls made for it."""

    id: str
    kind: str
    deps: tuple[str, ...]
    description: str
    round: int
    status: NodeState = "pending"
    attempts: int = 0
    added: float = 0.0
    start: float | None = None
    end: float | None = None
    output: str | None = None
    error: str | None = None
    calls: list[CallTrace] = field(default_factory=list[CallTrace])
    notes: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)


@dataclass(kw_only=True)
class Step:
    """A top-level entry of the tree: a planner step or a round of graph nodes."""

    kind: Literal["planner", "round"]
    label: str
    node_id: str | None = None
    """A planner step's node id (``None`` for calls made without one)."""
    number: int = 0
    """A round's number (1-based)."""
    nodes: list[NodeTrace] = field(default_factory=list[NodeTrace])
    calls: list[CallTrace] = field(default_factory=list[CallTrace])
    notes: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])

    def all_calls(self) -> list[CallTrace]:
        return self.calls + [c for node in self.nodes for c in node.calls]


@dataclass(kw_only=True)
class RunTrace:
    """A whole run, as :func:`build_trace` rebuilt it."""

    run_id: str
    status: str = "unknown"
    question: str | None = None
    answer: str | None = None
    error: str | None = None
    model: str = ""
    planner: str = ""
    start: float | None = None
    end: float | None = None
    usage: dict[str, Any] = field(default_factory=dict[str, Any])
    """The run's own usage report (from the store, else the ``run_finished`` event)."""
    meta: dict[str, Any] = field(default_factory=dict[str, Any])
    steps: list[Step] = field(default_factory=list[Step])
    nodes: dict[str, NodeTrace] = field(default_factory=dict[str, NodeTrace])
    calls: list[CallTrace] = field(default_factory=list[CallTrace])
    notes: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """Every event of another kind (planner, budget, selection, unknown), in order."""
    events: int = 0
    """How many events the trace was built from."""

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)

    @property
    def has_content(self) -> bool:
        """Whether the store kept any call's content (it keeps none with ``keep="metadata"``)."""
        return any(c.request is not None or c.response is not None or c.result is not None
                   for c in self.calls)

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """The selection agent's decisions: the plangen planner's ``selection_decision`` (why
        an arm was chosen) and ``arm_finished`` (what it gave and the reward learnt) events,
        and a plugin's ``selection`` notes.
        """
        return [n for n in self.notes if n.get("kind") in DECISION_KINDS]

    def call(self, n: int) -> CallTrace:
        """Call number ``n``; raises :class:`KeyError` naming the valid range."""
        if not 1 <= n <= len(self.calls):
            raise KeyError(f"run {self.run_id!r} has no call {n}: its calls are numbered "
                           + (f"1 to {len(self.calls)}" if self.calls else "(none: no calls)"))
        return self.calls[n - 1]


def note_detail(note: dict[str, Any]) -> dict[str, Any]:
    """A note's own fields (without kind, run id, node id and time)."""
    return {k: v for k, v in note.items() if k not in _NOTE_FIELDS}


class _Builder:
    """Folds events into a :class:`RunTrace` in one pass."""

    def __init__(self, trace: RunTrace) -> None:
        self.trace = trace
        self.open_model: dict[int, CallTrace] = {}
        self.open_tool: dict[int, CallTrace] = {}
        self.open_tool_fifo: dict[tuple[str | None, str], deque[CallTrace]] = {}
        self.rounds = 0
        self.round_open = False
        """Whether the next node joins the current round (no planner step since its last)."""

    # -- placement --------------------------------------------------------------------------

    def _planner_step(self, node_id: str | None) -> Step:
        steps = self.trace.steps
        if steps and steps[-1].kind == "planner" and steps[-1].node_id == node_id:
            return steps[-1]
        step = Step(kind="planner", label=node_id if node_id is not None else "(run)",
                    node_id=node_id)
        steps.append(step)
        self.round_open = False
        return step

    def _add_call(self, call: CallTrace) -> None:
        self.trace.calls.append(call)
        node = self.trace.nodes.get(call.node_id) if call.node_id is not None else None
        if node is not None:
            node.calls.append(call)
        else:
            self._planner_step(call.node_id).calls.append(call)

    def _add_node(self, event: dict[str, Any]) -> None:
        node_id = str(event.get("node_id"))
        if node_id in self.trace.nodes:
            return
        if not self.round_open:
            self.rounds += 1
            self.trace.steps.append(Step(kind="round", label=f"round {self.rounds}",
                                         number=self.rounds))
            self.round_open = True
        node = NodeTrace(id=node_id, kind=str(event.get("node_kind", "")),
                         deps=tuple(event.get("deps") or ()),
                         description=str(event.get("description", "")), round=self.rounds,
                         added=float(event.get("ts", 0.0)))
        self.trace.nodes[node_id] = node
        self.trace.steps[-1].nodes.append(node)

    def _add_note(self, event: dict[str, Any]) -> None:
        self.trace.notes.append(event)
        node_id = event.get("node_id")
        node = self.trace.nodes.get(node_id) if isinstance(node_id, str) else None
        if node is not None:
            node.notes.append(event)
            return
        steps = self.trace.steps
        if steps and steps[-1].kind == "planner" and steps[-1].node_id == node_id:
            steps[-1].notes.append(event)
        elif node_id is not None:
            self._planner_step(node_id).notes.append(event)
        elif steps:
            # Run-level notes (a planner's decisions) go with the step they follow.
            steps[-1].notes.append(event)
        else:
            self._planner_step(None).notes.append(event)

    # -- events -----------------------------------------------------------------------------

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("kind", "event")
        ts = float(event.get("ts", 0.0))
        trace = self.trace
        trace.events += 1
        if trace.start is None or ts < trace.start:
            trace.start = ts
        if trace.end is None or ts > trace.end:
            trace.end = ts
        if kind not in _KNOWN:
            self._add_note(event)
            return
        handler = getattr(self, f"_on_{kind}")
        handler(event, ts)

    def _on_run_started(self, event: dict[str, Any], ts: float) -> None:
        trace = self.trace
        trace.question = trace.question or event.get("question")
        trace.model = str(event.get("model") or trace.meta.get("model") or "")
        trace.planner = str(event.get("planner") or trace.meta.get("planner") or "")

    def _on_run_finished(self, event: dict[str, Any], ts: float) -> None:
        trace = self.trace
        if trace.status in ("unknown", "running"):
            trace.status = str(event.get("status", trace.status))
        trace.answer = trace.answer if trace.answer is not None else event.get("answer")
        trace.error = trace.error if trace.error is not None else event.get("error")
        if not trace.usage and isinstance(event.get("usage"), dict):
            trace.usage = dict(event["usage"])

    def _on_node_added(self, event: dict[str, Any], ts: float) -> None:
        self._add_node(event)

    def _node(self, event: dict[str, Any]) -> NodeTrace | None:
        node_id = event.get("node_id")
        return self.trace.nodes.get(node_id) if isinstance(node_id, str) else None

    def _on_node_started(self, event: dict[str, Any], ts: float) -> None:
        if (node := self._node(event)) is not None:
            node.status = "running"
            node.attempts = int(event.get("attempt", node.attempts + 1))
            node.start = node.start if node.start is not None else ts

    def _on_node_finished(self, event: dict[str, Any], ts: float) -> None:
        if (node := self._node(event)) is not None:
            node.status, node.end, node.output = "done", ts, event.get("output")
            node.error = None

    def _on_node_failed(self, event: dict[str, Any], ts: float) -> None:
        if (node := self._node(event)) is not None:
            node.error = str(event.get("error", ""))
            if not event.get("will_retry"):
                node.status, node.end = "failed", ts

    def _on_node_skipped(self, event: dict[str, Any], ts: float) -> None:
        if (node := self._node(event)) is not None:
            node.status, node.end = "skipped", ts
            node.error = str(event.get("reason", ""))

    def _on_model_call_started(self, event: dict[str, Any], ts: float) -> None:
        call = CallTrace(n=len(self.trace.calls) + 1, kind="model",
                         call_id=int(event.get("call_id", 0)), node_id=event.get("node_id"),
                         name=str(event.get("model", "")), purpose=event.get("purpose"),
                         start=ts, request=event.get("request"))
        self.open_model[call.call_id] = call
        self._add_call(call)

    def _on_model_call_finished(self, event: dict[str, Any], ts: float) -> None:
        call = self.open_model.pop(int(event.get("call_id", 0)), None)
        if call is None:  # a finish without its start (a store cut short): still a call
            self._on_model_call_started(event, ts)
            call = self.open_model.pop(int(event.get("call_id", 0)))
        call.end = ts
        call.usage = dict(event.get("usage") or {})
        call.cached = bool(event.get("cached", False))
        call.error = event.get("error")
        call.response = event.get("response")

    def _on_tool_call_started(self, event: dict[str, Any], ts: float) -> None:
        call = CallTrace(n=len(self.trace.calls) + 1, kind="tool",
                         call_id=int(event.get("call_id", 0)), node_id=event.get("node_id"),
                         name=str(event.get("tool", "")), start=ts,
                         arguments=dict(event.get("arguments") or {}))
        if call.call_id:
            self.open_tool[call.call_id] = call
        else:  # stores older than tool call ids: pair by node and tool, first in first out
            self.open_tool_fifo.setdefault((call.node_id, call.name), deque()).append(call)
        self._add_call(call)

    def _on_tool_call_finished(self, event: dict[str, Any], ts: float) -> None:
        call_id = int(event.get("call_id", 0))
        if call_id:
            call = self.open_tool.pop(call_id, None)
        else:
            queue = self.open_tool_fifo.get((event.get("node_id"), str(event.get("tool", ""))))
            call = queue.popleft() if queue else None
        if call is None:
            duration = float(event.get("duration_s", 0.0))
            call = CallTrace(n=len(self.trace.calls) + 1, kind="tool", call_id=call_id,
                             node_id=event.get("node_id"), name=str(event.get("tool", "")),
                             start=ts - duration)
            self._add_call(call)
        call.end = ts
        call.output = event.get("output")
        call.error = event.get("error")
        call.result = event.get("result")


def build_trace(run_id: str, events: Iterable[dict[str, Any]],
                record: RunRecord | None = None) -> RunTrace:
    """Fold a run's events (as :meth:`RunStore.events` yields them) into a :class:`RunTrace`;
    ``record`` (the run's row) supplies the status, answer and usage it reported.
    """
    trace = RunTrace(run_id=run_id)
    if record is not None:
        trace.status, trace.question, trace.answer = record.status, record.question, \
            record.answer
        trace.error, trace.usage, trace.meta = record.error, dict(record.usage), dict(record.meta)
    builder = _Builder(trace)
    for event in events:
        builder.feed(event)
    if record is not None:
        trace.start = record.created if trace.start is None else min(trace.start, record.created)
        if record.finished is not None:
            trace.end = record.finished if trace.end is None else max(trace.end, record.finished)
    # Calls are numbered by start time; events arrive in that order except when a finish had
    # no start, so renumber once in start order.
    trace.calls.sort(key=lambda c: (c.start, c.n))
    for i, call in enumerate(trace.calls, 1):
        call.n = i
    return trace
