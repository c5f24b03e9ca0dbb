"""The local provider's parts that run without the `local` extra: model names and settings,
model files, truncation found from usage counts, a 5xx validation error, the managed server
process (with Python's own http.server standing in for llama.cpp's), and ReAct's native tool
calls. The real server is exercised by tests/realmodel (marked ``realmodel``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from forethought.exceptions import ModelError, ModelHTTPError, UserError
from forethought.models import litellm_import
from forethought.models.litellm_model import LiteLLMModel
from forethought.models.local.files import check_gguf, language_model_file, require
from forethought.models.local.model import LocalSettings, parse_local_spec
from forethought.models.local.process import ManagedServer
from forethought.models.messages import (
    Choice,
    Message,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    OutputSchema,
    ToolCall,
    Usage,
)
from forethought.models.registry import resolve_model
from forethought.models.scripted import ScriptedModel
from forethought.models.truncation import truncation_warnings
from forethought.planners.react import ReActPlanner
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, ToolCallFinished
from forethought.tools.base import ToolRegistry, tool
from tests.fake_openai import API_KEY, MODEL, FakeOpenAI

# -- names and settings -------------------------------------------------------------------------


def test_local_spec_names_and_settings() -> None:
    assert parse_local_spec("local/smollm2") == ("smollm2", {})
    assert parse_local_spec("local/smollm2:threads=2,n_ctx=4096,chat_format=chatml") == (
        "smollm2", {"threads": 2, "n_ctx": 4096, "chat_format": "chatml"})
    # A path may hold colons; only a trailing key=value list is settings.
    assert parse_local_spec("local/models/a:b.gguf") == ("models/a:b.gguf", {})
    assert parse_local_spec("local/m.gguf:parallel=2") == ("m.gguf", {"parallel": 2})


@pytest.mark.parametrize(("spec", "message"), [
    ("local/smollm2:threads=two", "threads='two' must be an integer"),
    ("local/smollm2:gpu=1", "'gpu=1' is not a setting; valid settings: threads, n_ctx"),
    ("local/smollm2:timeout_s=soon", "timeout_s='soon' must be a number"),
])
def test_bad_local_settings_name_the_setting(spec: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_local_spec(spec)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("threads", 0, "threads must be an integer >= 1, got 0"),
    ("parallel", -1, "parallel must be an integer >= 1, got -1"),
    ("n_ctx", 16, "n_ctx must be an integer >= 64, got 16"),
    ("timeout_s", 0.0, "timeout_s must be > 0, got 0.0"),
    ("max_tokens", 0, "max_tokens must be >= 1 or unset, got 0"),
    ("chat_format", " ", "chat_format must be a format name or unset"),
])
def test_local_settings_are_checked(field: str, value: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        LocalSettings(**{field: value})  # pyright: ignore[reportArgumentType]


def test_litellm_options_do_not_apply_to_local_models() -> None:
    with pytest.raises(UserError, match=r"options \['api_base'\] do not apply to 'local/smollm2'"):
        resolve_model("local/smollm2", api_base="http://127.0.0.1:1/v1",
                      settings=ModelSettings(temperature=0.2))


# -- model files and the extra ---------------------------------------------------------------


def test_missing_extra_gives_the_install_hint() -> None:
    with pytest.raises(UserError, match=r"needs the Python package 'no_such_pkg_x'.*"
                                        r"uv sync --extra local"):
        require("no_such_pkg_x", "model 'local/x'")


def test_model_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no such model file .*missing\.gguf"):
        language_model_file(str(tmp_path / "missing.gguf"))
    with pytest.raises(UserError, match=r"unknown local model 'gpt5'; valid names: smollm2"):
        language_model_file("gpt5")
    with pytest.raises(UserError, match="name a model after 'local/'"):
        language_model_file("")
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(b"\x00\x01 not a model")
    with pytest.raises(UserError, match=r"is not a GGUF model file \(it starts with "
                                        r"b'\\x00\\x01 n'"):
        language_model_file(str(damaged))
    folder = tmp_path / "dir.gguf"
    folder.mkdir()
    with pytest.raises(UserError, match="is not a file"):
        check_gguf(folder, "model")
    good = tmp_path / "ok.gguf"
    good.write_bytes(b"GGUF" + b"\x00" * 16)
    assert language_model_file(str(good)) == good


# -- messages, truncation, validation errors --------------------------------------------------


def test_assistant_tool_calls_go_with_empty_string_content() -> None:
    call = ToolCall(id="c1", name="calculator", arguments='{"expression": "1+1"}')
    wire = Message.assistant("", tool_calls=(call,)).to_openai()
    # llama.cpp's server answers content: null beside tool calls with HTTP 500.
    assert wire["content"] == ""
    assert wire["tool_calls"] == [call.to_openai()]


def _reply(prompt: int, completion: int, *reasons: str) -> ModelResponse:
    return ModelResponse(choices=[Choice(text="x", finish_reason=r) for r in reasons],
                         usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
                         model="m")


def _req(max_tokens: int | None = None) -> ModelRequest:
    return ModelRequest(messages=(Message.user("hi"),),
                        settings=ModelSettings(max_tokens=max_tokens))


def test_truncation_found_from_usage_counts() -> None:
    # A reply stopped for length before max_tokens: the window was full.
    notes = truncation_warnings(_req(200), _reply(2031, 17, "length"),
                                counted_prompt_tokens=None, context_window=2048)
    assert notes == ["reply cut short: 1 sample(s) stopped for length with 17 completion "
                     "tokens in all, before max_tokens=200 each; the context window "
                     "(2048 tokens) was full"]
    # ...but not when max_tokens itself was reached.
    assert truncation_warnings(_req(17), _reply(20, 17, "length"),
                               counted_prompt_tokens=None) == []
    # Without max_tokens, a full window tells.
    assert truncation_warnings(_req(), _reply(2000, 48, "length"), counted_prompt_tokens=None,
                               context_window=2048) == [
        "reply cut short: prompt and reply filled the context window (2048 tokens)"]
    assert truncation_warnings(_req(), _reply(20, 48, "stop"), counted_prompt_tokens=None,
                               context_window=2048) == []


def test_prompt_truncation_needs_a_gap_no_tokenizer_explains() -> None:
    # Another tokenizer: only far fewer tokens than our estimate count as truncation.
    assert truncation_warnings(_req(), _reply(700, 5, "stop"),
                               counted_prompt_tokens=1000) == []
    notes = truncation_warnings(_req(), _reply(400, 5, "stop"), counted_prompt_tokens=1000)
    assert notes == ["prompt truncated: the provider counted 400 prompt tokens for a prompt "
                     "of about 1000; the model did not see all of it"]
    # The provider's own tokenizer: any shortfall is one.
    assert truncation_warnings(_req(), _reply(990, 5, "stop"), counted_prompt_tokens=1000,
                               exact=True)[0].startswith("prompt truncated: the provider "
                                                         "counted 990 prompt tokens for a "
                                                         "prompt of 1000")
    cached = _reply(1, 5, "length")
    cached.cached = True
    assert truncation_warnings(_req(200), cached, counted_prompt_tokens=1000) == []


def test_warnings_survive_the_response_cache_round_trip() -> None:
    response = _reply(10, 2, "length")
    response.warnings = ["reply cut short: ..."]
    assert ModelResponse.from_json(response.to_json()).warnings == ["reply cut short: ..."]
    assert "warnings" not in _reply(1, 1, "stop").to_json()


async def test_a_500_validation_error_is_not_retried() -> None:
    litellm_import.import_now()
    body = ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
            "'type'), 'msg': \"Input should be 'text' or 'json_object'\"}")
    with FakeOpenAI() as server:
        server.error(500, body)
        model = LiteLLMModel(MODEL, api_base=server.base_url, api_key=API_KEY, max_retries=3,
                             retry_max_wait_s=0.01)
        request = ModelRequest(messages=(Message.user("hi"),),
                               output_schema=OutputSchema(name="P", schema={"type": "object"}))
        with pytest.raises(ModelHTTPError, match="rejected the request as invalid") as info:
            await model.request(request)
        assert info.value.status_code == 500
        assert len(server.requests) == 1  # not retried
        # A plain 500 still is.
        server.error(500, "the GPU caught fire")
        server.reply("fine")
        assert (await model.request(request)).text == "fine"


# -- the managed server process ----------------------------------------------------------------


def _http_server(timeout: float = 30.0) -> ManagedServer:
    return ManagedServer(label="http-test", module="http.server",
                         args=["--bind", "127.0.0.1", "{port}"], health_path="/",
                         startup_timeout_s=timeout)


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


async def test_managed_server_starts_answers_logs_and_stops() -> None:
    server = _http_server()
    await server.start()
    try:
        assert server.running() and server.port is not None
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.base_url + "/")).status_code == 200
        assert server.log_path is not None
        assert server.log_path.parent == Path(os.environ["FORETHOUGHT_HOME"]) / "logs"
    finally:
        await server.stop()
    pid = server.pid
    assert pid is not None and _gone(pid, 5)
    assert not server.running()
    assert "http.server" in server.log_path.read_text()
    await server.stop()  # twice is fine


async def test_a_server_that_exits_early_is_reported_with_its_log() -> None:
    server = ManagedServer(label="bad", module="http.server",
                           args=["--bind", "127.0.0.1", "not-a-port"], health_path="/")
    with pytest.raises(ModelError, match=r"(?s)bad: the server exited with status 2 before it "
                                         r"answered; log: .*bad-.*\.log; last lines:\n.*"
                                         r"invalid int value"):
        await server.start()
    assert not server.running()


async def test_a_server_that_does_not_answer_in_time_is_stopped() -> None:
    server = ManagedServer(label="slow", module="http.server",
                           args=["--bind", "127.0.0.1", "{port}"], health_path="/never-200",
                           startup_timeout_s=1.0)
    with pytest.raises(ModelError, match=r"slow: the server did not answer http://127\.0\.0\.1:"
                                         r"\d+/never-200 within startup_timeout_s=1\.0s"):
        await server.start()
    pid = server.pid
    assert pid is not None and _gone(pid, 5)


def test_the_server_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import asyncio, os, signal, sys
        from forethought.models.local.process import ManagedServer
        async def main():
            s = ManagedServer(label="orphan", module="http.server",
                              args=["--bind", "127.0.0.1", "{port}"], health_path="/")
            await s.start()
            print(s.pid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # no stop(), no finalizer, no atexit
        asyncio.run(main())
    """)
    parent = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "FORETHOUGHT_HOME": str(tmp_path)})
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    pid = int(parent.stdout.split()[0])
    assert _gone(pid, 5), f"server {pid} outlived its parent"


# -- ReAct with native tool calls --------------------------------------------------------------


@tool
def double(x: int) -> int:
    """Double a number.

    Args:
        x: The number.
    """
    return 2 * x


async def test_react_executes_a_native_tool_call_and_answers_it() -> None:
    seen: list[ModelRequest] = []

    def script(request: ModelRequest) -> str | Choice:
        seen.append(request)
        if len(seen) == 1:
            return ScriptedModel.tool_call("double", '{"x": 21}', id="call_7")
        return "Thought: done.\nAction: Finish(42)"

    events: list[Event] = []
    ctx = RunContext(model=ScriptedModel(script), tools=ToolRegistry([double]))
    ctx.events.subscribe(events.append)
    outcome = await ReActPlanner(native_tools=True).solve(ctx, "Double 21.")
    assert outcome.answer == "42" and outcome.status == "ok"
    first, second = seen
    assert [t.name for t in first.tools] == ["double"] and first.tool_choice == "required"
    assert second.tool_choice == "auto"
    assistant, answer = second.messages[-2:]
    assert assistant.tool_calls[0].id == "call_7" and assistant.to_openai()["content"] == ""
    assert answer.role == "tool" and answer.tool_call_id == "call_7" and answer.content == "42"
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [e.tool for e in finished] == ["double"] and finished[0].error is None


async def test_react_reports_bad_native_arguments_to_the_model() -> None:
    replies = iter([ScriptedModel.tool_call("double", "{not json"),
                    ScriptedModel.tool_call("nope", "{}"),
                    "Action: Finish(0)"])
    seen: list[ModelRequest] = []

    def script(request: ModelRequest) -> str | Choice:
        seen.append(request)
        return next(replies)

    ctx = RunContext(model=ScriptedModel(script), tools=ToolRegistry([double]))
    outcome = await ReActPlanner(native_tools=True).solve(ctx, "Double 21.")
    assert outcome.answer == "0"
    assert seen[1].messages[-1].content.startswith("Invalid arguments: not JSON")
    assert seen[2].messages[-1].content.startswith("Error: unknown tool 'nope'")
