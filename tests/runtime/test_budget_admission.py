"""Budgets admitted at dispatch: caps hold behind a model's own queue, deadlines cancel.

The models here queue like a real provider client (a per-model concurrency limit) and call the
admission gate when a request leaves the queue, as ``LiteLLMModel`` does.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forethought.agents.agent import Agent
from forethought.exceptions import BudgetExceeded
from forethought.models.admission import dispatching
from forethought.models.base import Model
from forethought.models.messages import Choice, Message, ModelRequest, ModelResponse, Usage
from forethought.models.scripted import ScriptedModel
from forethought.planners.base import Planner, PlanOutcome
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.runtime.events import BudgetExhausted, Event, ModelCallFinished
from forethought.tools.base import ToolRegistry, tool

PRICE_PER_TOKEN = 1e-6


class QueueingModel(Model):
    """A priced model behind a concurrency limit that admits each call when it is sent."""

    admits_at_dispatch = True

    def __init__(self, *, limit: int, completion_tokens: list[int], max_tokens: int,
                 delay_s: float = 0.002) -> None:
        self.name = "queueing"
        self.max_output_tokens = max_tokens
        self._semaphore = asyncio.Semaphore(limit)
        self._completions = completion_tokens
        self._next = 0
        self.delay_s = delay_s
        self.sent = 0
        self.in_flight = 0
        self.peak = 0

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens + completion_tokens) * PRICE_PER_TOKEN

    async def request(self, request: ModelRequest) -> ModelResponse:
        async with self._semaphore:
            await dispatching(self, request)
            self.sent += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            completion = self._completions[self._next % len(self._completions)]
            self._next += 1
            try:
                await asyncio.sleep(self.delay_s)
            finally:
                self.in_flight -= 1
        prompt = self.count_prompt_tokens(request)
        return ModelResponse(choices=[Choice(text="x" * completion)], model=self.name,
                             usage=Usage(prompt_tokens=prompt, completion_tokens=completion,
                                         cost_usd=self.price(prompt, completion),
                                         model_calls=1))


def ask() -> ModelRequest:
    return ModelRequest(messages=(Message.user("q" * 40),))  # 10 prompt tokens


@dataclass
class Fanout(Planner):
    """Sends ``n`` calls at once; a refusal stops work, so the outcome is partial."""

    n: int
    name = "fanout"
    Options = None  # type: ignore[assignment]  # never built from a recipe

    async def solve(self, ctx: RunContext, question: str) -> PlanOutcome:
        results = await asyncio.gather(*(ctx.complete(ask()) for _ in range(self.n)),
                                       return_exceptions=True)
        answers = [r.text for r in results if isinstance(r, ModelResponse)]
        refused = any(isinstance(r, BudgetExceeded) for r in results)
        if refused:
            return PlanOutcome(answer=str(len(answers)), status="budget_exhausted", partial=True)
        return PlanOutcome(answer=str(len(answers)))


caps = st.sampled_from(["tokens", "cost", "calls"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limit=st.integers(1, 64), n=st.integers(1, 128), cap=caps,
       completions=st.lists(st.integers(1, 200), min_size=1, max_size=8),
       cap_size=st.integers(0, 20_000))
def test_caps_hold_behind_a_queue(limit: int, n: int, cap: str, completions: list[int],
                                  cap_size: int) -> None:
    max_tokens = 200  # no call may use more: the reservations are true worst cases
    model = QueueingModel(limit=limit, completion_tokens=completions, max_tokens=max_tokens)
    budget = {"tokens": Budget(max_tokens=cap_size),
              "cost": Budget(max_cost_usd=cap_size * PRICE_PER_TOKEN),
              "calls": Budget(max_model_calls=cap_size // 200)}[cap]
    agent = Agent(model, planner=Fanout(n=n), budget=budget, store=None)
    result = agent.run("go")
    spent = result.usage
    per_call_max = 10 + max(completions)
    if cap == "calls":
        assert model.sent <= cap_size // 200
    elif cap == "tokens":
        # Every call's usage fits its reservation, so only a call sent alone (nothing else in
        # flight, the cap not yet reached) can cross the cap, by at most its own usage.
        assert spent.total_tokens <= max(cap_size, 0) + per_call_max
        if spent.total_tokens > cap_size:
            assert result.status == "budget_exhausted"
    else:
        assert spent.cost_usd <= cap_size * PRICE_PER_TOKEN + per_call_max * PRICE_PER_TOKEN
    stopped = model.sent < n
    if stopped:
        assert result.status == "budget_exhausted" and result.partial
    else:
        assert result.status in ("ok", "budget_exhausted")
    assert spent.model_calls == model.sent
    assert int(result.answer or 0) == model.sent


def test_a_cap_with_a_deep_queue_is_not_overrun() -> None:
    # The case: 64 parallel samples, a concurrency limit of 8, a cap worth about two
    # calls. Checked before the queue, all 64 went out. Admitted at dispatch: two worst cases
    # (210 tokens each) fit and go together; they use 160 each; a third no longer fits beside
    # anything, goes alone as the cap is not reached yet, and is the only call past it.
    model = QueueingModel(limit=8, completion_tokens=[150], max_tokens=200, delay_s=0.01)
    agent = Agent(model, planner=Fanout(n=64), store=None,
                  budget=Budget(max_cost_usd=420 * PRICE_PER_TOKEN))
    result = agent.run("go")
    assert model.sent == 3 and model.peak == 2
    assert result.usage.cost_usd == pytest.approx(480 * PRICE_PER_TOKEN)
    assert result.status == "budget_exhausted" and result.partial
    assert result.answer == "3"


def test_calls_that_fit_run_in_parallel() -> None:
    model = QueueingModel(limit=8, completion_tokens=[50], max_tokens=100, delay_s=0.02)
    result = Agent(model, planner=Fanout(n=32), store=None,
                   budget=Budget(max_tokens=100_000)).run("go")
    assert result.status == "ok" and model.sent == 32 and model.peak == 8


def test_a_waiting_call_is_admitted_when_reservations_return() -> None:
    # Each call reserves 210 tokens but uses 60; a 500-token cap admits two at first, then
    # more as the reservations shrink to the real usage.
    model = QueueingModel(limit=8, completion_tokens=[50], max_tokens=200)
    result = Agent(model, planner=Fanout(n=20), store=None,
                   budget=Budget(max_tokens=500)).run("go")
    assert model.sent == 9  # 8 x 60 = 480 tokens; a ninth fits alone (540 > 500 afterwards)
    assert result.usage.total_tokens == 540
    assert result.status == "budget_exhausted" and result.partial


def test_budget_refusals_are_events_and_the_first_reason_is_kept() -> None:
    model = QueueingModel(limit=2, completion_tokens=[10], max_tokens=20)
    tracker = BudgetTracker(budget=Budget(max_model_calls=3))
    ctx = RunContext(model=model, budget=tracker)
    events: list[Event] = []
    ctx.events.subscribe(events.append)

    async def main() -> list[ModelResponse | BaseException]:
        return await asyncio.gather(*(ctx.complete(ask()) for _ in range(6)),
                                    return_exceptions=True)

    results = asyncio.run(main())
    assert sum(isinstance(r, ModelResponse) for r in results) == 3
    assert all(isinstance(r, BudgetExceeded) for r in results if not isinstance(r, ModelResponse))
    assert tracker.refused == "model calls 3 >= limit 3"
    assert sum(isinstance(e, BudgetExhausted) for e in events) == 3
    finished = [e for e in events if isinstance(e, ModelCallFinished)]
    assert sum(e.error is not None for e in finished) == 3
    assert tracker.in_flight == 0 and tracker.reserved.total_tokens == 0


# -- deadlines ----------------------------------------------------------------------------


@tool
async def sleepy(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "woke"


@tool
def sleepy_sync(seconds: float) -> str:
    """Sleep in a worker thread, then answer."""
    time.sleep(seconds)
    return "woke"


@pytest.mark.parametrize("tool_name", ["sleepy", "sleepy_sync"])
def test_a_tool_past_max_seconds_is_cancelled_at_the_deadline(tool_name: str) -> None:
    script = ScriptedModel([f"1. {tool_name}(seconds=6)\n2. join()\n",
                            "Action: Finish(never)"])
    agent = Agent(script, tools=[sleepy, sleepy_sync], store=None,
                  budget=Budget(max_seconds=1))
    start = time.monotonic()
    result = agent.run("wait")
    took = time.monotonic() - start
    assert took < 1.5, took
    assert result.status == "budget_exhausted" and result.partial
    assert "deadline" in (result.error or "")


def test_a_model_call_past_max_seconds_is_cancelled() -> None:
    model = ScriptedModel(["1. join()\n", "Action: Finish(late)"], delay_s=5)
    start = time.monotonic()
    result = Agent(model, store=None, budget=Budget(max_seconds=0.5)).run("q")
    assert time.monotonic() - start < 1.0
    assert result.status == "budget_exhausted" and result.partial
    assert result.usage.model_calls == 1  # counted: it was sent, then cancelled


def test_a_call_cancelled_at_the_deadline_is_charged_its_prompt() -> None:
    model = QueueingModel(limit=1, completion_tokens=[10], max_tokens=20, delay_s=5)
    tracker = BudgetTracker(budget=Budget(max_seconds=0.2))
    ctx = RunContext(model=model, budget=tracker)

    async def main() -> None:
        with pytest.raises(BudgetExceeded, match="deadline"):
            await ctx.complete(ask())

    asyncio.run(main())
    assert tracker.spent.prompt_tokens == 10 and tracker.spent.completion_tokens == 0
    assert tracker.in_flight == 0


def test_a_tool_finishing_in_time_is_not_affected_by_the_deadline() -> None:
    ctx = RunContext(model=ScriptedModel([]), tools=ToolRegistry([sleepy]),
                     budget=BudgetTracker(budget=Budget(max_seconds=5)))
    assert asyncio.run(ctx.call_tool("sleepy", {"seconds": 0.01})) == "woke"


class PlainWrapper(Model):
    """A user's wrapper that does not declare ``admits_at_dispatch`` (the default, False)
    around a model that admits each request when it sends it."""

    def __init__(self, inner: Model) -> None:
        self.name = "wrapper"
        self.inner = inner
        self.max_output_tokens = inner.max_output_tokens

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        return self.inner.price(prompt_tokens, completion_tokens)

    async def request(self, request: ModelRequest) -> ModelResponse:
        return await self.inner.request(request)


def test_a_call_admitted_before_a_wrapped_queue_is_not_admitted_twice() -> None:
    # The run admits the wrapper's call itself; the inner model's dispatch then finds it
    # admitted. Counted twice, a cap of 4 calls would stop after 2.
    inner = QueueingModel(limit=2, completion_tokens=[5], max_tokens=50)
    tracker = BudgetTracker(budget=Budget(max_model_calls=4))
    ctx = RunContext(model=PlainWrapper(inner), budget=tracker)

    async def go() -> list[ModelResponse | BaseException]:
        return await asyncio.gather(*(ctx.complete(ask()) for _ in range(6)),
                                    return_exceptions=True)

    results = asyncio.run(go())
    assert sum(isinstance(r, ModelResponse) for r in results) == 4
    assert all(isinstance(r, BudgetExceeded) for r in results
               if not isinstance(r, ModelResponse))
    assert inner.sent == 4 and tracker.started_calls == 4
    assert tracker.spent.model_calls == 4 and tracker.spent.completion_tokens == 20


class TwiceSending(QueueingModel):
    """Sends a second request for the same call (a hedge, a fallback): each is a dispatch."""

    admits_at_dispatch = False

    async def request(self, request: ModelRequest) -> ModelResponse:
        await super().request(request)
        return await super().request(request)


def test_further_dispatches_of_a_call_admitted_up_front_still_count() -> None:
    model = TwiceSending(limit=1, completion_tokens=[5], max_tokens=50)
    tracker = BudgetTracker(budget=Budget(max_model_calls=3))
    ctx = RunContext(model=model, budget=tracker)
    asyncio.run(ctx.complete(ask()))
    assert model.sent == 2 and tracker.started_calls == 2
    with pytest.raises(BudgetExceeded):
        asyncio.run(ctx.complete(ask()))  # its second dispatch would be the 4th
    assert model.sent == 3 and tracker.started_calls == 3
