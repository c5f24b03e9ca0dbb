"""OpenTelemetry spans from runs, checked against the GenAI semantic conventions."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes
from opentelemetry.trace import SpanContext, SpanKind, StatusCode
from trace_support import REPLAN_QUESTION, REPLAN_SCRIPT, fail
from typer.testing import CliRunner

from forethought import Agent, ScriptedModel, UserError
from forethought.cli import app
from forethought.exceptions import ModelError
from forethought.runtime.call_content import CUT_MARKER
from forethought.trace import genai
from forethought.trace.otel import OTelExporter

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / "recipes" / "quickstart.yaml")


class Spans:
    def __init__(self, **options: Any) -> None:
        self.memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.exporter = OTelExporter(tracer_provider=provider, **options)

    @property
    def all(self) -> tuple[ReadableSpan, ...]:
        return self.memory.get_finished_spans()

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.all if s.name.startswith(prefix)]

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        return next(s for s in self.all if sc(s).span_id == span.parent.span_id)


def sc(span: ReadableSpan) -> SpanContext:
    assert span.context is not None
    return span.context


def replan_run(spans: Spans, script: ScriptedModel | None = None) -> Any:
    agent = Agent(script or ScriptedModel(list(REPLAN_SCRIPT)), tools=["calculator", fail],
                  store=None, subscribers=[spans.exporter])
    return agent.run(REPLAN_QUESTION)


def operation(span: ReadableSpan) -> str:
    return str((span.attributes or {})[genai.OPERATION])


def test_span_tree_names_and_kinds_follow_the_conventions() -> None:
    spans = Spans(agent_name="quickstart")
    replan_run(spans)
    names = sorted({s.name for s in spans.all})
    assert names == ["chat scripted", "execute_tool calculator", "execute_tool fail",
                     "invoke_agent quickstart", "plan quickstart"]
    (agent,) = spans.named("invoke_agent")
    assert spans.parent(agent) is None and agent.kind is SpanKind.INTERNAL
    plans = spans.named("plan")
    assert len(plans) == 2 and all(spans.parent(p) is agent for p in plans)
    chats = spans.named("chat")
    assert len(chats) == 4
    # Planning calls are children of their plan span; the joins of the agent span.
    assert [spans.parent(c).name for c in chats] == [  # type: ignore[union-attr]
        "plan quickstart", "invoke_agent quickstart", "plan quickstart",
        "invoke_agent quickstart"]
    tools = spans.named("execute_tool")
    assert len(tools) == 3 and all(spans.parent(t) is agent for t in tools)
    assert all(t.kind is SpanKind.INTERNAL for t in tools)
    assert all(sc(s).trace_id == sc(agent).trace_id for s in spans.all)


def test_every_span_has_its_required_attributes_and_only_registered_gen_ai_names() -> None:
    spans = Spans(capture_content=True, agent_name="a")
    replan_run(spans)
    registered = {v for k, v in vars(gen_ai_attributes).items() if k.startswith("GEN_AI_")
                  and isinstance(v, str)}
    for span in spans.all:
        attrs = dict(span.attributes or {})
        for key in genai.REQUIRED[operation(span)]:
            assert attrs.get(key) not in (None, ""), (span.name, key)
        unknown = {k for k in attrs if k.startswith("gen_ai.")} - registered
        assert not unknown, (span.name, unknown)
    chat = spans.named("chat")[0].attributes or {}
    assert chat[genai.PROVIDER] == "forethought" and chat[genai.REQUEST_MODEL] == "scripted"
    assert chat[genai.TEMPERATURE] == 0.0 and chat[genai.RESPONSE_MODEL] == "scripted"
    assert chat[genai.FINISH_REASONS] == ("stop",)
    tool = spans.named("execute_tool")[0].attributes or {}
    assert (tool[genai.TOOL_NAME], tool[genai.TOOL_TYPE], tool[genai.TOOL_CALL_ID]) == (
        "calculator", "function", "1")


def test_usage_is_on_chat_spans_only_so_it_sums_to_the_run_once() -> None:
    spans = Spans()
    result = replan_run(spans)
    total_in = total_out = 0
    for span in spans.all:
        attrs = span.attributes or {}
        if operation(span) == "chat":
            total_in += int(attrs[genai.INPUT_TOKENS])  # type: ignore[arg-type]
            total_out += int(attrs[genai.OUTPUT_TOKENS])  # type: ignore[arg-type]
        else:
            assert not any(k.startswith("gen_ai.usage.") for k in attrs), span.name
    assert (total_in, total_out) == (result.usage.prompt_tokens, result.usage.completion_tokens)
    agent = spans.named("invoke_agent")[0].attributes or {}
    assert agent["forethought.run.input_tokens"] == result.usage.prompt_tokens
    assert agent["forethought.run.model_calls"] == 4


def test_content_is_opt_in_follows_the_message_schemas_and_is_capped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spans = Spans()
    replan_run(spans)
    content_keys = {genai.INPUT_MESSAGES, genai.OUTPUT_MESSAGES, genai.TOOL_ARGUMENTS,
                    genai.TOOL_RESULT}
    assert not any(set(s.attributes or {}) & content_keys for s in spans.all)

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    spans = Spans(max_content_chars=40)
    script = ScriptedModel(list(REPLAN_SCRIPT))
    replan_run(spans, script)
    plan = spans.named("chat")[0].attributes or {}
    inputs = json.loads(str(plan[genai.INPUT_MESSAGES]))
    assert [m["role"] for m in inputs] == ["system", "user"]
    full = script.requests[0].messages[0].content
    assert inputs[0]["parts"] == [{"type": "text",
                                   "content": full[:40] + CUT_MARKER.format(len(full) - 40)}]
    outputs = json.loads(str(plan[genai.OUTPUT_MESSAGES]))
    assert outputs[0]["role"] == "assistant" and outputs[0]["finish_reason"] == "stop"
    assert outputs[0]["parts"][0]["content"].startswith('1. calculator(expression="2 + 2")')
    tool = spans.named("execute_tool calculator")[0].attributes or {}
    assert json.loads(str(tool[genai.TOOL_ARGUMENTS])) == {"expression": "2 + 2"}
    assert tool[genai.TOOL_RESULT] == "4"


def test_errors_set_status_and_error_type_on_the_span_that_failed() -> None:
    spans = Spans()
    with pytest.raises(ModelError):
        replan_run(spans, ScriptedModel([ModelError("provider down")]))
    (chat,) = spans.named("chat")
    assert chat.status.status_code is StatusCode.ERROR
    assert (chat.attributes or {})[genai.ERROR_TYPE] == "ModelError"
    (agent,) = spans.named("invoke_agent")
    assert agent.status.status_code is StatusCode.ERROR
    assert (agent.attributes or {})[genai.ERROR_TYPE] == "failed"
    spans = Spans()
    replan_run(spans)
    (failed,) = spans.named("execute_tool fail")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "tool 'fail' raised RuntimeError: disk on fire"
    assert (failed.attributes or {})[genai.ERROR_TYPE] == "_OTHER"


def test_concurrent_runs_through_one_exporter_get_separate_traces() -> None:
    spans = Spans()
    agent = Agent(ScriptedModel(lambda r: '1. calculator(expression="1 + 1")\n2. join()'
                                if r.purpose == "plan" else "Action: Finish(2)"),
                  tools=["calculator"], store=None, subscribers=[spans.exporter])

    async def both() -> list[Any]:
        return list(await asyncio.gather(agent.arun("a?"), agent.arun("b?")))

    results = asyncio.run(both())
    roots = spans.named("invoke_agent")
    assert len(roots) == 2 and sc(roots[0]).trace_id != sc(roots[1]).trace_id
    by_trace = {sc(r).trace_id: r for r in roots}
    for span in spans.all:
        assert sc(span).trace_id in by_trace
    assert {str((r.attributes or {})["forethought.run_id"]) for r in roots} == {
        r.run_id for r in results}


def test_span_times_are_the_events_times() -> None:
    events: list[Any] = []
    spans = Spans()
    agent = Agent(ScriptedModel(list(REPLAN_SCRIPT)), tools=["calculator", fail], store=None,
                  subscribers=[spans.exporter, events.append])
    agent.run(REPLAN_QUESTION)
    starts = [e.ts for e in events if e.kind == "model_call_started"]
    assert [s.start_time for s in spans.named("chat")] == [int(t * 1e9) for t in starts]


def test_provider_names_follow_the_conventions_list() -> None:
    assert [genai.provider_name(m) for m in (
        "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku", "bedrock/x", "gemini/g",
        "vertex_ai/g", "azure/gpt", "mistral/m", "xai/grok", "ollama/qwen2.5",
        "simulated", "scripted", "gpt-4o")] == [
        "openai", "anthropic", "aws.bedrock", "gcp.gemini", "gcp.vertex_ai",
        "azure.ai.openai", "mistral_ai", "x_ai", "ollama", "forethought", "forethought",
        "_OTHER"]


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    with pytest.raises(UserError, match=r"needs the `otel` extra: pip install "
                                        r"'forethought\[otel\]'"):
        OTelExporter()


runner = CliRunner()


def test_cli_otel_console_prints_the_spans() -> None:
    result = runner.invoke(app, ["run", QUICKSTART, "--otel-console"])
    assert result.exit_code == 0, result.output
    spans: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    text = result.output
    index = text.find("{")
    while index != -1:
        span, end = decoder.raw_decode(text, index)
        spans.append(span)
        index = text.find("{", end)
    names = {s["name"] for s in spans}
    assert names == {"invoke_agent quickstart", "plan quickstart", "chat simulated",
                     "execute_tool calculator"}
    root = next(s for s in spans if s["name"].startswith("invoke_agent"))
    assert root["attributes"]["gen_ai.agent.name"] == "quickstart"
    assert root["resource"]["attributes"]["service.name"] == "forethought"


@pytest.fixture
def collector() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """An OTLP/HTTP trace receiver on 127.0.0.1, stopped by the test."""
    received: list[ExportTraceServiceRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.append(request)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_cli_otel_exports_over_otlp_as_the_standard_variables_say(
        collector: tuple[str, list[ExportTraceServiceRequest]]) -> None:
    endpoint, received = collector
    result = runner.invoke(app, ["run", QUICKSTART, "--otel"], env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "my-evals",
        "OTEL_TRACES_EXPORTER": "otlp"})
    assert result.exit_code == 0, result.output
    spans = [span for request in received for rs in request.resource_spans
             for ss in rs.scope_spans for span in ss.spans]
    assert {s.name for s in spans} == {"invoke_agent quickstart", "plan quickstart",
                                       "chat simulated", "execute_tool calculator"}
    service = {a.value.string_value for r in received for rs in r.resource_spans
               for a in rs.resource.attributes if a.key == "service.name"}
    assert service == {"my-evals"}


def test_cli_otel_names_an_unknown_exporter() -> None:
    result = runner.invoke(app, ["run", QUICKSTART, "--otel"],
                           env={"OTEL_TRACES_EXPORTER": "zipkin"})
    assert result.exit_code == 2
    assert ("error: OTEL_TRACES_EXPORTER names 'zipkin'; forethought supports 'otlp', "
            "'console', 'none'") in result.output


def test_cli_otel_without_the_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    result = runner.invoke(app, ["run", QUICKSTART, "--otel"])
    assert result.exit_code == 2
    assert "error: --otel needs the `otel` extra: pip install 'forethought[otel]'" \
        in result.output
