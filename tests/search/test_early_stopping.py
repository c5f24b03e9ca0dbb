"""Early stopping of the sampling strategies (``stop_early``): self-consistency stops only once
no remaining sample could change the vote, ties included, so its answer is always the full
vote's; best-of-N stops at the first accepted answer; what is stopped is cancelled and
charged; a budget that runs out stops nothing early."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forethought.exceptions import UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.base import StrategyResult, strategy_class
from forethought.search.chain import ChainTask
from forethought.search.early import decided
from forethought.search.machine import Action, Outcome, Sample, run_offline
from forethought.search.ops import vote
from forethought.search.scorers import JudgeScorer
from tests.search.test_strategies_exact import Toy, task

Answer = str | None
ALPHABET = ["a", "b", "c", None]


def winner(answers: Sequence[Answer]) -> Answer:
    """The synchronous vote: most votes, ties to the first in launch order."""
    index = vote(task(), list(answers))
    return None if index is None else answers[index]


def every_completion_agrees(answers: Sequence[Answer], arrived: set[int]) -> bool:
    """Whether the vote has one winner whatever the samples not in ``arrived`` answer (an
    existing answer, a new one, or none)."""
    pending = [i for i in range(len(answers)) if i not in arrived]
    choices = [*{a for a in answers if a is not None}, "new", None]
    winners: set[Answer] = set()
    for filled in itertools.product(choices, repeat=len(pending)):
        full = list(answers)
        for i, a in zip(pending, filled, strict=True):
            full[i] = a
        winners.add(winner(full))
        if len(winners) > 1:
            return False
    return True


# --- the decided rule -------------------------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=7), st.data())
def test_decided_is_exactly_when_no_completion_changes_the_winner(
        answers: list[Answer], data: st.DataObject) -> None:
    arrived = set(data.draw(st.sets(st.integers(0, len(answers) - 1))))
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for i in sorted(arrived):
        a = answers[i]
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
            first.setdefault(a, i)
    pending = [i for i in range(len(answers)) if i not in arrived]
    got = decided(counts, first, len(pending), min(pending) if pending else None)
    agrees = every_completion_agrees(answers, arrived)
    if got is not None:
        assert agrees and got == winner([answers[i] if i in arrived else None
                                         for i in range(len(answers))])
    else:  # undecided: a completion changes the winner, or nothing has been answered yet
        assert not agrees or not counts


def test_ties_go_to_the_first_sample_in_launch_order() -> None:
    # a: sample 2, b: sample 3; sample 0 is pending and could make "c" tie... and win it.
    assert decided({"a": 1, "b": 1}, {"a": 2, "b": 3}, 1, 0) is None
    # Sample 0 pending, one vote each for a (index 1) and nothing else: a new answer from
    # sample 0 would tie a and come first.
    assert decided({"a": 1}, {"a": 1}, 1, 0) is None
    # The same with the pending sample launched after a's first: a wins any tie.
    assert decided({"a": 1}, {"a": 0}, 1, 1) == "a"
    assert decided({"a": 3, "b": 1}, {"a": 5, "b": 0}, 2, 9) is None  # b can tie, and is first
    assert decided({"a": 3, "b": 1}, {"a": 0, "b": 5}, 2, 9) == "a"
    assert decided({}, {}, 0, None) is None


# --- self-consistency -------------------------------------------------------------------------

def sampler(answers: Sequence[Answer], order: Sequence[int], calls: list[str],
            accepted: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    """Answers rollouts in completion ``order`` with ``answers[ticket]``; judges accept the
    answers in ``accepted``."""
    queue = iter(order)

    def respond(action: Action) -> Outcome:
        assert isinstance(action, Sample)
        purpose = action.request.purpose or ""
        calls.append(purpose)
        if purpose == "judge":
            return Outcome(value=["Yes" if action.request.metadata["candidate"] in accepted
                                  else "No"] * action.n)
        picked = [answers[next(queue)] for _ in range(action.n)]
        return Outcome(value=[f"Step 1: think\nAnswer: {a}" if a else "no idea"
                              for a in picked])

    return respond


def latencies(order: Sequence[int]):  # type: ignore[no-untyped-def]
    """Rollout ``order[k]`` completes k-th; judges take 0.5."""
    rank = {t: k for k, t in enumerate(order)}

    def latency(action: Action, ticket: int) -> float:
        assert isinstance(action, Sample)
        return 0.5 if action.request.purpose == "judge" else float(rank[ticket] + 1)

    return latency


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=7), st.data())
def test_adaptive_consistency_never_stops_before_the_vote_is_decided(
        answers: list[Answer], data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(len(answers))))
    calls: list[str] = []
    strategy = strategy_class("self_consistency").from_options(
        {"n": len(answers), "stop_early": True})
    result = run_offline(strategy.steps(task()), sampler(answers, order, calls),
                         latency=latencies(order))
    assert isinstance(result, StrategyResult)
    assert result.answer == winner(answers)
    received = order[:len(calls)]
    assert every_completion_agrees(answers, set(received))
    if len(calls) < len(answers):
        assert result.stats["stopped_early"] == 1
        assert result.stats["cancelled_calls"] == len(answers) - len(calls)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=7), st.data())
def test_with_a_verifier_the_answer_is_the_full_runs(answers: list[Answer],
                                                     data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(len(answers))))
    accepted = frozenset(data.draw(st.sets(st.sampled_from(["a", "b", "c"]))))

    def run(stop_early: bool) -> tuple[StrategyResult, list[str]]:
        calls: list[str] = []
        strategy = strategy_class("self_consistency").from_options(
            {"n": len(answers), "stop_early": stop_early})
        # The full run draws its samples in one batch, in launch order.
        arrival = order if stop_early else range(len(answers))
        result = run_offline(strategy.steps(task(scorer=JudgeScorer())),
                             sampler(answers, arrival, calls, accepted),
                             latency=latencies(order))
        assert isinstance(result, StrategyResult)
        return result, calls

    full, _ = run(False)
    early, _ = run(True)
    assert (early.answer, early.verified, early.status) == (full.answer, full.verified,
                                                           full.status)
    if "stopped_early" in early.stats:  # only once the vote's answer was accepted
        assert early.verified and early.answer in accepted


def test_offline_at_once_stopping_early_changes_nothing() -> None:
    for name, options, kw in [("self_consistency", {"n": 5}, {}),
                              ("self_consistency", {"n": 9}, {"scorer": JudgeScorer()}),
                              ("best_of_n", {"n": 5}, {"scorer": JudgeScorer()}),
                              ("best_of_n", {"n": 6, "aggregation": "weighted"},
                               {"scorer": JudgeScorer(samples=3)})]:
        for budget in (None, 4):
            runs = []
            for stop_early in (False, True):
                toy = Toy(budget=budget)
                strategy = strategy_class(name).from_options({**options,
                                                              "stop_early": stop_early})
                result = run_offline(strategy.steps(task(**kw)), toy)
                assert isinstance(result, StrategyResult)
                runs.append((dataclasses.asdict(result), dict(toy.calls)))
            assert runs[0] == runs[1], (name, options, budget)


def timed(answers: dict[int, tuple[float, str]], judged: frozenset[str] = frozenset()
          ) -> ScriptedModel:
    """Rollout k (in call order) answers ``answers[k]`` after that many seconds; judges say
    Yes to the answers in ``judged``."""
    counter = itertools.count()

    async def reply(request: ModelRequest) -> str:
        if request.purpose == "judge":
            await asyncio.sleep(0.01)
            return "Yes" if request.metadata["candidate"] in judged else "No"
        delay, answer = answers[next(counter)]
        await asyncio.sleep(delay)
        return f"Step 1: think\nAnswer: {answer}"

    return ScriptedModel(reply)


def others() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_stopping_cancels_the_rest_charges_it_and_leaks_nothing() -> None:
    # Five fast "a" then four slow: after five arrivals a leads 5 to at most 4.
    model = timed({i: (0.01, "a") if i < 5 else (10.0, "b") for i in range(9)})
    ctx = RunContext(model=model)
    start = time.perf_counter()
    result = await strategy_class("self_consistency").from_options(
        {"n": 9, "stop_early": True}).arun(ctx, task())
    assert time.perf_counter() - start < 3
    assert result.answer == "a" and result.stats["votes"] == 5
    assert result.stats["stopped_early"] == 1 and result.stats["cancelled_calls"] == 4
    assert len(result.candidates) == 1
    assert ctx.budget.in_flight == 0 and ctx.budget.spent.model_calls == 9  # all charged
    assert others() == set()


async def test_a_decided_vote_is_verified_while_sampling_goes_on() -> None:
    slow = {i: (0.01, "a") if i < 5 else (10.0, "b") for i in range(9)}
    ctx = RunContext(model=timed(slow, judged=frozenset({"a"})))
    result = await strategy_class("self_consistency").from_options(
        {"n": 9, "stop_early": True}).arun(ctx, task(scorer=JudgeScorer()))
    assert result.answer == "a" and result.verified and result.status == "ok"
    assert result.stats["stopped_early"] == 1 and result.stats["verified"] == 1
    # Rejected: no early stop; the full vote and its verification decide.
    quick = {i: (0.01, "a") if i < 5 else (0.2, "b") for i in range(9)}
    ctx = RunContext(model=timed(quick, judged=frozenset({"b"})))
    result = await strategy_class("self_consistency").from_options(
        {"n": 9, "stop_early": True}).arun(ctx, task(scorer=JudgeScorer()))
    assert "stopped_early" not in result.stats and ctx.budget.started_calls == 9 + 2
    assert result.answer == "b" and result.verified  # the verifier's choice, as in full
    assert others() == set()


async def test_best_of_n_stops_at_the_first_accepted_answer() -> None:
    answers = {0: (0.01, "b"), 1: (0.02, "a"), 2: (10.0, "a"), 3: (10.0, "c")}
    ctx = RunContext(model=timed(answers, judged=frozenset({"a"})))
    start = time.perf_counter()
    result = await strategy_class("best_of_n").from_options(
        {"n": 4, "stop_early": True}).arun(ctx, task(scorer=JudgeScorer()))
    assert time.perf_counter() - start < 3
    assert result.answer == "a" and result.verified
    assert [(c.answer, c.score) for c in result.candidates] == [("b", 0.0), ("a", 1.0)]
    assert result.stats["stopped_early"] == 1 and result.stats["cancelled_calls"] == 2
    assert ctx.budget.in_flight == 0 and others() == set()


def test_best_of_n_needs_a_verifier_to_stop_early() -> None:
    with pytest.raises(UserError, match="best_of_n stop_early stops at an answer a verifier "
                                        "accepts, but the task's final scorer RewardScorer"):
        run_offline(strategy_class("best_of_n").from_options({"stop_early": True}).steps(
            task()), Toy())


@pytest.mark.parametrize("name", ["self_consistency", "best_of_n"])
async def test_a_budget_that_runs_out_stops_nothing_early(name: str) -> None:
    model = timed({i: (0.01 * (i % 3), "a") for i in range(8)}, judged=frozenset({"a"}))
    ctx = RunContext(model=model, budget=BudgetTracker(budget=Budget(max_model_calls=5)))
    result = await strategy_class(name).from_options({"n": 8, "stop_early": True}).arun(
        ctx, task(scorer=JudgeScorer()))
    assert result.partial and result.stats["budget_exhausted"] == 1
    assert "stopped_early" not in result.stats
    assert ctx.budget.started_calls == 5 and ctx.budget.in_flight == 0
    assert result.answer == "a"


@pytest.mark.parametrize("name", ["self_consistency", "best_of_n"])
async def test_with_equal_delays_the_answers_are_the_synchronous_ones(name: str) -> None:
    async def run(stop_early: bool) -> StrategyResult:
        toy = Toy()
        ctx = RunContext(model=ScriptedModel(toy.reply, delay_s=0.05))
        return await strategy_class(name).from_options(
            {"n": 9, "stop_early": stop_early}).arun(ctx, ChainTask(
                question="Which leaf?", max_depth=4, scorer=JudgeScorer()))

    full, early = await run(False), await run(True)
    assert (early.answer, early.verified) == (full.answer, full.verified)
