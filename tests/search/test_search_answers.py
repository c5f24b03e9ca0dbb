"""Answer extraction and normalisation, scorer replies, and sizing strategies to a budget."""

from __future__ import annotations

import asyncio

import pytest

from forethought.exceptions import UnknownNameError, UserError
from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.multistep import SimulatedMultiStepTask
from forethought.runtime.context import RunContext
from forethought.search.answers import extract_answer, normalise_answer
from forethought.search.base import strategy_names
from forethought.search.chain import ChainTask
from forethought.search.scorers import (
    JudgeScorer,
    ToolScorer,
    make_scorer,
    parse_score,
    parse_value,
    parse_yes_no,
)
from forethought.search.sizing import sized


@pytest.mark.parametrize(("text", "answer"), [
    ("Reasoning...\nAnswer: 42", "42"),
    ("Step 1: x\nFinal answer: Canberra.", "Canberra."),
    ("so the answer is \\boxed{\\frac{1}{2}} indeed", "\\frac{1}{2}"),
    ("**Answer:** 7", "7"),
    ("The answer is 12", "12"),
    ("Action: Finish(Paris)", "Paris"),
    ("I am not sure.", None),
    ("Answer:", None),
])
def test_extract_answer(text: str, answer: str | None) -> None:
    assert extract_answer(text) == answer


@pytest.mark.parametrize(("a", "b"), [
    ("79", "79.0"), ("1,000", "1000"), ("$3", "3"), ("0.5", "1/2"), ("Canberra.", "canberra"),
    ("\\text{Paris}", "Paris"), ("'yes'", "Yes"), ("  New   York ", "new york"),
])
def test_equal_answers_normalise_alike(a: str, b: str) -> None:
    assert normalise_answer(a) == normalise_answer(b)
    assert normalise_answer("79") != normalise_answer("97")


def test_scorer_reply_parsers() -> None:
    assert parse_score("Score: 0.83") == 0.83
    assert parse_score("score = 1.7") == 1.0 and parse_score("Score: -2") == 0.0
    assert parse_score("eighty percent") is None
    assert parse_yes_no("\n**Yes**, it is right") is True
    assert parse_yes_no("No.\nBecause") is False
    assert parse_yes_no("Maybe") is None
    assert parse_value("5 + 6 = 11\nlikely\n") == "likely"
    assert parse_value("Sure!") == "sure"


def test_scorers_from_recipe_values() -> None:
    assert make_scorer("judge") == JudgeScorer()
    assert make_scorer({"kind": "judge", "samples": 5}) == JudgeScorer(samples=5)
    assert make_scorer({"kind": "tool", "tool": "check"}) == ToolScorer(tool="check")
    with pytest.raises(UnknownNameError, match="unknown scorer 'oracle'"):
        make_scorer("oracle")
    with pytest.raises(UserError, match="`tool` only applies"):
        make_scorer({"kind": "judge", "tool": "x"})
    with pytest.raises(UserError, match="samples"):
        make_scorer({"kind": "judge", "samples": 0})


@pytest.mark.parametrize("name", sorted(strategy_names()))
def test_sized_strategies_spend_about_the_calls_they_are_given(name: str) -> None:
    task = SimulatedMultiStepTask(id="t", question="What is the hidden value?", answer="7",
                                  difficulty=0.5, steps=3)
    for calls in (24, 96):
        ctx = RunContext(model=SimulatedModel([task], seed=0))
        strategy = sized(name, calls, depth=3)
        asyncio.run(strategy.arun(ctx, ChainTask(question=task.question, max_depth=5)))
        assert ctx.budget.started_calls <= calls * 1.25, (name, calls)
        if name != "tot_dfs":  # DFS stops at the first accepted solution
            assert ctx.budget.started_calls >= calls / 4, (name, calls)


def test_sizing_rejects_nonsense() -> None:
    with pytest.raises(UserError, match="calls >= 1"):
        sized("beam", 0, depth=3)
    with pytest.raises(UnknownNameError):
        sized("nope", 10, depth=1)
