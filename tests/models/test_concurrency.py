"""Concurrency limits: the adaptive limit's rules, and its convergence against a server that
answers 429 above a fixed number of requests in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from forethought.exceptions import UserError
from forethought.models.concurrency import AdaptiveLimit, FixedLimit, shared_limit
from forethought.models.litellm_import import import_now
from forethought.models.litellm_model import LiteLLMModel
from forethought.models.messages import Message, ModelRequest
from tests.fake_openai import API_KEY, MODEL, FakeOpenAI, Reply


def feed(limit: AdaptiveLimit, n: int, latency: float = 0.05) -> None:
    """``n`` successful calls, the limit fully used."""
    limit.acquired(limit.limit)
    for _ in range(n):
        limit.record("ok", latency)


def test_slow_start_doubles_then_overload_backs_off_once_per_window() -> None:
    limit = AdaptiveLimit(initial=4, max_limit=100)
    feed(limit, 4)
    assert limit.limit == 8
    feed(limit, 8)
    assert limit.limit == 16
    for _ in range(5):  # one overshoot: five 429s in one window count once
        limit.record("overload", 0.05)
    assert limit.limit == 14  # 16 * 0.9
    feed(limit, 14)  # that window had an overload: no growth at its end
    assert limit.limit == 14
    feed(limit, 14)  # a clean window: additive increase now, slow start is over
    assert limit.limit == 15


def test_bounds_hold() -> None:
    limit = AdaptiveLimit(initial=2, min_limit=2, max_limit=5)
    for _ in range(20):
        feed(limit, limit.limit)
    assert limit.limit == 5
    for _ in range(50):
        limit.record("overload", 0.05)
        feed(limit, limit.limit)
    assert limit.limit >= 2


def test_latency_rising_well_above_the_best_is_overload() -> None:
    limit = AdaptiveLimit(initial=4, max_limit=100)
    feed(limit, 4, latency=0.05)
    assert limit.limit == 8
    feed(limit, 8, latency=0.2)  # four times the best window: the server is queueing
    assert limit.limit == 7


def test_a_limit_that_is_not_used_does_not_grow() -> None:
    limit = AdaptiveLimit(initial=8)
    limit.acquired(3)  # demand reaches 3 of 8 slots
    for _ in range(8):
        limit.record("ok", 0.05)
    assert limit.limit == 8


def test_other_errors_teach_nothing() -> None:
    limit = AdaptiveLimit(initial=4)
    limit.record("error", 0.01)
    assert limit.limit == 4


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(UserError, match="min_limit <= initial <= max_limit"):
        AdaptiveLimit(initial=10, max_limit=5)
    with pytest.raises(UserError, match="backoff"):
        AdaptiveLimit(backoff=1.5)
    with pytest.raises(UserError, match=">= 1"):
        FixedLimit(0)
    with pytest.raises(UserError, match="'fixed', 'adaptive'"):
        LiteLLMModel(MODEL, concurrency="sometimes")  # type: ignore[arg-type]


def test_adaptive_limits_are_shared_per_model_and_endpoint() -> None:
    a = LiteLLMModel("openai/shared-test", api_base="http://127.0.0.1:1/v1",
                     concurrency="adaptive")
    b = LiteLLMModel("openai/shared-test", api_base="http://127.0.0.1:1/v1",
                     concurrency="adaptive")
    c = LiteLLMModel("openai/shared-test", api_base="http://127.0.0.1:2/v1",
                     concurrency="adaptive")
    assert a.limiter is b.limiter is shared_limit("openai/shared-test", "http://127.0.0.1:1/v1")
    assert c.limiter is not a.limiter
    assert a.max_concurrency == 256 and a.limiter.limit == 8


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    import_now()
    with FakeOpenAI() as s:
        yield s


async def test_the_limit_converges_below_the_servers_capacity(server: FakeOpenAI) -> None:
    server.capacity = 16
    server.default = Reply(texts=("ok",), delay_s=0.03)
    # Only the 429s steer here (the latency rule is tested above): a loaded test machine's
    # own slowness must not move the limit.
    limiter = AdaptiveLimit(initial=2, max_limit=64, latency_tolerance=1e9)
    model = LiteLLMModel(MODEL, api_base=server.base_url, api_key=API_KEY,
                         concurrency=limiter, retry_max_wait_s=0.05, max_retries=50)
    request = ModelRequest(messages=(Message.user("hi"),))
    results = await asyncio.gather(*(model.request(request) for _ in range(800)))
    assert all(r.text == "ok" for r in results)  # every 429 was retried to success
    # It settles near the capacity. A call keeps its slot while it waits to retry a 429, so
    # a few slots above 16 can be held by calls that are not at the server.
    assert 10 <= limiter.limit <= 24, limiter.history
    assert server.max_in_flight <= 16
    late = [limit for _, limit in limiter.history[len(limiter.history) // 2:]]
    assert late and max(late) <= 24 and min(late) >= 10, limiter.history
    # The 429s came from probing past the capacity, not from a collapse: few of them.
    assert server.rejected < 800 * 0.15
