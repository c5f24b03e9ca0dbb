"""SmolLM2-135M on llama.cpp's server through the real client path: streaming, samples, seeds,
usage against the server's own counts, structured output, a forced tool call run by the
planner, cancellation reaching the server, the budget against real counts, truncation and
failures. Answers are not judged (a 135M model is often wrong); what the runs report is.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pydantic
import pytest

from forethought.agents.agent import Agent
from forethought.exceptions import BudgetExceeded, ModelError, ModelHTTPError, UserError
from forethought.models.litellm_model import LiteLLMModel
from forethought.models.local import LocalModel, LocalSettings
from forethought.models.messages import Message, ModelRequest, ModelSettings, OutputSchema, ToolSpec
from forethought.planners.react import ReActPlanner
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, ModelCallFinished, ToolCallStarted

pytestmark = pytest.mark.asyncio(loop_scope="session")

CALCULATOR = ToolSpec(name="calculator", description="Evaluate an arithmetic expression.",
                      parameters={"type": "object",
                                  "properties": {"expression": {"type": "string"}},
                                  "required": ["expression"]})


def ask(text: str, *, system: str | None = None, **settings: object) -> ModelRequest:
    messages = ((Message.system(system),) if system else ()) + (Message.user(text),)
    return ModelRequest(messages=messages, settings=ModelSettings(**settings))  # pyright: ignore[reportArgumentType]


async def raw_completion(model: LocalModel, body: dict[str, object]) -> dict[str, object]:
    """The server's own answer to ``body`` (not streamed: it then counts usage itself)."""
    async with httpx.AsyncClient(timeout=600) as client:
        reply = await client.post(model.servers[0].base_url + "/v1/chat/completions",
                                  json=body)
    reply.raise_for_status()
    return reply.json()


def server_requests(model: LocalModel) -> int:
    log = model.servers[0].log_path
    assert log is not None
    return log.read_text(errors="replace").count('"POST /v1/chat/completions')


async def test_streaming_delivers_the_reply_in_pieces(smollm2: LocalModel) -> None:
    chunks: list[str] = []
    stamps: list[float] = []

    def on_text(text: str) -> None:
        chunks.append(text)
        stamps.append(time.perf_counter())

    start = time.perf_counter()
    response = await smollm2.request_stream(
        ask("Write three short sentences about rivers.", max_tokens=48, temperature=0), on_text)
    end = time.perf_counter()
    assert len(chunks) > 5 and "".join(chunks) == response.text
    assert response.usage.completion_tokens == len(chunks)  # one token per chunk
    assert stamps[0] - start < end - start  # the first text came before the end


async def test_n_samples_are_independent_draws(smollm2: LocalModel) -> None:
    response = await smollm2.request(ask("Name an animal.", max_tokens=12, temperature=1.0,
                                         seed=11, n=4))
    assert len(response.choices) == 4 and response.usage.model_calls == 4
    assert len(set(response.texts)) >= 2, response.texts


async def test_seeded_sampling_is_reproducible(smollm2: LocalModel) -> None:
    def request(seed: int) -> ModelRequest:
        return ask("Invent a name for a boat.", max_tokens=16, temperature=0.9, seed=seed)

    first = await smollm2.request(request(5))
    again = await smollm2.request(request(5))
    assert first.text == again.text
    others = {(await smollm2.request(request(seed))).text for seed in (6, 7, 8)}
    assert others != {first.text}


async def test_usage_matches_the_servers_own_counts(smollm2: LocalModel) -> None:
    requests = [
        ask("Write two sentences about cats.", system="Be brief.", max_tokens=40,
            temperature=0, seed=3),
        ask("Spell: naïve café, 東京, 🚀.", max_tokens=24, temperature=0, seed=3),
        ModelRequest(messages=(Message.user("What is 2 + 3?"),), tools=(CALCULATOR,),
                     tool_choice="required",
                     settings=ModelSettings(max_tokens=24, temperature=0, seed=3)),
    ]
    for request in requests:
        ours = await smollm2.request(request)
        body: dict[str, object] = {
            "messages": [m.to_openai() for m in request.messages], "temperature": 0, "seed": 3,
            "max_tokens": request.settings.max_tokens}
        if request.tools:
            body["tools"] = [t.to_openai() for t in request.tools]
            body["tool_choice"] = {"type": "function", "function": {"name": "calculator"}}
        theirs = await raw_completion(smollm2, body)
        usage = theirs["usage"]
        assert isinstance(usage, dict)
        assert (ours.usage.prompt_tokens, ours.usage.completion_tokens) == (
            usage["prompt_tokens"], usage["completion_tokens"]), request.messages[-1].content


class Person(pydantic.BaseModel):
    name: str
    age: int


async def test_structured_output_through_a_json_schema(smollm2: LocalModel) -> None:
    ctx = RunContext(model=smollm2)
    parsed = await ctx.parse(ask("Give a person's name and age as JSON.", max_tokens=48,
                                 temperature=0), Person)
    assert isinstance(parsed.value, Person)
    # A plain OpenAI client asking the same server for json_schema output: the server's
    # validation error, labelled 500, is a client error and is not retried.
    before = server_requests(smollm2)
    plain = LiteLLMModel("openai/smollm2", api_base=smollm2.servers[0].base_url + "/v1",
                         max_retries=3, retry_max_wait_s=0.01)
    request = ModelRequest(messages=(Message.user("JSON please"),),
                           output_schema=OutputSchema(name="P", schema=Person.model_json_schema()))
    with pytest.raises(ModelHTTPError, match="rejected the request as invalid") as info:
        await plain.request(request)
    assert info.value.status_code == 500
    await asyncio.sleep(0.5)  # the access log line is written after the reply
    assert server_requests(smollm2) == before + 1


async def test_a_forced_tool_call_is_executed_by_the_planner(smollm2: LocalModel) -> None:
    events: list[Event] = []
    agent = Agent(smollm2, tools=["calculator"], store=None,
                  planner=ReActPlanner(max_steps=2, native_tools=True), subscribers=[events.append])
    result = await agent.arun("What is 17 * 3?")
    assert result.status in ("ok", "failed")  # a 135M model may never finish; the run is sound
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert started and started[0].tool == "calculator" and "expression" in started[0].arguments
    calls = [e for e in events if isinstance(e, ModelCallFinished)]
    # The second turn carried the assistant's tool call (content "", never null) and the tool
    # message answering it; the server accepted it.
    assert len(calls) == 2 and all(c.error is None for c in calls)
    assert smollm2.started  # the agent's stop did not stop a model started before it


async def test_cancelling_a_call_stops_generation_at_the_server(smollm2: LocalModel) -> None:
    client = smollm2.clients[0]
    log = smollm2.servers[0].log_path
    assert log is not None
    first_text = asyncio.Event()
    long = ask("Count from one to five hundred in words, separated by commas.",
               max_tokens=1500, temperature=0)
    task = asyncio.create_task(smollm2.request_stream(long, lambda _t: first_text.set()))
    await asyncio.wait_for(first_text.wait(), 300)
    before = log.read_text(errors="replace").count("Disconnected from client")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The server noticed the closed stream and stopped generating: it says so, and a short
    # request right after is answered without waiting behind 1,500 tokens.
    start = time.perf_counter()
    await smollm2.request(ask("Say hi.", max_tokens=4, temperature=0))
    quick = time.perf_counter() - start
    assert log.read_text(errors="replace").count("Disconnected from client") > before
    rate = client.max_concurrency  # one slot: the short call could only run after the long one
    assert rate == 1 and quick < 60


async def test_the_budget_holds_against_real_token_counts(smollm2: LocalModel) -> None:
    cap = 400
    tracker = BudgetTracker(budget=Budget(max_tokens=cap))
    ctx = RunContext(model=smollm2, budget=tracker)
    served = 0
    refused: BudgetExceeded | None = None
    for i in range(50):
        try:
            response = await ctx.complete(ask(f"Tell me fact number {i} about the moon.",
                                              max_tokens=40, temperature=0.7, seed=i))
        except BudgetExceeded as exc:
            refused = exc
            break
        served += response.usage.total_tokens
    assert refused is not None and "tokens" in refused.reason
    # Calls one at a time: each was admitted only if its exact prompt plus max_tokens fitted,
    # so the real counts never pass the cap, and what was charged is what the server counted.
    assert tracker.spent.total_tokens == served <= cap
    assert tracker.spent.total_tokens > cap - 2 * 90  # it went as far as it could


async def test_a_reply_cut_by_the_context_window_is_reported(tmp_path: Path) -> None:
    model = LocalModel("local/smollm2", LocalSettings(n_ctx=96, max_tokens=None))
    async with model:
        events: list[Event] = []
        ctx = RunContext(model=model)
        ctx.events.subscribe(events.append)
        prompt = "Describe the ocean in detail. " * 8
        response = await ctx.complete(ask(prompt, max_tokens=200, temperature=0))
        assert response.usage.prompt_tokens + response.usage.completion_tokens == 95
        assert response.warnings == [
            f"reply cut short: the context window (n_ctx=96) left room for "
            f"{response.usage.completion_tokens} of the 200 tokens asked after a prompt of "
            f"{response.usage.prompt_tokens}"]
        finished = [e for e in events if isinstance(e, ModelCallFinished)]
        assert finished[-1].warnings == tuple(response.warnings)
        before = server_requests(model)
        with pytest.raises(ModelError, match=r"the prompt has \d+ tokens, more than the context "
                                             r"window holds \(n_ctx=96\)"):
            await model.request(ask("word " * 200, max_tokens=5))
        assert server_requests(model) == before  # refused before sending


async def test_a_server_that_dies_mid_call_is_reported_with_what_arrived() -> None:
    model = LocalModel("local/smollm2", LocalSettings(max_retries=0))
    async with model:
        server = model.servers[0]
        pid = server.pid
        assert pid is not None
        got: list[str] = []

        def on_text(text: str) -> None:
            got.append(text)
            if len(got) == 3:
                os.kill(pid, signal.SIGKILL)

        with pytest.raises(ModelError, match=r"the llama.cpp server \(pid \d+\) died with status "
                                             r"-9; log: .*llama-smollm2") as info:
            await model.request_stream(ask("Count from one to two hundred in words.",
                                           max_tokens=400, temperature=0), on_text)
        partial = info.value.partial
        assert partial is not None and partial.text.startswith("".join(got[:3]))
        with pytest.raises(ModelError, match="died with status -9"):
            await model.request(ask("hi", max_tokens=2))
    assert not server.running()


async def test_a_server_that_does_not_start_in_time_is_an_error() -> None:
    model = LocalModel("local/smollm2", LocalSettings(startup_timeout_s=0.05))
    with pytest.raises(ModelError, match=r"did not answer .*/v1/models within "
                                         r"startup_timeout_s=0.05s; log: "):
        await model.start()
    assert not model.started and not model.servers
    with pytest.raises(UserError, match="is not started"):
        await model.request(ask("hi"))


async def test_the_agent_starts_and_stops_its_local_server() -> None:
    agent = Agent("local/smollm2:max_tokens=24", store=None, planner="react")
    model = agent.model
    async with agent:
        inner = getattr(model, "inner", model)
        assert isinstance(inner, LocalModel) and inner.started
        port = inner.servers[0].port
        result = await agent.arun("What is 2 + 2?")
        assert result.status in ("ok", "failed", "budget_exhausted")
    assert not inner.started
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/v1/models")
