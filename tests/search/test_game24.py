"""The Game of 24 task: exact step checking, the exact verifier, the puzzles, and searches
on scripted and simulated models."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import pytest

from forethought.exceptions import UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.models.simulated import SimulatedModel
from forethought.runtime.context import RunContext
from forethought.search.game24 import (
    Game24Task,
    apply_step,
    check_answer,
    load_puzzles,
    matches,
    parse_puzzle,
)
from forethought.search.scorers import Staged, ValueScorer, VerifierScorer
from forethought.search.tot import TreeOfThoughtsBFS

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "game24" / "24.csv"


def test_steps_are_checked_with_exact_arithmetic() -> None:
    task = Game24Task(question="4 9 10 13")
    items = task.root().data
    applied = apply_step(items, "4 + 9 = 13 (left: 10 13 13)")
    assert not isinstance(applied, str)
    new, text = applied
    assert text == "4 + 9 = 13 (left: 10 13 13)"
    assert [v for v, _ in new] == [10, 13, 13]
    # the model's left list is not trusted: it is recomputed
    redone = apply_step(items, "1. 13 - 9 = 4 (left: 1 2 3)")
    assert not isinstance(redone, str) and redone[1] == "13 - 9 = 4 (left: 4 4 10)"
    assert apply_step(items, "4 + 9 = 14 (left: 10 13 14)") == (
        "'4 + 9 = 14 (left: 10 13 14)': 4 + 9 is 13, not 14")
    assert "not left" in str(apply_step(items, "4 + 5 = 9 (left: 9 10 13)"))
    assert "not left" in str(apply_step(items, "4 + 4 = 8 (left: 8 10 13)"))  # one 4 only
    assert "not a step" in str(apply_step(items, "combine 4 and 9"))
    # fractions exactly or as rounded decimals; division by zero is refused
    frac = apply_step(((Fraction(8), "8"), (Fraction(3), "3")), "8 / 3 = 2.67 (left: 2.67)")
    assert not isinstance(frac, str) and frac[0][0][0] == Fraction(8, 3)
    assert "divides by zero" in str(apply_step(((Fraction(0), "0"), (Fraction(3), "3")),
                                               "3 / 0 = 0 (left: 0)"))
    assert matches("0.91", Fraction(10, 11)) and not matches("0.92", Fraction(10, 11))
    assert matches("8/3", Fraction(8, 3)) and not matches("x", Fraction(1))


def test_the_exact_verifier_checks_numbers_and_value() -> None:
    assert check_answer((4, 9, 10, 13), "(10 - 4) * (13 - 9) = 24")
    assert check_answer((1, 5, 5, 5), "5 * (5 - 1 / 5)")
    assert not check_answer((4, 9, 10, 13), "(10 - 4) * (13 - 9) + 0")  # an extra number
    assert not check_answer((4, 9, 10, 13), "10 + 13 + 4 - 9")  # 18
    assert not check_answer((4, 9, 10, 13), "(10 - 4) * (13 - 9")  # does not parse
    assert not check_answer((4, 9, 10, 13), "__import__('os')")


def test_puzzles_load_and_questions_parse() -> None:
    puzzles = load_puzzles(DATA, ranks=range(901, 1001))
    assert len(puzzles) == 100 and puzzles[0].rank == 901 and len(puzzles[0].numbers) == 4
    assert len(load_puzzles(DATA)) == 1362
    assert parse_puzzle("Use 4 9 10 13 to make 24.") == (4, 9, 10, 13)
    assert parse_puzzle("Input: 1 5 5 5") == (1, 5, 5, 5)
    assert Game24Task(question="4 9 10 13").max_depth == 3
    with pytest.raises(UserError, match="at least two numbers"):
        Game24Task(question="make 24 from nothing")
    with pytest.raises(UserError, match="cannot read Game of 24 puzzles"):
        load_puzzles(DATA.with_name("missing.csv"))


def test_rollouts_take_the_answer_line_or_the_tracked_expression() -> None:
    task = Game24Task(question="4 9 10 13")
    root = task.root()
    io = task.parse_rollout(root, "Answer: (10 - 4) * (13 - 9) = 24")
    assert io is not None and io.final and io.answer == "(10 - 4) * (13 - 9)"
    steps = "13 - 9 = 4 (left: 4 4 10)\n10 - 4 = 6 (left: 4 6)\n4 * 6 = 24 (left: 24)"
    tracked = task.parse_rollout(root, steps)
    assert tracked is not None and tracked.answer == "(13 - 9) * (10 - 4)"
    assert check_answer(task.numbers, tracked.answer or "")
    assert task.parse_rollout(root, "13 - 9 = 4 (left: 4 4 10)") is None  # unfinished
    assert task.normalise("(10 - 4) * (13 - 9) = 24") == "(10-4)*(13-9)"
    assert isinstance(task.default_scorer(), Staged)


def test_tot_bfs_on_scripted_proposals_with_an_exact_verifier() -> None:
    def reply(request: ModelRequest) -> str:
        user = request.messages[-1].content
        if request.purpose == "propose":
            return {"Input: 4 9 10 13\nPossible next steps:":
                    "13 - 9 = 4 (left: 4 4 10)\n4 + 9 = 14 (left: 10 13 14)\n"
                    "Here is another idea:\n4 * 9 = 36 (left: 10 13 36)",
                    "Input: 4 4 10\nPossible next steps:": "10 - 4 = 6 (left: 4 6)",
                    "Input: 10 13 36\nPossible next steps:": "36 - 13 = 23 (left: 10 23)",
                    "Input: 4 6\nPossible next steps:": "4 * 6 = 24 (left: 24)\n"
                                                        "4 + 6 = 10 (left: 10)",
                    "Input: 10 23\nPossible next steps:": "23 + 10 = 33 (left: 33)",
                    }[user]
        assert request.purpose == "value"
        return "sure" if user in ("Input: 4 4 10", "Input: 4 6") else "likely"

    task = Game24Task(question="4 9 10 13")
    ctx = RunContext(model=ScriptedModel(reply))
    result = asyncio.run(TreeOfThoughtsBFS(breadth=2, proposals=8).arun(ctx, task))
    assert result.answer == "(13 - 9) * (10 - 4)"
    assert result.stats["unparseable"] == 1  # 4 + 9 = 14; the comment line is ignored
    assert sorted((c.answer, c.score) for c in result.candidates) == [
        ("((4 * 9) - 13) + 10", 0.0), ("(13 - 9) * (10 - 4)", 1.0),
        ("(13 - 9) + (10 - 4)", 0.0)]
    # 1 + 2 + 2 proposal calls; 3 values for each of 4 partial states
    assert ctx.budget.started_calls == 5 + 12


def test_searches_solve_puzzles_on_the_simulator() -> None:
    puzzles = load_puzzles(DATA, ranks=range(901, 931))
    model = SimulatedModel(seed=11)
    solved = {"tot_bfs": 0, "cot": 0}
    for puzzle in puzzles:
        task = Game24Task(question=puzzle.text)
        bfs = asyncio.run(TreeOfThoughtsBFS(breadth=5, proposals=8).arun(
            RunContext(model=model), task))
        solved["tot_bfs"] += bfs.answer is not None and check_answer(puzzle.numbers, bfs.answer)
        cot = asyncio.run(model.request(task.rollout_request(task.root())))
        final = task.parse_rollout(task.root(), cot.text)
        solved["cot"] += final is not None and check_answer(puzzle.numbers, final.answer or "")
    # Tree of Thoughts' finding, in the simulator: BFS with values far above one chain
    assert solved["tot_bfs"] >= 18 and solved["cot"] <= 5


def test_scorers_for_partial_and_final_states() -> None:
    task = Game24Task(question="4 9 10 13", scorer=Staged(partial=ValueScorer(samples=1),
                                                          final=VerifierScorer()))
    final = task.parse_rollout(task.root(), "Answer: (10 - 4) * (13 - 9) = 24")
    assert final is not None
    [action] = task.effective_scorer().actions(task, final)
    assert action.tag == "verify"
    assert VerifierScorer().actions(task, task.root()) == []
