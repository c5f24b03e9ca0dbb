"""What the live view shows while a run goes, folded from the run's events: the task graph's
nodes with their states, the planner's own steps (plans, joins, the search), the search's
progress, and what the run has spent.

Pure bookkeeping, no I/O: :meth:`LiveState.feed` takes each event and returns the tool-call
lines to print as they happen; :mod:`forethought.repl.live_view` draws the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from forethought.runtime.events import (
    BudgetExhausted,
    Event,
    ModelCallFinished,
    ModelCallStarted,
    NodeAdded,
    NodeFailed,
    NodeFinished,
    NodeSkipped,
    NodeStarted,
    PlannerEvent,
    StrategyStep,
    ToolCallFinished,
    ToolCallStarted,
)

NodeStatus = Literal["pending", "running", "done", "failed", "skipped"]


@dataclass(kw_only=True)
class NodeView:
    """A task-graph node."""

    id: str
    kind: str
    description: str
    status: NodeStatus = "pending"
    output: str = ""
    error: str = ""


@dataclass(kw_only=True)
class StepView:
    """A planner step outside the graph (``plan-1``, ``join-1``, ``search``, ``history``):
    its model calls.
    """

    id: str
    running: int = 0
    done: int = 0
    failed: int = 0


@dataclass(kw_only=True)
class SearchView:
    """A search strategy's progress (its ``strategy_step`` events)."""

    node: str
    steps: int = 0
    actions: dict[str, int] = field(default_factory=dict[str, int])
    """Actions run so far, by tag."""
    failed: int = 0
    candidates: int = 0
    best_score: float | None = None
    best_answer: str | None = None


@dataclass(kw_only=True)
class ToolLine:
    """A tool call, to print when it starts and again when it ends."""

    n: int
    """The call's number in the run, as ``/trace`` numbers calls (model and tool calls in
    the order they started)."""
    tool: str
    arguments: dict[str, object]
    ended: bool = False
    output: str = ""
    error: str | None = None
    duration_s: float = 0.0


@dataclass(kw_only=True)
class LiveState:
    """One run as the live view knows it."""

    question: str
    started: float = field(default_factory=time.monotonic)
    nodes: dict[str, NodeView] = field(default_factory=dict[str, NodeView])
    steps: dict[str, StepView] = field(default_factory=dict[str, StepView])
    searches: dict[str, SearchView] = field(default_factory=dict[str, SearchView])
    model_calls: int = 0
    model_calls_running: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    last_note: str = ""
    """The planner's latest decision (``replan: ...``) or a budget refusal."""
    text: str = ""
    """The answer streamed so far."""
    tools_running: dict[tuple[str | None, int], ToolLine] = field(
        default_factory=dict[tuple[str | None, int], ToolLine])
    """Tool calls started and not ended, by node and call id."""
    _calls: int = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def counts(self) -> dict[NodeStatus, int]:
        out: dict[NodeStatus, int] = {}
        for node in self.nodes.values():
            out[node.status] = out.get(node.status, 0) + 1
        return out

    def feed(self, event: Event) -> ToolLine | None:
        """Take one event; the tool call it ends, if any (to print now: a running call is in
        :attr:`tools_running`, which the live view shows).
        """
        if isinstance(event, ModelCallStarted):
            self._calls += 1
            self.model_calls_running += 1
            if event.node_id not in self.nodes:
                step = self._step(event.node_id)
                step.running += 1
        elif isinstance(event, ModelCallFinished):
            self._model_finished(event)
        elif isinstance(event, ToolCallStarted):
            self._calls += 1
            self.tool_calls += 1
            self.tools_running[(event.node_id, event.call_id)] = ToolLine(
                n=self._calls, tool=event.tool, arguments=dict(event.arguments))
        elif isinstance(event, ToolCallFinished):
            line = self.tools_running.pop((event.node_id, event.call_id), None)
            if line is None:  # an end without its start: still shown
                self._calls += 1
                line = ToolLine(n=self._calls, tool=event.tool, arguments={})
            line.ended, line.output, line.error = True, event.output, event.error
            line.duration_s = event.duration_s
            return line
        else:
            self._graph(event)
        return None

    def _step(self, node_id: str | None) -> StepView:
        key = node_id or "(run)"
        if key not in self.steps:
            self.steps[key] = StepView(id=key)
        return self.steps[key]

    def _model_finished(self, event: ModelCallFinished) -> None:
        self.model_calls_running = max(0, self.model_calls_running - 1)
        self.model_calls += 1
        u = event.usage
        self.prompt_tokens += u.prompt_tokens
        self.completion_tokens += u.completion_tokens
        self.cost_usd += u.cost_usd
        if event.node_id not in self.nodes:
            step = self._step(event.node_id)
            step.running = max(0, step.running - 1)
            if event.error is None:
                step.done += 1
            else:
                step.failed += 1

    def _graph(self, event: Event) -> None:
        node = self.nodes.get(event.node_id or "")
        if isinstance(event, NodeAdded) and event.node_id is not None:
            self.nodes[event.node_id] = NodeView(id=event.node_id, kind=event.node_kind,
                                                 description=event.description)
        elif isinstance(event, NodeStarted) and node is not None:
            node.status = "running"
        elif isinstance(event, NodeFinished) and node is not None:
            node.status, node.output = "done", event.output
        elif isinstance(event, NodeFailed) and node is not None and not event.will_retry:
            node.status, node.error = "failed", event.error
        elif isinstance(event, NodeSkipped) and node is not None:
            node.status, node.error = "skipped", event.reason
        elif isinstance(event, StrategyStep):
            self._search(event)
        elif isinstance(event, PlannerEvent) and event.action:
            self.last_note = f"{event.action}: {event.detail}" if event.detail else event.action
        elif isinstance(event, BudgetExhausted):
            self.last_note = f"budget: {event.reason}"

    def _search(self, event: StrategyStep) -> None:
        key = event.node_id or "search"
        search = self.searches.get(key)
        if search is None:
            search = self.searches[key] = SearchView(node=key)
        search.steps = event.step
        for tag, count in event.actions.items():
            search.actions[tag or "other"] = search.actions.get(tag or "other", 0) + count
        search.failed += event.failed
        search.candidates = event.candidates
        search.best_score, search.best_answer = event.best_score, event.best_answer
