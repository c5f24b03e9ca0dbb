"""The simulator's multi-step purposes: exact formats, and seeded statistics (errors compound,
process rewards informative but noisy)."""

from __future__ import annotations

import asyncio
import re
import statistics
from fractions import Fraction

import pytest

from forethought.exceptions import UserError
from forethought.models.messages import Message, ModelRequest, ModelSettings
from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.game24 import correct, moves, solvable
from forethought.models.simulated.multistep import (
    SimulatedMultiStepTask,
    read_path,
    right_code,
    step_count,
)
from forethought.models.simulated.task import Instance
from forethought.search.chain import ChainTask
from forethought.search.game24 import Game24Task, apply_step
from forethought.search.scorers import parse_score, parse_value

TASK = SimulatedMultiStepTask(id="q", question="What is the hidden value?", answer="42",
                              difficulty=0.6, steps=4, distractors=("41", "24"))


def texts(model: SimulatedModel, request: ModelRequest, n: int) -> list[str]:
    request = ModelRequest(messages=request.messages, purpose=request.purpose,
                           metadata=request.metadata, settings=ModelSettings(n=n))
    return asyncio.run(model.request(request)).texts


def chain(**kw: str) -> ChainTask:
    return ChainTask(question=TASK.question, metadata=dict(kw))


def test_a_proposal_is_one_coded_step_and_the_last_one_answers() -> None:
    model = SimulatedModel([TASK], seed=1)
    task = chain()
    [first] = texts(model, task.propose_request(task.root()), 1)
    assert re.fullmatch(r"Step 1: .* r1 = [0-9a-f]{4}\.", first)
    state = task.root()
    for _ in range(4):
        [reply] = texts(model, task.propose_request(state), 1)
        [state] = task.parse_proposal(state, reply).states
    assert state.final and state.depth == 4 and state.answer in {"42", "41", "24"}
    assert "Answer:" not in "\n".join(state.steps)


def test_steps_compound_and_a_wrong_path_never_recovers() -> None:
    model = SimulatedModel([TASK], seed=2)
    task = chain()
    p = model.accuracy(TASK.difficulty) ** (1 / 4)
    rollouts = [task.parse_rollout(task.root(), t) for t in
                texts(model, task.rollout_request(task.root()), 600)]
    right = [r for r in rollouts if r is not None and r.answer == "42"]
    assert len(right) / 600 == pytest.approx(model.accuracy(TASK.difficulty), abs=0.06)
    assert all(r is not None and r.depth == 4 for r in rollouts)
    # per step: right with probability p while on track
    on_track = [s for s in texts(model, task.propose_request(task.root()), 600)
                if f"r1 = {right_code(TASK, 1)}" in s]
    assert len(on_track) / 600 == pytest.approx(p, abs=0.06)
    wrong_first = "Step 1: I guessed. r1 = 0000."
    after = texts(model, ModelRequest(messages=(Message.user(
        f"Question: {TASK.question}\n\nSteps so far:\n{wrong_first}\n\nContinue from step 2."),),
        purpose="rollout"), 200)
    assert not any("Answer: 42" in t for t in after)


def test_process_reward_is_informative_but_noisy() -> None:
    model = SimulatedModel([TASK], seed=3, score_noise=0.15)
    good = f"Step 1: x r1 = {right_code(TASK, 1)}."
    bad = "Step 1: x r1 = ffff."
    scores = {}
    for name, step in (("good", good), ("bad", bad)):
        request = ModelRequest(messages=(Message.user(
            f"Question: {TASK.question}\n\nSteps so far:\n{step}"),), purpose="step")
        values = [parse_score(t) for t in texts(model, request, 300)]
        scores[name] = [v for v in values if v is not None]
        assert len(scores[name]) == 300
    assert statistics.mean(scores["good"]) == pytest.approx(0.8 - 0.2 * 0.6, abs=0.03)
    assert statistics.mean(scores["bad"]) == pytest.approx(0.2 + 0.2 * 0.6, abs=0.03)
    overlap = sum(b > g for b, g in zip(scores["bad"], scores["good"], strict=True)) / 300
    assert 0.02 < overlap < 0.2  # noisy: a wrong path sometimes outscores a right one


def test_values_and_votes_follow_the_path_with_judge_errors() -> None:
    model = SimulatedModel([TASK], seed=4, judge_fpr=0.1, judge_fnr=0.1)
    good = f"Step 1: x r1 = {right_code(TASK, 1)}."
    request = ModelRequest(messages=(Message.user(f"Q: {TASK.question}\nPartial:\n{good}"),),
                           purpose="value")
    verdicts = [parse_value(t) for t in texts(model, request, 300)]
    assert verdicts.count("impossible") / 300 == pytest.approx(0.1, abs=0.05)
    assert verdicts.count("sure") > verdicts.count("likely")
    vote = ModelRequest(messages=(Message.user(
        f"Question: {TASK.question}\n\nChoice 1:\nStep 1: y r1 = ffff.\n\nChoice 2:\n{good}"),),
        purpose="vote")
    picks = [t.splitlines()[-1] for t in texts(model, vote, 200)]
    assert picks.count("The best choice is 2") / 200 == pytest.approx(0.95, abs=0.05)


def test_step_counts_and_unknown_questions() -> None:
    assert step_count(Instance(task=TASK)) == 4
    with pytest.raises(UserError, match="steps must be >= 1"):
        SimulatedMultiStepTask(id="x", question="q", answer="a", difficulty=0.5, steps=0)
    model = SimulatedModel(seed=0)
    task = ChainTask(question="Who wrote the unwritten book?")
    [reply] = texts(model, task.propose_request(task.root()), 1)
    assert task.parse_proposal(task.root(), reply).states[0].answer == "I don't know."
    [score] = texts(model, task.reward_request(task.root()), 1)
    assert score == "Score: 0.50"
    # an arithmetic question takes one step per operator
    arithmetic = ChainTask(question="What is (3 + 4) * 12 - 5?")
    [rollout] = texts(model, arithmetic.rollout_request(arithmetic.root()), 1)
    assert len(re.findall(r"^Step \d+:", rollout, re.M)) == 3
    assert read_path("Step 1: a r1 = 1234.\nStep 3: b", TASK).on_track is False


# --- the Game of 24 ---------------------------------------------------------------------------

def test_game24_brute_force_knows_which_moves_keep_24_reachable() -> None:
    values = tuple(sorted(Fraction(n) for n in (4, 9, 10, 13)))
    assert solvable(values)
    assert not solvable((Fraction(1), Fraction(1), Fraction(1), Fraction(1)))
    good = [m for m in moves(values) if solvable(m.left)]
    assert 0 < len(good) < len(moves(values))
    assert correct(values, "(10 - 4) * (13 - 9) = 24")
    assert not correct(values, "(10 - 4) * (13 - 9) + 0 = 24")
    assert not correct(values, "10 + 4 + 13 - 9")


def test_game24_proposals_are_in_tot_format_with_occasional_slips() -> None:
    model = SimulatedModel(seed=5)
    task = Game24Task(question="4 9 10 13")
    root = task.root()
    lines = [ln for t in texts(model, task.propose_request(root), 40) for ln in t.splitlines()]
    assert all(re.fullmatch(r"\S+ [-+*/] \S+ = \S+ \(left: [\d/ ]+\)", ln) for ln in lines)
    rejected = [ln for ln in lines if isinstance(apply_step(root.data, ln), str)]
    assert 0 < len(rejected) / len(lines) < 0.1  # arithmetic slips, caught by the parser
    [rollout] = texts(model, task.rollout_request(root), 1)
    assert re.search(r"^Answer: .* = 24$", rollout, re.M)


def test_game24_values_are_exact_for_two_numbers() -> None:
    model = SimulatedModel(seed=6)
    task = Game24Task(question="4 9 10 13")
    state = task.root()
    for line in ("13 - 9 = 4 (left: 4 4 10)", "10 - 4 = 6 (left: 4 6)"):
        applied = apply_step(state.data, line)
        assert not isinstance(applied, str)
        state = task._child(state, *applied)  # pyright: ignore[reportPrivateUsage]
    assert {parse_value(t) for t in texts(model, task.value_request(state), 20)} == {"sure"}
