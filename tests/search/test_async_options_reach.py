"""The asynchronous options reach a search from every way of configuring one: a YAML recipe,
the SDK's SearchPlanner and a strategy built in code, with their progress events, and bad
values refused there with errors that name them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from forethought import Agent, SearchPlanner, UserError, build_agent, parse_recipe
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.events import Event, PlannerEvent, StrategyStep
from forethought.search.base import strategy_class
from forethought.search.beam import BeamSearch

RECIPE = """\
model: simulated
planner:
  kind: search
  strategy: {kind: beam, width: 2, expansion: 2, proceed_at: 0.5}
budget: {max_model_calls: 60}
"""


async def collect(agent: Agent[Any, Any], question: str) -> tuple[list[Event], Any]:
    events: list[Event] = []
    async with agent.iter(question) as run:
        async for event in run:
            events.append(event)
    return events, run.result


def test_a_recipe_sets_proceed_at_and_the_search_runs_with_it() -> None:
    agent = build_agent(parse_recipe(RECIPE), store=None)
    planner = agent.planner
    assert isinstance(planner, SearchPlanner)
    assert isinstance(planner.strategy, BeamSearch)
    assert planner.strategy.options.proceed_at == 0.5
    events, result = asyncio.run(collect(agent, "What is 2 + 3?"))
    assert result.status in ("ok", "partial") and result.output
    assert any(isinstance(e, StrategyStep) and e.node_id == "search" for e in events)


def staggered(fast: int, answer: str = "4") -> ScriptedModel:
    """Every rollout answers ``answer``; the first ``fast`` calls return at once, the rest
    after 30 s (they must be cancelled, or the test would take that long)."""
    calls = 0

    async def reply(request: ModelRequest) -> str:
        nonlocal calls
        calls += 1
        if calls > fast:
            await asyncio.sleep(30)
        return f"Step 1: 2 + 2 = {answer}\nAnswer: {answer}"

    return ScriptedModel(reply)


def test_the_sdk_stops_self_consistency_early_and_reports_it() -> None:
    planner = SearchPlanner(strategy={"kind": "self_consistency", "n": 9, "stop_early": True})
    agent = Agent(staggered(fast=5), planner=planner, store=None)
    started = time.perf_counter()
    events, result = asyncio.run(collect(agent, "2 + 2?"))
    assert time.perf_counter() - started < 20  # the four slow samples were not waited for
    assert result.ok and result.output == "4"
    finished = [e for e in events if isinstance(e, PlannerEvent)
                and e.action == "search_finished"]
    assert finished and "stopped_early=1" in finished[0].detail
    assert "cancelled_calls=4" in finished[0].detail
    # Streaming progress: one event per group of arrivals, the samples named by their tag.
    steps = [e for e in events if isinstance(e, StrategyStep)]
    assert steps and all(e.failed == 0 for e in steps)
    assert sum(sum(e.actions.values()) for e in steps) == 5
    assert {tag for e in steps for tag in e.actions} == {"rollout"}


def test_a_strategy_built_in_code_takes_the_options() -> None:
    beam = BeamSearch(width=2, expansion=2, proceed_at=0.25)
    assert beam.options.proceed_at == 0.25 and strategy_class("beam") is BeamSearch
    assert "proceed_at=0.25" in repr(beam)  # shown once set


@pytest.mark.parametrize(("strategy", "message"), [
    ({"kind": "beam", "proceed_at": 0}, "proceed_at"),
    ({"kind": "particle_filter", "proceed_at": "half"}, "proceed_at"),
    ({"kind": "tot_bfs", "proceed_at": 0.5, "evaluation": "vote"},
     "a vote compares all of a level's states in one call"),
    ({"kind": "mcts", "proceed_at": 0.5}, "strategy 'mcts': proceed_at: Extra inputs"),
    ({"kind": "best_of_n", "stop_early": 1}, "stop_early"),
])
def test_the_sdk_refuses_bad_values_by_name(strategy: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        SearchPlanner(strategy=strategy)


def test_best_of_n_stopping_early_without_a_verifier_is_refused_before_any_call() -> None:
    calls: list[ModelRequest] = []
    model = ScriptedModel(lambda r: calls.append(r) or "Answer: 4")
    planner = SearchPlanner(strategy={"kind": "best_of_n", "n": 4, "stop_early": True})
    with pytest.raises(UserError, match="best_of_n stop_early stops at an answer a verifier "
                                        "accepts, but the task's final scorer RewardScorer"):
        Agent(model, planner=planner, store=None).run("2 + 2?")
    assert calls == []
