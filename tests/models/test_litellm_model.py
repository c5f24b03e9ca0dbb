"""LiteLLMModel through real litellm against a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from pydantic import BaseModel

from forethought.exceptions import (
    ModelError,
    ModelHTTPError,
    UnexpectedModelBehavior,
    UserError,
)
from forethought.models.litellm_import import import_now as _import_litellm
from forethought.models.litellm_model import KEYLESS_PLACEHOLDER, LiteLLMModel
from forethought.models.messages import (
    Choice,
    Message,
    ModelRequest,
    ModelSettings,
    ToolCall,
    ToolSpec,
)
from forethought.models.provider_errors import retry_after_seconds
from forethought.models.structured import output_schema_for
from forethought.runtime.context import RunContext
from tests.fake_openai import API_KEY, MODEL, FakeOpenAI, Reply, tool_call


@pytest.fixture(scope="session", autouse=True)
def _litellm_imported() -> None:
    # Pay the ~6 s import once per session, and only when these tests run (not at collection).
    _import_litellm()


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


def make_model(server: FakeOpenAI, model: str = MODEL, **kwargs: Any) -> LiteLLMModel:
    return LiteLLMModel(model, api_base=server.base_url, api_key=API_KEY, **kwargs)


def ask(text: str = "hi", **settings: Any) -> ModelRequest:
    return ModelRequest(messages=(Message.user(text),), settings=ModelSettings(**settings))


# -- plain calls ----------------------------------------------------------------------------


async def test_text_reply_and_usage(server: FakeOpenAI) -> None:
    server.reply("Hello!", usage=(12, 5))
    model = make_model(server)
    response = await model.request(ask("hi"))
    assert response.choices == [Choice(text="Hello!", finish_reason="stop")]
    assert response.model == MODEL == model.name
    assert not response.cached
    assert response.usage.prompt_tokens == 12
    assert response.usage.completion_tokens == 5
    assert response.usage.cost_usd == 0.0  # litellm has no price for "test-model"
    assert response.usage.model_calls == 1
    assert 0 < response.usage.latency_s < 5
    [received] = server.requests
    assert received.body == {"model": "test-model",
                             "messages": [{"role": "user", "content": "hi"}]}
    assert received.headers["authorization"] == f"Bearer {API_KEY}"


async def test_n_samples(server: FakeOpenAI) -> None:
    server.reply("a", "b", "c")
    response = await make_model(server).request(ask(n=3, temperature=1.0))
    assert response.texts == ["a", "b", "c"]
    assert server.bodies[0]["n"] == 3


async def test_settings_and_roles_forwarded(server: FakeOpenAI) -> None:
    server.reply("ok")
    request = ModelRequest(
        messages=(Message.system("be brief"), Message.user("q"), Message.assistant("a"),
                  Message.user("q2")),
        settings=ModelSettings(temperature=0.7, seed=42, max_tokens=50, stop=("END",)),
        purpose="answer", metadata={"node": "n1"})
    await make_model(server).request(request)
    body = server.bodies[0]
    assert body["temperature"] == 0.7
    assert body["seed"] == 42
    assert body["max_tokens"] == 50
    assert body["stop"] == ["END"]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert "purpose" not in body and "metadata" not in body
    assert "n" not in body and "tools" not in body and "response_format" not in body


async def test_model_default_settings_fill_unset_fields(server: FakeOpenAI) -> None:
    server.reply("ok")
    server.reply("ok")
    model = make_model(server, settings=ModelSettings(temperature=0.2, seed=7))
    await model.request(ask())
    await model.request(ask(temperature=0.9))
    assert (server.bodies[0]["temperature"], server.bodies[0]["seed"]) == (0.2, 7)
    assert (server.bodies[1]["temperature"], server.bodies[1]["seed"]) == (0.9, 7)


async def test_known_model_has_a_cost(server: FakeOpenAI) -> None:
    server.reply("ok", usage=(1000, 1000))
    server.reply("ok", usage=(1000, 1000))
    model = make_model(server, "openai/gpt-4o-mini")
    plain = await model.request(ask())
    streamed = await model.request_stream(ask(), lambda _: None)
    assert plain.usage.cost_usd > 0
    assert streamed.usage.cost_usd == pytest.approx(plain.usage.cost_usd)


# -- tools ----------------------------------------------------------------------------------

ADD = ToolSpec(name="add", description="Add two integers.",
               parameters={"type": "object", "properties": {"a": {"type": "integer"},
                                                            "b": {"type": "integer"}},
                           "required": ["a", "b"]})


async def test_tool_calling_round_trip(server: FakeOpenAI) -> None:
    server.reply(tool_calls=[tool_call("add", '{"a": 1, "b": 2}', id="call_9")])
    server.reply("3")
    model = make_model(server)
    first = ModelRequest(messages=(Message.user("1+2?"),), tools=(ADD,), tool_choice="auto")
    response = await model.request(first)
    call = ToolCall(id="call_9", name="add", arguments='{"a": 1, "b": 2}')
    assert response.choices == [Choice(text="", tool_calls=(call,), finish_reason="tool_calls")]
    assert server.bodies[0]["tools"] == [ADD.to_openai()]
    assert server.bodies[0]["tool_choice"] == "auto"

    follow_up = ModelRequest(messages=(*first.messages, Message.assistant("", (call,)),
                                       Message.tool("3", tool_call_id="call_9")), tools=(ADD,))
    assert (await model.request(follow_up)).text == "3"
    messages = server.bodies[1]["messages"]
    assert messages[1]["tool_calls"] == [call.to_openai()]
    assert messages[2] == {"role": "tool", "content": "3", "tool_call_id": "call_9"}


# -- streaming ------------------------------------------------------------------------------


async def test_streaming_delivers_chunks_in_order(server: FakeOpenAI) -> None:
    server.reply("Hello there world", chunks=["Hel", "lo ", "there", " world"], usage=(9, 4),
                 chunk_delay_s=0.01)
    received: list[str] = []
    response = await make_model(server).request_stream(ask(), received.append)
    assert received == ["Hel", "lo ", "there", " world"]
    assert response.choices == [Choice(text="Hello there world", finish_reason="stop")]
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (9, 4)
    assert response.usage.model_calls == 1
    body = server.bodies[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_streaming_tool_call_deltas_are_assembled(server: FakeOpenAI) -> None:
    server.reply(tool_calls=[tool_call("add", '{"a": 10, "b": 20}', id="call_s")])
    response = await make_model(server).request_stream(
        ModelRequest(messages=(Message.user("sum"),), tools=(ADD,)), lambda _: None)
    assert response.tool_calls == (ToolCall(id="call_s", name="add",
                                            arguments='{"a": 10, "b": 20}'),)
    assert response.choices[0].finish_reason == "tool_calls"


async def test_streaming_without_usage_still_counts_tokens(server: FakeOpenAI) -> None:
    # litellm counts the tokens itself when the provider sends no usage chunk
    server.reply("a reply of some forty characters, give or take", usage=None)
    response = await make_model(server).request_stream(ask("x" * 400), lambda _: None)
    assert response.usage.prompt_tokens > 10
    assert response.usage.completion_tokens > 5


async def test_streaming_retries_before_the_first_chunk(server: FakeOpenAI) -> None:
    server.error(503, "busy", headers={"Retry-After": "0"})
    server.reply("fine")
    received: list[str] = []
    response = await make_model(server).request_stream(ask(), received.append)
    assert response.text == "fine" == "".join(received)
    assert len(server.requests) == 2


async def test_stream_cut_after_text_is_not_retried(server: FakeOpenAI) -> None:
    server.reply("one two three four", break_after=3)  # role chunk, "one ", "two "
    server.reply("never requested")
    received: list[str] = []
    with pytest.raises(ModelError, match="stream broke") as info:
        await make_model(server).request_stream(ask(), received.append)
    assert not isinstance(info.value, ModelHTTPError)
    assert received == ["one ", "two "]
    assert len(server.requests) == 1


# -- structured output through RunContext.parse ---------------------------------------------


class Answer(BaseModel):
    value: int
    reason: str


async def test_parse_valid_first_time(server: FakeOpenAI) -> None:
    server.reply('{"value": 4, "reason": "2+2"}')
    ctx = RunContext(model=make_model(server))
    parsed = await ctx.parse(ask("2+2?"), Answer)
    assert parsed.value == Answer(value=4, reason="2+2")
    assert len(parsed.responses) == 1
    schema = output_schema_for(Answer)
    assert server.bodies[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": schema.schema, "strict": False}}


async def test_parse_repairs_malformed_json_once(server: FakeOpenAI) -> None:
    server.reply('{"value": 4, "reason": ')
    server.reply('```json\n{"value": 4, "reason": "fixed"}\n```')
    ctx = RunContext(model=make_model(server))
    parsed = await ctx.parse(ask("2+2?"), Answer)
    assert parsed.value == Answer(value=4, reason="fixed")
    assert len(parsed.responses) == 2
    assert parsed.usage.model_calls == 2
    assert len(server.requests) == 2
    repair = server.bodies[1]["messages"]
    assert repair[:1] == server.bodies[0]["messages"]
    assert repair[1] == {"role": "assistant", "content": '{"value": 4, "reason": '}
    assert repair[2]["role"] == "user"
    assert "the reply is not valid JSON" in repair[2]["content"]
    assert server.bodies[1]["response_format"] == server.bodies[0]["response_format"]


async def test_parse_gives_up_after_one_repair(server: FakeOpenAI) -> None:
    server.reply('{"value": "four"}')
    server.reply("still not it")
    ctx = RunContext(model=make_model(server))
    with pytest.raises(UnexpectedModelBehavior, match="after a repair turn") as info:
        await ctx.parse(ask("2+2?"), Answer)
    assert info.value.body == "still not it"
    assert len(server.requests) == 2
    assert "value" in server.bodies[1]["messages"][-1]["content"]  # the validation error


# -- retries --------------------------------------------------------------------------------


async def test_429_honours_retry_after(server: FakeOpenAI) -> None:
    server.error(429, "slow down", headers={"Retry-After": "1"})
    server.reply("ok")
    response = await make_model(server).request(ask())
    assert response.text == "ok"
    first, second = server.requests
    assert 0.9 <= second.at - first.at < 1.8


async def test_retry_after_is_capped(server: FakeOpenAI) -> None:
    server.error(429, "slow down", headers={"Retry-After": "30"})
    server.reply("ok")
    await make_model(server, retry_max_wait_s=0.2).request(ask())
    first, second = server.requests
    assert second.at - first.at < 1.0


async def test_500_then_success(server: FakeOpenAI) -> None:
    server.error(500, "oops")
    server.reply("ok")
    assert (await make_model(server).request(ask())).text == "ok"
    assert len(server.requests) == 2


async def test_5xx_retries_exhausted(server: FakeOpenAI) -> None:
    for _ in range(3):
        server.error(503, "overloaded", headers={"Retry-After": "0"})
    with pytest.raises(ModelHTTPError) as info:
        await make_model(server, max_retries=2).request(ask())
    assert info.value.status_code == 503
    assert info.value.model == MODEL
    assert "overloaded" in str(info.value)
    assert "gave up after 3 attempts" in str(info.value)
    assert len(server.requests) == 3


async def test_hang_past_timeout_then_success(server: FakeOpenAI) -> None:
    server.hang(10)
    server.reply("ok")
    start = time.monotonic()
    response = await make_model(server, timeout_s=0.5).request(ask())
    assert response.text == "ok"
    assert len(server.requests) == 2
    assert time.monotonic() - start < 3


async def test_hang_every_time_raises_model_error(server: FakeOpenAI) -> None:
    import openai  # loaded with litellm already

    server.hang(10)
    server.hang(10)
    with pytest.raises(ModelError) as info:
        await make_model(server, timeout_s=0.3, max_retries=1).request(ask())
    assert not isinstance(info.value, ModelHTTPError)
    # The client's read timeout and the whole-attempt limit fire together; either is a timeout.
    assert isinstance(info.value.__cause__, openai.APITimeoutError | TimeoutError)
    assert "gave up after 2 attempts" in str(info.value)
    assert len(server.requests) == 2


async def test_request_timeout_setting_overrides_the_model_default(server: FakeOpenAI) -> None:
    server.hang(10)
    server.reply("ok")
    start = time.monotonic()
    await make_model(server, timeout_s=30).request(ask(timeout_s=0.3))
    assert time.monotonic() - start < 3


async def test_connection_refused_is_a_model_error(server: FakeOpenAI) -> None:
    model = LiteLLMModel(MODEL, api_base="http://127.0.0.1:9/v1", api_key=API_KEY,
                         max_retries=0, timeout_s=2)
    with pytest.raises(ModelError) as info:
        await model.request(ask())
    assert not isinstance(info.value, ModelHTTPError)


async def test_missing_credentials_fail_at_once_without_a_request() -> None:
    # No api_key, no api_base and no OPENAI_API_KEY (the test environment removes it): the
    # OpenAI client refuses before sending, litellm calls that HTTP 500, and it must not be
    # retried. (Nothing could be sent anyway: tests may only reach loopback.)
    model = LiteLLMModel(MODEL, max_retries=3)
    start = time.monotonic()
    with pytest.raises(ModelError, match="Missing credentials") as info:
        await model.request(ask())
    assert not isinstance(info.value, ModelHTTPError)
    assert "gave up after" not in str(info.value)
    assert time.monotonic() - start < 2


async def test_keyless_local_server_gets_a_placeholder_key(server: FakeOpenAI) -> None:
    # A local OpenAI-compatible server (llama.cpp, vLLM) needs no key; the OpenAI client
    # refuses to send without one, so an openai/ model with an api_base sends a placeholder.
    server.reply("local")
    response = await LiteLLMModel(MODEL, api_base=server.base_url).request(ask())
    assert response.text == "local"
    [received] = server.requests
    assert received.headers["authorization"] == f"Bearer {KEYLESS_PLACEHOLDER}"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(server: FakeOpenAI, status: int) -> None:
    import openai  # loaded with litellm already

    server.error(status, f"provider says no ({status})")
    with pytest.raises(ModelHTTPError) as info:
        await make_model(server).request(ask())
    assert info.value.status_code == status
    assert f"provider says no ({status})" in str(info.value)
    assert "gave up" not in str(info.value)
    assert isinstance(info.value.__cause__, openai.APIError)
    assert len(server.requests) == 1


async def test_stream_client_error_is_not_retried(server: FakeOpenAI) -> None:
    server.error(400, "bad stream")
    with pytest.raises(ModelHTTPError, match="bad stream"):
        await make_model(server).request_stream(ask(), lambda _: None)
    assert len(server.requests) == 1


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    after = retry_after_seconds({"Retry-After": later})
    assert after is not None and 15 < after <= 20
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds(None) is None


# -- concurrency and event loops ------------------------------------------------------------


async def test_concurrency_limit(server: FakeOpenAI) -> None:
    server.default = Reply(texts=("ok",), delay_s=0.15)
    model = make_model(server, max_concurrency=2)
    start = time.monotonic()
    responses = await asyncio.gather(*(model.request(ask(f"q{i}")) for i in range(6)))
    assert [r.text for r in responses] == ["ok"] * 6
    assert len(server.requests) == 6
    assert server.max_in_flight == 2
    assert time.monotonic() - start >= 0.4  # three waves


def test_usable_from_successive_event_loops(server: FakeOpenAI) -> None:
    server.default = Reply(texts=("ok",))
    model = make_model(server, max_concurrency=1)
    for _ in range(2):
        assert asyncio.run(model.request(ask())).text == "ok"
        assert asyncio.run(model.request_stream(ask(), lambda _: None)).text == "ok"
    assert len(server.requests) == 4


def test_pickles_without_its_semaphores(server: FakeOpenAI) -> None:
    server.reply("ok")
    model = make_model(server, max_concurrency=3)
    asyncio.run(model.request(ask()))
    copy = pickle.loads(pickle.dumps(model))
    assert (copy.name, copy.api_base, copy.max_concurrency) == (MODEL, server.base_url, 3)
    server.reply("again")
    assert asyncio.run(copy.request(ask())).text == "again"


def test_constructor_rejects_nonsense() -> None:
    with pytest.raises(UserError, match="max_concurrency"):
        LiteLLMModel(MODEL, max_concurrency=0)
    with pytest.raises(UserError, match="max_retries"):
        LiteLLMModel(MODEL, max_retries=-1)


def test_importing_forethought_does_not_import_litellm() -> None:
    code = ("import sys, forethought, forethought.models.litellm_model, "
            "forethought.models.cache; assert 'litellm' not in sys.modules, 'litellm imported'; "
            "m = forethought.models.litellm_model.LiteLLMModel('openai/x'); "
            "assert 'litellm' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

