"""Hedged requests: a call past the recent latency percentile gets a duplicate, the first to
finish wins, the loser is cancelled and charged its prompt, and the budget is never exceeded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from forethought.exceptions import UserError
from forethought.models.base import Model
from forethought.models.hedging import HedgedModel
from forethought.models.messages import Choice, Message, ModelRequest, ModelResponse, Usage
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext


class Timed(Model):
    """Sleeps the next latency of ``latencies`` per call; notes cancellations."""

    def __init__(self, latencies: Iterator[float]) -> None:
        self.name = "timed"
        self._latencies = latencies
        self.started = 0
        self.cancelled = 0

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.started += 1
        latency = next(self._latencies)
        try:
            await asyncio.sleep(latency)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return ModelResponse(choices=[Choice(text=f"{latency}")], model=self.name,
                             usage=Usage(prompt_tokens=10, completion_tokens=5, model_calls=1))


def ask() -> ModelRequest:
    return ModelRequest(messages=(Message.user("q" * 40),))


def latencies(slow_every: int, fast: float = 0.01, slow: float = 1.0) -> Iterator[float]:
    i = 0
    while True:
        i += 1
        yield slow if i % slow_every == 0 else fast


async def test_a_straggler_is_hedged_and_the_duplicate_wins() -> None:
    inner = Timed(latencies(slow_every=25))
    model = HedgedModel(inner, percentile=0.9, min_samples=10)
    ctx = RunContext(model=model)
    for _ in range(24):  # learn the latencies (call 25 will be slow)
        await ctx.complete(ask())
    before = ctx.budget.spent.model_calls
    response = await ctx.complete(ask())
    assert response.text == "0.01"  # the duplicate (call 26, fast) won
    assert model.stats["hedged"] == 1 and model.stats["hedge_won"] == 1
    assert inner.cancelled == 1  # the slow original was cancelled...
    spent = ctx.budget.spent
    assert spent.model_calls - before == 2  # ...and both copies are counted
    assert spent.prompt_tokens == 26 * 10  # the loser is charged the prompt it sent
    assert ctx.budget.started_calls == 26 and ctx.budget.in_flight == 0


async def test_a_hedge_never_exceeds_the_budget() -> None:
    inner = Timed(latencies(slow_every=12))
    model = HedgedModel(inner, percentile=0.9, min_samples=10)
    ctx = RunContext(model=model, budget=BudgetTracker(budget=Budget(max_model_calls=12)))
    results = [await ctx.complete(ask()) for _ in range(12)]
    assert results[-1].text == "1.0"  # no room for a duplicate: the slow call ran out
    assert model.stats["hedge_refused"] == 1 and model.stats["hedged"] == 0
    assert ctx.budget.started_calls == 12 and inner.started == 12


async def test_no_hedging_before_enough_latencies_are_known() -> None:
    model = HedgedModel(Timed(latencies(slow_every=2, slow=0.05)), min_samples=20)
    assert model.hedge_after() is None
    await RunContext(model=model).complete(ask())
    await RunContext(model=model).complete(ask())
    assert model.stats["hedged"] == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UserError, match="percentile"):
        HedgedModel(Timed(latencies(2)), percentile=1.5)
    with pytest.raises(UserError, match="min_samples"):
        HedgedModel(Timed(latencies(2)), min_samples=50, window=10)


class _Served(Model):
    """A model with a life cycle (as a local server has), recording it."""

    def __init__(self) -> None:
        self.name = "served"
        self.events: list[str] = []

    async def request(self, request: ModelRequest) -> ModelResponse:
        return ModelResponse(choices=[Choice(text="x")], model=self.name, usage=Usage())

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    def cache_identity(self) -> dict[str, str]:
        return {"model": "served", "file": "m.gguf"}


async def test_wrappers_start_and_stop_the_model_they_wrap() -> None:
    from forethought.models.cache import CachedModel, ResponseCache

    inner = _Served()
    async with HedgedModel(inner) as hedged:
        assert inner.events == ["start"]
        assert hedged.cache_identity() == inner.cache_identity()
    assert inner.events == ["start", "stop"]
    with ResponseCache(":memory:") as cache:
        async with CachedModel(inner, cache):
            pass
    assert inner.events == ["start", "stop", "start", "stop"]
