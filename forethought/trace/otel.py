"""OpenTelemetry export: a run's events become spans following the GenAI semantic conventions.

``OTelExporter`` is an event subscriber (``Agent(..., subscribers=[OTelExporter()])``, or
``forethought run --otel``). Per run it opens::

    invoke_agent [gen_ai.agent.name]       the run (INTERNAL)
    ├── plan                               a planning call (purpose plan or decompose)
    │   └── chat {model}                   the call itself (CLIENT)
    ├── chat {model}                       every other model call
    └── execute_tool {tool}                every tool call (INTERNAL)

Token usage is only on the ``chat`` spans (``gen_ai.usage.input_tokens`` and
``output_tokens``), so a backend that sums usage over a trace counts each token once; the
run's totals are on ``invoke_agent`` under ``forethought.run.*``. Planner decisions, budget
refusals, failed nodes and events of other kinds (``selection``...) become span events on
``invoke_agent``. Message content (``gen_ai.input.messages``, ``gen_ai.output.messages``,
tool arguments and results) is recorded only when asked for (``capture_content=True`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``), capped per field.

Spans carry the events' own times, so they are exact whatever the exporter's delay. The
``opentelemetry`` packages (the ``otel`` extra) are imported when an exporter is built.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forethought._version import __version__
from forethought.exceptions import UserError
from forethought.runtime.call_content import DEFAULT_FIELD_CAP, cap
from forethought.runtime.events import (
    Event,
    ModelCallFinished,
    ModelCallStarted,
    RunFinished,
    RunStarted,
    ToolCallFinished,
    ToolCallStarted,
)
from forethought.runtime.rendering import render_output
from forethought.trace import genai

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

INSTALL_HINT = "pip install 'forethought[otel]'"
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
PLANNING_PURPOSES = frozenset({"plan", "decompose"})
"""Model-call purposes that are planning or task decomposition (a ``plan`` span each)."""
_SPAN_EVENT_SKIP = frozenset({"node_added", "node_started", "node_finished", "node_skipped"})


def require_otel() -> None:
    """Raise :class:`UserError` with the install hint when OpenTelemetry is missing."""
    try:
        import opentelemetry.trace  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError:
        raise UserError("OpenTelemetry export needs the `otel` extra: "
                        f"{INSTALL_HINT}") from None


def _ns(ts: float) -> int:
    return int(ts * 1e9)


def _scalar(value: Any) -> str | bool | int | float:
    if isinstance(value, str | bool | int | float):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass
class _Run:
    """The spans of one run in flight."""

    agent: Span
    provider: str
    model: str
    chats: dict[int, tuple[Span, Span | None]] = field(
        default_factory=dict[int, "tuple[Span, Span | None]"])
    tools: dict[int, Span] = field(default_factory=dict[int, "Span"])


class OTelExporter:
    """An event subscriber that exports runs as OpenTelemetry spans (see the module docs).

    Args:
        tracer_provider: Where spans go (default: the global provider, which is a no-op
            until the application configures one).
        capture_content: Record messages, completions and tool arguments and results on
            the spans. Default: ``$OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
        agent_name: ``gen_ai.agent.name`` (a recipe's name, say); the span is then named
            ``invoke_agent {agent_name}``.
        max_content_chars: The most characters of any one content field.
    """

    def __init__(self, *, tracer_provider: TracerProvider | None = None,
                 capture_content: bool | None = None, agent_name: str | None = None,
                 max_content_chars: int = DEFAULT_FIELD_CAP) -> None:
        require_otel()
        from opentelemetry import trace

        self._trace = trace
        self._tracer: Tracer = trace.get_tracer("forethought", __version__,
                                                tracer_provider=tracer_provider)
        if capture_content is None:
            capture_content = os.environ.get(CAPTURE_ENV, "").strip().lower() in ("true", "1")
        self.capture_content = capture_content
        self.agent_name = agent_name
        self.max_content_chars = max_content_chars
        self._runs: dict[str, _Run] = {}

    # -- the subscriber ----------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._run_started(event)
            return
        run = self._runs.get(event.run_id)
        if run is None:
            return  # a run that started before this exporter was subscribed
        if isinstance(event, ModelCallStarted):
            self._chat_started(run, event)
        elif isinstance(event, ModelCallFinished):
            self._chat_finished(run, event)
        elif isinstance(event, ToolCallStarted):
            self._tool_started(run, event)
        elif isinstance(event, ToolCallFinished):
            self._tool_finished(run, event)
        elif isinstance(event, RunFinished):
            self._run_finished(run, event)
        elif event.kind not in _SPAN_EVENT_SKIP:
            attrs = {f"forethought.{k}": _scalar(v) for k, v in event.to_dict().items()
                     if k not in ("kind", "ts", "run_id") and v is not None}
            run.agent.add_event(f"forethought.{event.kind}", attrs, timestamp=_ns(event.ts))

    # -- spans -------------------------------------------------------------------------------

    def _child_context(self, parent: Span) -> Any:
        return self._trace.set_span_in_context(parent)

    def _run_started(self, event: RunStarted) -> None:
        provider = genai.provider_name(event.model)
        attrs: dict[str, Any] = {genai.OPERATION: "invoke_agent", genai.PROVIDER: provider,
                                 "forethought.run_id": event.run_id}
        if event.model:
            attrs[genai.REQUEST_MODEL] = event.model
        if self.agent_name:
            attrs[genai.AGENT_NAME] = self.agent_name
        if event.planner:
            attrs["forethought.planner"] = event.planner
        if self.capture_content and event.question:
            attrs[genai.INPUT_MESSAGES] = genai.text_messages("user", event.question,
                                                              self.max_content_chars)
        name = f"invoke_agent {self.agent_name}" if self.agent_name else "invoke_agent"
        span = self._tracer.start_span(name, kind=self._trace.SpanKind.INTERNAL,
                                       attributes=attrs, start_time=_ns(event.ts))
        self._runs[event.run_id] = _Run(agent=span, provider=provider, model=event.model)

    def _chat_started(self, run: _Run, event: ModelCallStarted) -> None:
        parent = run.agent
        plan: Span | None = None
        if event.purpose in PLANNING_PURPOSES:
            plan_attrs: dict[str, Any] = {genai.OPERATION: "plan"}
            if self.agent_name:
                plan_attrs[genai.AGENT_NAME] = self.agent_name
            plan = self._tracer.start_span(
                f"plan {self.agent_name}" if self.agent_name else "plan",
                context=self._child_context(run.agent), kind=self._trace.SpanKind.INTERNAL,
                attributes=plan_attrs, start_time=_ns(event.ts))
            parent = plan
        provider = genai.provider_name(event.model)
        attrs: dict[str, Any] = {genai.OPERATION: "chat", genai.PROVIDER: provider,
                                 genai.REQUEST_MODEL: event.model,
                                 "forethought.call_id": event.call_id}
        if event.node_id is not None:
            attrs["forethought.node_id"] = event.node_id
        if event.purpose:
            attrs["forethought.purpose"] = event.purpose
        if event.request is not None:
            attrs.update(genai.request_attributes(event.request))
            if self.capture_content:
                attrs[genai.INPUT_MESSAGES] = genai.input_messages(event.request,
                                                                   self.max_content_chars)
        # In-process offline models are not remote calls.
        kind = self._trace.SpanKind.INTERNAL if provider == genai.OFFLINE_PROVIDER \
            else self._trace.SpanKind.CLIENT
        span = self._tracer.start_span(f"chat {event.model}", context=self._child_context(parent),
                                       kind=kind, attributes=attrs, start_time=_ns(event.ts))
        run.chats[event.call_id] = (span, plan)

    def _chat_finished(self, run: _Run, event: ModelCallFinished) -> None:
        spans = run.chats.pop(event.call_id, None)
        if spans is None:
            return
        span, plan = spans
        span.set_attribute(genai.INPUT_TOKENS, event.usage.prompt_tokens)
        span.set_attribute(genai.OUTPUT_TOKENS, event.usage.completion_tokens)
        span.set_attribute("forethought.cost_usd", event.usage.cost_usd)
        span.set_attribute("forethought.cached", event.cached)
        if event.response is not None:
            span.set_attribute(genai.RESPONSE_MODEL, event.response.model)
            span.set_attribute(genai.FINISH_REASONS, [c.finish_reason or "stop"
                                                      for c in event.response.choices])
            if self.capture_content:
                span.set_attribute(genai.OUTPUT_MESSAGES, genai.output_messages(
                    event.response, self.max_content_chars))
        end = _ns(event.ts)
        self._finish(span, event.error, end)
        if plan is not None:
            self._finish(plan, event.error, end)

    def _tool_started(self, run: _Run, event: ToolCallStarted) -> None:
        attrs: dict[str, Any] = {genai.OPERATION: "execute_tool", genai.TOOL_NAME: event.tool,
                                 genai.TOOL_CALL_ID: str(event.call_id),
                                 genai.TOOL_TYPE: "function"}
        if event.node_id is not None:
            attrs["forethought.node_id"] = event.node_id
        if self.capture_content:
            attrs[genai.TOOL_ARGUMENTS] = cap(json.dumps(event.arguments, ensure_ascii=False,
                                                         default=str), self.max_content_chars)
        run.tools[event.call_id] = self._tracer.start_span(
            f"execute_tool {event.tool}", context=self._child_context(run.agent),
            kind=self._trace.SpanKind.INTERNAL, attributes=attrs, start_time=_ns(event.ts))

    def _tool_finished(self, run: _Run, event: ToolCallFinished) -> None:
        span = run.tools.pop(event.call_id, None)
        if span is None:
            return
        if self.capture_content and event.error is None:
            span.set_attribute(genai.TOOL_RESULT, cap(render_output(event.result),
                                                      self.max_content_chars))
        self._finish(span, event.error, _ns(event.ts))

    def _run_finished(self, run: _Run, event: RunFinished) -> None:
        end = _ns(event.ts)
        # Calls still open when the run ended (cancelled without their finish event).
        for span, plan in run.chats.values():
            self._finish(span, "cancelled: the run ended first", end)
            if plan is not None:
                self._finish(plan, "cancelled: the run ended first", end)
        for span in run.tools.values():
            self._finish(span, "cancelled: the run ended first", end)
        agent = run.agent
        usage = event.usage
        agent.set_attributes({
            "forethought.run.status": event.status,
            "forethought.run.model_calls": usage.model_calls,
            "forethought.run.input_tokens": usage.prompt_tokens,
            "forethought.run.output_tokens": usage.completion_tokens,
            "forethought.run.cost_usd": usage.cost_usd})
        if self.capture_content and event.answer is not None:
            agent.set_attribute(genai.OUTPUT_MESSAGES, genai.text_messages(
                "assistant", event.answer, self.max_content_chars, finish=True))
        if event.status == "ok":
            agent.end(end_time=end)
        else:
            agent.set_attribute(genai.ERROR_TYPE, event.status)
            self._set_error(agent, event.error or event.status)
            agent.end(end_time=end)
        del self._runs[event.run_id]

    def _set_error(self, span: Span, message: str) -> None:
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, message[:1000]))

    def _finish(self, span: Span, error: str | None, end: int) -> None:
        if error is not None:
            span.set_attribute(genai.ERROR_TYPE, genai.error_type(error))
            self._set_error(span, error)
        span.end(end_time=end)
