"""A reply the task raises on while reading it (a model's text it did not expect, or a bug in a
user's task) is an unusable candidate, counted and named in the result, never the end of the
run: every strategy still answers from the replies it could read."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.search.base import StrategyResult, strategy_class
from forethought.search.chain import ChainTask
from forethought.search.scorers import RewardScorer
from forethought.search.task import Proposal, State


@dataclass(kw_only=True)
class Picky(ChainTask):
    """A chain task whose reader raises on a reply naming the answer 'boom'."""

    def parse_rollout(self, state: State, text: str) -> State | None:
        if "boom" in text:
            raise ValueError("cannot read 'boom'")
        return super().parse_rollout(state, text)

    def parse_proposal(self, state: State, text: str) -> Proposal:
        if "boom" in text:
            raise ValueError("cannot read 'boom'")
        return super().parse_proposal(state, text)


def model() -> ScriptedModel:
    answers = itertools.cycle(["boom", "7"])

    def reply(request: ModelRequest) -> str:
        if request.purpose in ("rollout", "propose", "refine"):
            return f"Step 1: think\nAnswer: {next(answers)}"
        return "Score: 0.5"

    return ScriptedModel(reply)


def run(strategy: str, options: dict[str, Any]) -> StrategyResult:
    ctx = RunContext(model=model())
    task = Picky(question="Which number?", scorer=RewardScorer(), max_depth=2)
    return asyncio.run(strategy_class(strategy).from_options(options).arun(ctx, task))


@pytest.mark.parametrize(("strategy", "options"), [
    ("best_of_n", {"n": 4}), ("self_consistency", {"n": 4}),
    ("self_consistency", {"n": 4, "stop_early": True}),
    ("beam", {"width": 2, "expansion": 2}), ("rebase", {"width": 4}),
    ("particle_filter", {"particles": 4}),
    ("tot_bfs", {"breadth": 2, "proposals": 2}), ("tot_dfs", {"proposals": 2}),
    ("mcts", {"simulations": 6, "width": 2}),
    ("refine", {"strategy": {"kind": "best_of_n", "n": 2}, "rounds": 2}),
])
def test_a_reply_the_task_cannot_read_is_counted_not_fatal(strategy: str,
                                                            options: dict[str, Any]) -> None:
    result = run(strategy, options)
    assert result.answer == "7" and result.status == "ok"
    assert result.stats["unreadable"] >= 1
    assert result.first_error == "Picky could not read a reply: ValueError: cannot read 'boom'"
