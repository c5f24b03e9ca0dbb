"""Iterative refinement: the verifier's feedback goes back to the proposer, round after round,
until an answer is accepted; as a block and as the ``refine`` strategy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from forethought.exceptions import UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.base import StrategyResult, strategy_class
from forethought.search.chain import ChainTask
from forethought.search.machine import CallTool, Compute, Outcome, Sample, run_offline
from forethought.search.refine import Refine
from forethought.search.scorers import JudgeScorer, RewardScorer, Scorer, ToolScorer
from forethought.search.task import SearchTask, State
from forethought.tools.base import ToolRegistry, tool


@tool
def at_least_ten(question: str, answer: str) -> bool:
    """Accept answers of 10 and more."""
    del question
    return int(answer) >= 10


class Feedback(ToolScorer):
    """The tool verifier, with written feedback (as the verification agent gives)."""

    def last_feedback(self, task: SearchTask, state: State) -> str | None:
        return f"Violated:\n- [hard] size: the answer {state.answer} is below 10"


class Proposer:
    """Answers 3 at first; each refinement adds 4 to the answer it is shown."""

    def __init__(self) -> None:
        self.refine_prompts: list[str] = []

    def __call__(self, request: ModelRequest) -> str:
        if request.purpose == "refine":
            self.refine_prompts.append(request.messages[-1].content)
            previous = int(request.metadata["candidate"])
            return f"Step 1: add four\nAnswer: {previous + 4}"
        return "Step 1: guess\nAnswer: 3"


def run(options: dict[str, Any], scorer: Scorer, *, budget: Budget | None = None,
        proposer: Proposer | None = None) -> StrategyResult:
    ctx = RunContext(model=ScriptedModel(proposer or Proposer()),
                     tools=ToolRegistry([at_least_ten]),
                     budget=BudgetTracker(budget=budget or Budget()))
    task = ChainTask(question="Give a number of at least ten.", scorer=scorer)
    return asyncio.run(strategy_class("refine").from_options(options).arun(ctx, task))


def test_feedback_goes_back_until_an_answer_is_accepted() -> None:
    proposer = Proposer()
    result = run({"strategy": {"kind": "best_of_n", "n": 1}, "rounds": 5},
                 Feedback(tool="at_least_ten"), proposer=proposer)
    assert result.answer == "11" and result.verified is True and result.status == "ok"
    assert result.stats["refine_rounds"] == 2 and result.stats["refinements"] == 2
    assert [c.answer for c in result.candidates] == ["3", "7", "11"]
    assert [c.meta.get("round") for c in result.candidates] == [None, 1, 2]
    assert "the answer 3 is below 10" in proposer.refine_prompts[0]
    assert "the answer 7 is below 10" in proposer.refine_prompts[1]


def test_rounds_are_a_limit_and_the_best_rejected_answer_is_unverified() -> None:
    result = run({"strategy": "best_of_n", "rounds": 1}, Feedback(tool="at_least_ten"))
    assert result.answer in {"3", "7"} and result.verified is False
    assert result.status == "unverified" and result.stats["refine_rounds"] == 1


def test_a_verifier_without_feedback_gets_a_generic_message() -> None:
    proposer = Proposer()
    run({"strategy": {"kind": "best_of_n", "n": 1}, "rounds": 1},
        ToolScorer(tool="at_least_ten"), proposer=proposer)
    assert "The answer '3' was judged wrong (scored 0.00)" in proposer.refine_prompts[0]


def test_an_accepted_answer_is_not_refined() -> None:
    proposer = Proposer()

    def ten(request: ModelRequest) -> str:
        return proposer(request) if request.purpose == "refine" else "Answer: 12"

    ctx = RunContext(model=ScriptedModel(ten), tools=ToolRegistry([at_least_ten]))
    task = ChainTask(question="q", scorer=Feedback(tool="at_least_ten"))
    result = asyncio.run(Refine(strategy="best_of_n", rounds=3).arun(ctx, task))
    assert result.answer == "12" and "refine_rounds" not in result.stats
    assert proposer.refine_prompts == []


def test_without_a_verifier_the_threshold_decides() -> None:
    scores = iter(["Score: 0.2", "Score: 0.95"])

    def reply(request: ModelRequest) -> str:
        if request.purpose == "step":
            return next(scores)
        return "Step 1: x\nAnswer: 5" if request.purpose != "refine" else "Step 1: y\nAnswer: 6"

    ctx = RunContext(model=ScriptedModel(reply))
    task = ChainTask(question="q", scorer=RewardScorer())
    result = asyncio.run(Refine(strategy={"kind": "best_of_n", "n": 1}, rounds=4,
                                threshold=0.9).arun(ctx, task))
    assert result.answer == "6" and result.stats["refine_rounds"] == 1
    assert result.verified is None  # no verifier judged it


def test_the_budget_ends_refinement_with_the_best_so_far() -> None:
    result = run({"strategy": {"kind": "best_of_n", "n": 1}, "rounds": 5},
                 Feedback(tool="at_least_ten"), budget=Budget(max_model_calls=2))
    assert result.partial and result.status == "budget_exhausted"
    assert [c.answer for c in result.candidates] == ["3", "7"]  # both rejected: the first
    assert result.answer == "3" and result.stats["refine_rounds"] == 1


def test_unparseable_refinements_are_counted() -> None:
    def reply(request: ModelRequest) -> str:
        return "I give up." if request.purpose == "refine" else "Answer: 3"

    ctx = RunContext(model=ScriptedModel(reply), tools=ToolRegistry([at_least_ten]))
    task = ChainTask(question="q", scorer=Feedback(tool="at_least_ten"))
    result = asyncio.run(Refine(strategy="best_of_n", rounds=2).arun(ctx, task))
    assert result.stats["unparseable"] == 1 and result.answer == "3"
    assert result.stats["refine_rounds"] == 1  # nothing new to refine after that


def test_the_block_is_a_step_machine_testable_offline() -> None:
    task = ChainTask(question="q", scorer=JudgeScorer())
    machine = Refine(strategy={"kind": "best_of_n", "n": 1}, rounds=1).steps(task)
    seen: list[str] = []

    def respond(action: Sample | CallTool | Compute | Any) -> Outcome:
        assert isinstance(action, Sample)
        seen.append(action.request.purpose or "")
        if action.request.purpose == "judge":
            return Outcome(value=["No"] * action.n)
        return Outcome(value=["Step 1: s\nAnswer: 4"] * action.n)

    result = run_offline(machine, respond)
    assert seen == ["rollout", "judge", "refine", "judge"]
    assert result.verified is False


def test_bad_options_name_what_is_wrong() -> None:
    with pytest.raises(UserError, match="strategy: unknown strategy 'beem'; valid strategies: "
                                        "'beam', 'best_of_n'"):
        Refine(strategy="beem")
    with pytest.raises(UserError, match="rounds"):
        Refine(rounds=0)
    with pytest.raises(UserError, match="needs a `kind`"):
        Refine(strategy={"n": 3})
    assert repr(Refine(strategy={"kind": "best_of_n", "n": 2}, rounds=2)) == (
        "Refine(strategy=BestOfN(n=2, aggregation='max'), rounds=2, width=1)")
