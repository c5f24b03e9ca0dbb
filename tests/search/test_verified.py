"""Verified answers: every strategy's result says whether a verifier accepted its answer; a
search never returns an answer its verifier rejected while it holds one the verifier accepted;
when every candidate is rejected the status is ``unverified``, never ``ok``."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.base import StrategyResult, strategy_class
from forethought.search.chain import ChainTask
from forethought.search.scorers import JudgeScorer, RewardScorer, Staged, ToolScorer
from forethought.tools.base import ToolRegistry, tool

ACCEPTED: set[str] = set()


@tool
def check(question: str, answer: str) -> bool:
    """Accept the answers in ACCEPTED."""
    del question
    return answer in ACCEPTED


def replies(answers: list[str]) -> ScriptedModel:
    """Rollouts cycle through ``answers``; step scores are 0.5; judges say Yes for ACCEPTED."""
    cycle = itertools.cycle(answers)

    def reply(request: ModelRequest) -> str:
        purpose = request.purpose or ""
        if purpose in ("rollout", "propose"):
            return f"Step 1: think\nAnswer: {next(cycle)}"
        if purpose == "judge":
            return "Yes" if any(f"Answer: {a}" in request.messages[-1].content
                                or f"answer: {a}" in request.messages[-1].content.lower()
                                for a in ACCEPTED) else "No"
        return "Score: 0.5"

    return ScriptedModel(reply)


def run(strategy: str, options: dict[str, Any], answers: list[str], *, scorer: Any,
        budget: Budget | None = None) -> StrategyResult:
    ctx = RunContext(model=replies(answers), tools=ToolRegistry([check]),
                     budget=BudgetTracker(budget=budget or Budget()))
    task = ChainTask(question="Which number?", scorer=scorer, max_depth=2)
    return asyncio.run(strategy_class(strategy).from_options(options).arun(ctx, task))


@pytest.fixture(autouse=True)
def _accepted() -> None:
    ACCEPTED.clear()


def test_a_vote_rejected_by_the_verifier_gives_way_to_an_accepted_answer() -> None:
    ACCEPTED.add("4")
    result = run("self_consistency", {"n": 5}, ["3", "3", "3", "4", "5"],
                 scorer=ToolScorer(tool="check"))
    assert result.answer == "4" and result.verified is True and result.status == "ok"
    assert result.score == 1.0
    assert result.stats["verifier_changed_answer"] == 1
    assert result.stats["verified"] == 3  # one check per distinct candidate


def test_every_candidate_rejected_is_unverified_never_ok() -> None:
    result = run("self_consistency", {"n": 5}, ["3", "3", "3", "4", "5"],
                 scorer=ToolScorer(tool="check"))
    assert result.answer == "3"  # the strategy's own choice stands
    assert result.verified is False and result.status == "unverified"


@pytest.mark.parametrize(("strategy", "options"), [
    ("best_of_n", {"n": 4}), ("beam", {"width": 2, "expansion": 2}),
    ("rebase", {"width": 4}), ("particle_filter", {"particles": 4}),
    ("tot_bfs", {"breadth": 2, "proposals": 2, "evaluation": "scorer"}),
    ("mcts", {"simulations": 6, "width": 2}),
])
def test_every_strategy_says_whether_its_answer_was_verified(strategy: str,
                                                             options: dict[str, Any]) -> None:
    scorer = Staged(partial=RewardScorer(), final=ToolScorer(tool="check"))
    ACCEPTED.add("7")
    accepted = run(strategy, options, ["6", "7", "8"], scorer=scorer)
    assert accepted.answer == "7" and accepted.verified is True and accepted.status == "ok"
    ACCEPTED.clear()
    rejected = run(strategy, options, ["6", "7", "8"], scorer=scorer)
    assert rejected.verified is False and rejected.status == "unverified"
    assert rejected.answer in ("6", "7", "8")


def test_without_a_verifier_nothing_is_claimed() -> None:
    result = run("best_of_n", {"n": 3}, ["1", "2"], scorer=RewardScorer())
    assert result.verified is None and result.status == "ok"


def test_a_judge_is_a_verifier_that_needs_a_majority() -> None:
    judge = JudgeScorer(samples=2)
    assert judge.verifies and judge.accepts(1.0) and not judge.accepts(0.5)
    ACCEPTED.add("2")
    result = run("self_consistency", {"n": 3}, ["1", "1", "2"], scorer=judge)
    assert result.answer == "2" and result.verified is True


def test_a_budget_that_stops_verification_leaves_the_result_partial() -> None:
    ACCEPTED.add("2")
    # Three rollouts use the three calls; the judge's verification cannot be afforded.
    result = run("self_consistency", {"n": 3}, ["1", "1", "2"], scorer=JudgeScorer(),
                 budget=Budget(max_model_calls=3))
    assert result.partial and result.status == "budget_exhausted"
    assert result.verified is None and result.answer == "1"
