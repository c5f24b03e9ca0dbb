"""Asynchronous modes of the stepping strategies (``proceed_at``): the synchronous answers when
all latencies are equal (offline and through the driver); stragglers folded into the next step,
cancelled after it, and never prolonging a search; the budget running out mid-stream."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import Any

import pytest

from forethought.exceptions import UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.multistep import SimulatedMultiStepTask
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.base import StrategyResult, strategy_class
from forethought.search.chain import ChainTask
from forethought.search.machine import Action, Sample, run_offline
from forethought.search.scorers import JudgeScorer
from forethought.search.stepper import GRACE
from tests.search.test_strategies_exact import Toy, path_of, task

STEPPING = {
    "beam": [{"width": 1, "expansion": 2}, {"width": 2, "expansion": 3,
                                             "aggregation": "weighted"}],
    "rebase": [{"width": 4}, {"width": 6, "aggregation": "weighted", "temperature": 0.5}],
    "particle_filter": [{"particles": 4, "seed": 1}, {"particles": 5, "selection": "vote",
                                                     "resampling": "systematic"}],
    "tot_bfs": [{"breadth": 1, "proposals": 2}, {"breadth": 2, "proposals": 2,
                                                 "evaluation": "scorer"}],
}
CASES = [(name, options) for name, configs in STEPPING.items() for options in configs]


def snapshot(result: StrategyResult) -> dict[str, Any]:
    return dataclasses.asdict(result)


def offline(name: str, options: dict[str, Any], *, toy: Toy | None = None, **kw: Any
            ) -> tuple[StrategyResult, Toy]:
    toy = toy or Toy()
    result = run_offline(strategy_class(name).from_options(options).steps(task(**kw)), toy)
    assert isinstance(result, StrategyResult)
    return result, toy


# --- equal latencies: the synchronous answers -------------------------------------------------

@pytest.mark.parametrize(("name", "options"), CASES)
@pytest.mark.parametrize("proceed_at", [0.25, 0.5, 0.9])
def test_offline_the_asynchronous_mode_is_the_synchronous_one(
        name: str, options: dict[str, Any], proceed_at: float) -> None:
    sync, sync_toy = offline(name, options)
    fast, fast_toy = offline(name, {**options, "proceed_at": proceed_at})
    assert snapshot(fast) == snapshot(sync)
    assert fast_toy.calls == sync_toy.calls


@pytest.mark.parametrize(("name", "options"), CASES)
def test_offline_with_a_budget_the_asynchronous_mode_is_the_synchronous_one(
        name: str, options: dict[str, Any]) -> None:
    for budget in (3, 5, 7):
        sync, sync_toy = offline(name, options, toy=Toy(budget=budget))
        fast, toy = offline(name, {**options, "proceed_at": 0.5}, toy=Toy(budget=budget))
        assert snapshot(fast) == snapshot(sync), budget
        assert toy.calls == sync_toy.calls and fast.partial


@pytest.mark.parametrize(("name", "options"), CASES)
def test_through_the_driver_with_equal_delays_the_answers_are_the_synchronous_ones(
        name: str, options: dict[str, Any]) -> None:
    async def run(opts: dict[str, Any]) -> tuple[StrategyResult, int]:
        toy = Toy()
        ctx = RunContext(model=ScriptedModel(toy.reply, delay_s=0.05))
        result = await strategy_class(name).from_options(opts).arun(ctx, task())
        return result, ctx.budget.started_calls

    sync, sync_calls = asyncio.run(run(options))
    fast, fast_calls = asyncio.run(run({**options, "proceed_at": 0.5}))
    assert (fast.answer, fast.verified, fast.partial) == (sync.answer, sync.verified, sync.partial)
    assert [(c.answer, c.score) for c in fast.candidates] == [
        (c.answer, c.score) for c in sync.candidates]
    assert fast_calls == sync_calls and "late" not in fast.stats


def mixture(n: int) -> list[SimulatedMultiStepTask]:
    return [SimulatedMultiStepTask(id=f"m{i}", question=f"Problem {i} of three steps?",
                                   answer=f"a{i}", difficulty=0.3 + 0.6 * i / n, steps=3,
                                   distractors=(f"b{i}", f"c{i}")) for i in range(n)]


@pytest.mark.parametrize("name", sorted(STEPPING))
def test_seeded_simulator_runs_give_the_synchronous_results_at_equal_latencies(
        name: str) -> None:
    """Equal (here zero) latencies through the real driver, seeded: byte-identical results,
    with and without a budget that runs out mid-search."""
    tasks = mixture(6)

    async def run(options: dict[str, Any], budget: int | None) -> list[dict[str, Any]]:
        model = SimulatedModel(tasks, seed=7)
        out: list[dict[str, Any]] = []
        for t in tasks:
            ctx = RunContext(model=model, budget=BudgetTracker(
                budget=Budget(max_model_calls=budget)))
            chain = ChainTask(question=t.question, max_depth=5,
                              metadata={"instance_id": t.id})
            result = await strategy_class(name).from_options(options).arun(ctx, chain)
            out.append({**snapshot(result), "calls": ctx.budget.started_calls})
        return out

    for options in STEPPING[name]:
        for budget in (None, 13):
            sync = asyncio.run(run(options, budget))
            fast = asyncio.run(run({**options, "proceed_at": 0.5}, budget))
            assert fast == sync, (options, budget)


# --- unequal latencies: what changes ----------------------------------------------------------

def slow_when(slow: dict[tuple[str, ...], float], default: float = 1.0):  # type: ignore[no-untyped-def]
    """A latency function: a proposal from the state with these steps takes that long."""
    def latency(action: Action, ticket: int) -> float:
        assert isinstance(action, Sample)
        if action.request.purpose != "propose":
            return default
        return slow.get(path_of(action.request), default)
    return latency


def test_a_late_child_joins_the_next_step_and_competes_there() -> None:
    # Beam 2 x 2: the root's four proposals; the one answered fourth (B, from the Toy's
    # cycle A, B, A, B) is slow, so step 1 proceeds with three and B comes in at step 2.
    toy = Toy()
    latencies = {3: 1.6}  # ticket 3: the fourth proposal, late but within the next step

    def latency(action: Action, ticket: int) -> float:
        return latencies.get(ticket, 1.0)

    strategy = strategy_class("beam").from_options({"width": 2, "expansion": 2,
                                                    "proceed_at": 0.5})
    result = run_offline(strategy.steps(task()), toy, latency=latency)
    assert isinstance(result, StrategyResult)
    assert result.stats["late"] == 1 and result.answer == "2"
    assert "late_dropped" not in result.stats
    # Same calls as the synchronous search: the late child was ranked at step 2.
    assert toy.calls == {"propose": 8, "step": 8}


def test_a_chain_late_beyond_the_next_step_is_cancelled_and_counted() -> None:
    toy = Toy()

    def latency(action: Action, ticket: int) -> float:
        return 50.0 if ticket == 1 else 1.0  # the second root proposal never comes in time

    strategy = strategy_class("beam").from_options({"width": 1, "expansion": 2,
                                                    "proceed_at": 0.5})
    result = run_offline(strategy.steps(task()), toy, latency=latency)
    assert isinstance(result, StrategyResult)
    assert result.stats["late_dropped"] == 1 and result.stats["cancelled_calls"] == 1
    assert toy.calls["propose"] == 3  # the slow one was cancelled, never answered
    assert result.answer in {"1", "2"}


def test_the_quorum_waits_the_grace_for_calls_just_behind() -> None:
    # Four chains: two take 1.0 s, one 1.0 * (1 + GRACE) - a little (just behind), one far
    # behind. With proceed_at 0.5 the step waits for the third, not the fourth.
    just = 2.0 * (1 + GRACE) - 0.1  # a chain is a proposal then a score: 2 s in all

    def latency(action: Action, ticket: int) -> float:
        assert isinstance(action, Sample)
        if action.request.purpose == "propose" and ticket in (2, 3):
            return (just - 1.0) if ticket == 2 else 10.0
        return 1.0

    toy = Toy()
    strategy = strategy_class("particle_filter").from_options(
        {"particles": 4, "proceed_at": 0.5, "seed": 1})
    result = run_offline(strategy.steps(task()), toy, latency=latency)
    assert isinstance(result, StrategyResult)
    # The chain just behind made the step; the far one was late, then dropped a step later.
    assert "late" not in result.stats and result.stats["late_dropped"] == 1
    assert result.stats["cancelled_calls"] == 1 and result.answer is not None


def test_lines_that_fell_behind_do_not_prolong_the_search() -> None:
    # ToT BFS keeps one state per level. The B branch is slow at the root: it comes in at
    # level 2, when A's children have all finished; the search ends there, B is not expanded.
    toy = Toy()

    def latency(action: Action, ticket: int) -> float:
        return 1.6 if ticket == 1 else 1.0  # its chain: 2.6 s, past the 2.5 s the step waits

    strategy = strategy_class("tot_bfs").from_options(
        {"breadth": 1, "proposals": 2, "evaluation": "scorer", "proceed_at": 0.5})
    result = run_offline(strategy.steps(task()), toy, latency=latency)
    assert isinstance(result, StrategyResult)
    assert result.stats["late"] == 1 and result.stats["depth"] == 2
    assert result.answer == "2"
    assert toy.calls["propose"] == 4  # root x 2, A x 2; B never expanded


@pytest.mark.parametrize("name", sorted(STEPPING))
def test_budget_running_out_mid_stream_returns_the_best_so_far(name: str) -> None:
    async def run() -> tuple[StrategyResult, RunContext]:
        toy = Toy()

        async def reply(request: ModelRequest) -> str:
            await asyncio.sleep(0.02 if len(path_of(request)) % 2 else 0.05)
            return toy.reply(request)

        ctx = RunContext(model=ScriptedModel(reply),
                         budget=BudgetTracker(budget=Budget(max_model_calls=9)))
        strategy = strategy_class(name).from_options({"proceed_at": 0.5})
        return await strategy.arun(ctx, task()), ctx

    result, ctx = asyncio.run(run())
    assert result.partial and result.stats["budget_exhausted"] == 1
    assert ctx.budget.started_calls == 9 and ctx.budget.in_flight == 0
    if result.candidates:
        assert result.answer in {c.answer for c in result.candidates}


def test_options_name_their_limits() -> None:
    with pytest.raises(UserError, match=r"strategy 'tot_bfs'.*proceed_at=0.5 needs evaluation "
                                        r"'value' or 'scorer'"):
        strategy_class("tot_bfs").from_options({"evaluation": "vote", "proceed_at": 0.5})
    with pytest.raises(UserError, match=r"strategy 'beam': proceed_at: Input should be greater "
                                        r"than 0"):
        strategy_class("beam").from_options({"proceed_at": 0.0})
    with pytest.raises(UserError, match=r"proceed_at: Input should be less than or equal to 1"):
        strategy_class("rebase").from_options({"proceed_at": 1.5})
    shown = repr(strategy_class("particle_filter").from_options({"proceed_at": 0.5}))
    assert re.search(r"proceed_at=0.5\)$", shown)
    assert "proceed_at" not in repr(strategy_class("particle_filter")())


def test_a_judge_scored_search_verifies_as_it_goes() -> None:
    sync, _ = offline("beam", {"width": 2, "expansion": 2}, scorer=JudgeScorer())
    fast, _ = offline("beam", {"width": 2, "expansion": 2, "proceed_at": 0.5},
                      scorer=JudgeScorer())
    assert snapshot(fast) == snapshot(sync) and fast.verified
