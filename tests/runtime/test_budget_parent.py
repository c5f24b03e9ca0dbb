"""Nested budgets: a dataset's tracker over the trackers of its instances, running at once.

Every instance's calls are admitted against its own caps and the dataset's, at dispatch, with
the same rule at both levels; the dataset's deadline cancels every instance.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forethought.agents.agent import Agent, AgentResult
from forethought.exceptions import BudgetExceeded
from forethought.models.messages import Usage
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.events import BudgetExhausted
from tests.runtime.test_budget_admission import PRICE_PER_TOKEN, Fanout, QueueingModel


async def _instances(agent: Agent, dataset: BudgetTracker, k: int,
                     budget: Budget | None = None) -> list[AgentResult]:
    async with agent:
        return list(await asyncio.gather(*(agent.arun(f"q{i}", budget=budget, within=dataset)
                                           for i in range(k))))


def test_a_dataset_call_cap_is_exact_across_instances_in_flight() -> None:
    model = QueueingModel(limit=6, completion_tokens=[20], max_tokens=50, delay_s=0.003)
    dataset = BudgetTracker(budget=Budget(max_model_calls=37), name="dataset")
    agent = Agent(model, planner=Fanout(n=10), store=None)
    results = asyncio.run(_instances(agent, dataset, k=8))
    assert model.sent == 37 == dataset.started_calls == dataset.spent.model_calls
    assert sum(r.usage.model_calls for r in results) == 37
    stopped = [r for r in results if r.status == "budget_exhausted"]
    assert stopped and all(r.partial for r in stopped)
    assert dataset.refused == "dataset budget: model calls 37 >= limit 37"
    assert dataset.in_flight == 0 and dataset.reserved == Usage()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(1, 8), n=st.integers(1, 24), limit=st.integers(1, 16),
       completions=st.lists(st.integers(1, 150), min_size=1, max_size=6),
       cap=st.integers(0, 8_000), cost=st.booleans())
def test_a_dataset_token_or_cost_cap_holds_like_a_run_cap(
        k: int, n: int, limit: int, completions: list[int], cap: int, cost: bool) -> None:
    # Reservations are true worst cases (no call uses more than max_tokens), so only a call
    # sent while nothing else of the dataset is in flight can cross its cap, by its own usage.
    model = QueueingModel(limit=limit, completion_tokens=completions, max_tokens=150,
                          delay_s=0.001)
    budget = Budget(max_cost_usd=cap * PRICE_PER_TOKEN) if cost else Budget(max_tokens=cap)
    dataset = BudgetTracker(budget=budget, name="dataset")
    results = asyncio.run(_instances(Agent(model, planner=Fanout(n=n), store=None), dataset, k))
    per_call_max = 10 + max(completions)
    if cost:
        assert dataset.spent.cost_usd <= (cap + per_call_max) * PRICE_PER_TOKEN + 1e-12
    else:
        assert dataset.spent.total_tokens <= cap + per_call_max
    assert dataset.spent.model_calls == model.sent
    assert sum(r.usage.model_calls for r in results) == model.sent
    assert dataset.in_flight == 0 and dataset.reserved.total_tokens == 0
    if model.sent < k * n:
        assert dataset.refused is not None and dataset.refused.startswith("dataset budget: ")


def test_instance_caps_still_apply_under_a_dataset_budget() -> None:
    model = QueueingModel(limit=8, completion_tokens=[20], max_tokens=50)
    dataset = BudgetTracker(budget=Budget(max_model_calls=1000), name="dataset")
    results = asyncio.run(_instances(Agent(model, planner=Fanout(n=10), store=None), dataset,
                                     k=5, budget=Budget(max_model_calls=3)))
    assert [r.usage.model_calls for r in results] == [3] * 5
    assert dataset.started_calls == 15 and dataset.refused is None
    assert all(r.status == "budget_exhausted" and r.partial for r in results)


def test_a_waiting_instance_is_admitted_when_another_instance_returns() -> None:
    # The dataset cap admits about two worst cases at a time (210 tokens each, 60 used):
    # instances wait on each other's reservations, not only on their own.
    model = QueueingModel(limit=8, completion_tokens=[50], max_tokens=200)
    dataset = BudgetTracker(budget=Budget(max_tokens=500), name="dataset")
    asyncio.run(_instances(Agent(model, planner=Fanout(n=5), store=None), dataset, k=4))
    assert model.sent == 9 and dataset.spent.total_tokens == 540
    assert model.peak <= 8


def test_the_dataset_deadline_cancels_every_instance() -> None:
    model = QueueingModel(limit=8, completion_tokens=[20], max_tokens=50, delay_s=5.0)
    dataset = BudgetTracker(budget=Budget(max_seconds=0.2), name="dataset")
    refusals: list[str] = []
    agent = Agent(model, planner=Fanout(n=2), store=None, subscribers=[
        lambda e: refusals.append(e.reason) if isinstance(e, BudgetExhausted) else None])
    started = time.perf_counter()
    results = asyncio.run(_instances(agent, dataset, k=3))
    assert time.perf_counter() - started < 2.0
    assert all(r.status == "budget_exhausted" and r.partial for r in results)
    assert len(refusals) == 6 and all(
        re.fullmatch(r"dataset budget: elapsed 0\.2\ds >= limit 0\.2s \(deadline: the call was "
                     r"cancelled\)", reason) for reason in refusals), refusals
    assert (dataset.refused or "").startswith("dataset budget: elapsed")


def test_remaining_seconds_is_the_earliest_deadline_of_the_chain() -> None:
    now = [100.0]
    dataset = BudgetTracker(budget=Budget(max_seconds=10), clock=lambda: now[0], name="dataset")
    now[0] = 106.0
    run = BudgetTracker(budget=Budget(max_seconds=8), clock=lambda: now[0], parent=dataset)
    assert run.remaining_seconds() == 4.0
    assert BudgetTracker(budget=Budget(max_seconds=2), clock=lambda: now[0],
                         parent=dataset).remaining_seconds() == 2.0
    assert BudgetTracker(clock=lambda: now[0], parent=dataset).remaining_seconds() == 4.0
    now[0] = 111.0
    assert run.exhausted() == "dataset budget: elapsed 11.00s >= limit 10s"
    with pytest.raises(BudgetExceeded, match="dataset budget: elapsed"):
        run.check()
    assert dataset.refused == "dataset budget: elapsed 11.00s >= limit 10s"
    assert run.deadline_reason() == "dataset budget: elapsed 11.00s >= limit 10s"


def test_an_overrun_is_reported_by_the_tracker_whose_cap_it_was() -> None:
    dataset = BudgetTracker(budget=Budget(max_tokens=100), name="dataset")
    run = BudgetTracker(parent=dataset)

    async def go() -> None:
        reservation = await run.admit(Usage(prompt_tokens=10, completion_tokens=50))
        run.settle(reservation, Usage(prompt_tokens=10, completion_tokens=200, model_calls=1))

    asyncio.run(go())
    assert dataset.over() == "tokens 210 > limit 100"
    assert run.over() is None  # the run had no cap of its own
    assert run.spent.total_tokens == dataset.spent.total_tokens == 210
    with pytest.raises(BudgetExceeded, match=r"^budget exceeded: dataset budget: tokens 210"):
        run.check()
