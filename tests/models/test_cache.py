"""ResponseCache and CachedModel: what is cached, how samples stay independent, persistence."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forethought._paths import forethought_home
from forethought.exceptions import ModelHTTPError, UserError
from forethought.models.cache import CachedModel, ResponseCache, cache_key
from forethought.models.litellm_model import LiteLLMModel
from forethought.models.messages import (
    Choice,
    Message,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ToolCall,
    Usage,
)
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, ModelCallFinished
from tests.fake_openai import API_KEY, FakeOpenAI, tool_call


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ResponseCache]:
    with ResponseCache(tmp_path / "cache.sqlite") as c:
        yield c


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


def ask(text: str = "hi", **settings: Any) -> ModelRequest:
    return ModelRequest(messages=(Message.user(text),), settings=ModelSettings(**settings))


def scripted(*replies: str) -> ScriptedModel:
    return ScriptedModel(list(replies), name="scripted-test")


# -- keys -----------------------------------------------------------------------------------


def test_key_depends_on_what_determines_the_reply() -> None:
    base = cache_key("m", ask("hi", temperature=0))
    assert base == cache_key("m", ask("hi", temperature=0))
    assert len(base) == 64
    assert base != cache_key("other-model", ask("hi", temperature=0))
    assert base != cache_key("m", ask("hello", temperature=0))
    assert base != cache_key("m", ask("hi", temperature=0, seed=1))
    assert base != cache_key("m", ask("hi", temperature=0), sample_slot=1)
    # annotations that are never sent to the provider do not change the key
    annotated = ModelRequest(messages=(Message.user("hi"),), settings=ModelSettings(temperature=0),
                             purpose="judge", metadata={"node": "n7"})
    assert base == cache_key("m", annotated)


# -- ResponseCache --------------------------------------------------------------------------


def test_cache_get_put_len_clear_stats(cache: ResponseCache) -> None:
    response = ModelResponse(
        choices=[Choice(text="a", finish_reason="stop"),
                 Choice(text="", tool_calls=(ToolCall(id="c", name="t", arguments="{}"),))],
        usage=Usage(prompt_tokens=3, completion_tokens=4, cost_usd=0.5, latency_s=1.0,
                    model_calls=1),
        model="m")
    assert cache.get("k") is None
    cache.put("k", response)
    assert len(cache) == 1
    stored = cache.get("k")
    assert stored is not None
    assert stored.to_json() == response.to_json()
    assert cache.stats.hits == 1 and cache.stats.misses == 1
    cache.clear()
    assert len(cache) == 0


def test_default_path_is_under_forethought_home() -> None:
    with ResponseCache() as c:
        assert c.path == forethought_home() / "cache.sqlite"
        assert c.path.exists()
    assert str(forethought_home()) == os.environ["FORETHOUGHT_HOME"]  # the test's private home


# -- CachedModel ----------------------------------------------------------------------------


async def test_temperature0_hit_and_miss(cache: ResponseCache) -> None:
    inner = scripted("first", "second")
    model = CachedModel(inner, cache)
    assert model.name == "scripted-test"
    miss = await model.request(ask(temperature=0))
    hit = await model.request(ask(temperature=0))
    assert (miss.text, miss.cached) == ("first", False)
    assert miss.usage.model_calls == 1
    assert (hit.text, hit.cached) == ("first", True)
    assert hit.usage == Usage()  # a hit costs nothing: no tokens, dollars, time or calls
    assert len(inner.requests) == 1
    assert cache.stats.hits == 1 and cache.stats.misses == 1
    other = await model.request(ask("something else", temperature=0))
    assert other.text == "second"


async def test_temperature0_caches_n_samples_as_one_entry(cache: ResponseCache) -> None:
    inner = scripted("x", "x", "x")
    model = CachedModel(inner, cache)
    first = await model.request(ask(temperature=0, n=3))
    again = await model.request(ask(temperature=0, n=3))
    assert first.texts == again.texts == ["x", "x", "x"]
    assert again.cached and len(cache) == 1


@pytest.mark.parametrize("temperature", [0.7, None])
async def test_sampled_calls_pass_through_in_default_mode(cache: ResponseCache,
                                                          temperature: float | None) -> None:
    inner = scripted("a", "b")
    model = CachedModel(inner, cache)
    texts = [(await model.request(ask(temperature=temperature))).text for _ in range(2)]
    assert texts == ["a", "b"]
    assert len(cache) == 0
    assert cache.stats.hits == cache.stats.misses == 0


async def test_always_mode_keeps_samples_independent_and_replays_them(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as cache:
        first_run = CachedModel(scripted("a", "b"), cache, mode="always")
        texts = [(await first_run.request(ask(temperature=1.0))).text for _ in range(2)]
        assert texts == ["a", "b"]  # two identical requests are not collapsed into one
        assert len(cache) == 2
    with ResponseCache(path) as cache:  # a re-run of the whole program
        inner = scripted("c")
        second_run = CachedModel(inner, cache, mode="always")
        replies = [await second_run.request(ask(temperature=1.0)) for _ in range(3)]
        assert [r.text for r in replies] == ["a", "b", "c"]
        assert [r.cached for r in replies] == [True, True, False]
        assert len(inner.requests) == 1


async def test_always_mode_collapses_temperature0_calls(cache: ResponseCache) -> None:
    inner = scripted("det")
    model = CachedModel(inner, cache, mode="always")
    assert [(await model.request(ask(temperature=0))).text for _ in range(3)] == ["det"] * 3
    assert len(inner.requests) == 1


async def test_always_mode_slots_are_taken_in_call_order_when_concurrent(
        cache: ResponseCache) -> None:
    model = CachedModel(ScriptedModel(lambda r: "s", delay_s=0.01), cache, mode="always")
    await asyncio.gather(*(model.request(ask(temperature=1.0)) for _ in range(4)))
    assert len(cache) == 4


async def test_failures_are_not_cached(cache: ResponseCache) -> None:
    inner = ScriptedModel([RuntimeError("provider down"), "ok"], name="flaky")
    model = CachedModel(inner, cache)
    with pytest.raises(RuntimeError, match="provider down"):
        await model.request(ask(temperature=0))
    assert len(cache) == 0
    assert (await model.request(ask(temperature=0))).text == "ok"
    hit = await model.request(ask(temperature=0))
    assert hit.cached and hit.text == "ok"
    assert len(inner.requests) == 2


async def test_persists_across_cache_objects(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with ResponseCache(path) as cache:
        await CachedModel(scripted("remembered"), cache).request(ask(temperature=0))
    with ResponseCache(path) as cache:
        inner = scripted()
        hit = await CachedModel(inner, cache).request(ask(temperature=0))
        assert (hit.text, hit.cached) == ("remembered", True)
        assert inner.requests == []


async def test_streamed_hit_arrives_as_one_chunk(cache: ResponseCache) -> None:
    model = CachedModel(scripted("line one\nline two\n"), cache)
    first: list[str] = []
    await model.request_stream(ask(temperature=0), first.append)
    assert first == ["line one\n", "line two\n"]
    second: list[str] = []
    hit = await model.request_stream(ask(temperature=0), second.append)
    assert second == ["line one\nline two\n"]
    assert hit.cached


async def test_cached_flag_reaches_run_events(cache: ResponseCache) -> None:
    ctx = RunContext(model=CachedModel(scripted("x"), cache))
    seen: list[Event] = []
    ctx.events.subscribe(seen.append)
    await ctx.complete(ask(temperature=0))
    await ctx.complete(ask(temperature=0))
    finished = [e for e in seen if isinstance(e, ModelCallFinished)]
    assert [e.cached for e in finished] == [False, True]
    assert ctx.budget.spent.model_calls == 1


def test_unknown_mode_is_rejected(cache: ResponseCache) -> None:
    with pytest.raises(UserError, match="'sometimes'"):
        CachedModel(scripted(), cache, mode="sometimes")  # pyright: ignore[reportArgumentType]


# -- with the real provider layer -----------------------------------------------------------


async def test_real_model_hit_skips_http_and_costs_nothing(server: FakeOpenAI,
                                                           cache: ResponseCache) -> None:
    server.reply("priced", usage=(1000, 500))
    inner = LiteLLMModel("openai/gpt-4o-mini", api_base=server.base_url, api_key=API_KEY)
    model = CachedModel(inner, cache)
    miss = await model.request(ask(temperature=0))
    hit = await model.request(ask(temperature=0))
    assert miss.usage.cost_usd > 0 and miss.usage.prompt_tokens == 1000
    assert (hit.text, hit.cached, hit.usage.cost_usd, hit.usage.total_tokens) == \
        ("priced", True, 0.0, 0)
    assert len(server.requests) == 1


async def test_real_model_errors_are_not_cached(server: FakeOpenAI,
                                                cache: ResponseCache) -> None:
    server.error(400, "bad request")
    server.reply("ok", tool_calls=[tool_call("add", "{}")])
    model = CachedModel(LiteLLMModel("openai/test-model", api_base=server.base_url,
                                     api_key=API_KEY), cache)
    with pytest.raises(ModelHTTPError):
        await model.request(ask(temperature=0))
    assert len(cache) == 0
    ok = await model.request(ask(temperature=0))
    again = await model.request(ask(temperature=0))
    assert again.cached and again.choices == ok.choices
    assert again.tool_calls == (ToolCall(id="call_1", name="add", arguments="{}"),)
    assert len(server.requests) == 2


async def test_model_default_settings_count_for_the_cache(server: FakeOpenAI,
                                                          cache: ResponseCache) -> None:
    server.reply("deterministic")
    inner = LiteLLMModel("openai/test-model", api_base=server.base_url, api_key=API_KEY,
                         settings=ModelSettings(temperature=0))
    model = CachedModel(inner, cache)
    await model.request(ask())  # temperature unset here, 0 by the model's default
    assert (await model.request(ask())).cached
    assert len(server.requests) == 1
