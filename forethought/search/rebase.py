"""REBASE: reward-balanced search.

Wu et al., 2024/2025, "Inference Scaling Laws: An Empirical Analysis of Compute-Optimal
Inference for Problem-Solving with Language Models" (ICLR 2025, arXiv:2408.00724), section 3.
The tree grows one depth at a time under a budget of ``width`` completions. Every open node of
the current depth is scored by the process reward R, and gets
``W_j = round(B * softmax(R_j / temperature))`` children, where B is the budget left (``width``
minus the solutions already finished). Nodes with low rewards get few or no children, so the
budget flows to the promising ones without discarding the rest outright as beam search does.
The answer is a reward-weighted majority vote over the finished solutions (the paper's best
aggregation), or the best-scored one.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import pydantic

from forethought.search.base import StrategyResult
from forethought.search.beam import rank
from forethought.search.ops import SearchLog, SearchStrategy, softmax, vote
from forethought.search.protocol import Flow
from forethought.search.stepper import Stepper, front_open, proceed_at_option
from forethought.search.task import SearchTask, State


class RebaseOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    width: int = pydantic.Field(default=16, ge=1, le=4096, strict=True)
    """The budget of completions: children at the first depth and solutions to finish."""
    temperature: float = pydantic.Field(default=0.2, gt=0, le=100)
    """Balance temperature of the softmax over rewards (in [0, 1]): lower sends more of the
    budget to the best nodes."""
    aggregation: Literal["max", "weighted"] = "max"
    """Reward-weighted majority vote over finished solutions, or the highest-scored one."""
    proceed_at: float = proceed_at_option()
    """Share of a depth's calls to wait for (1: all, the synchronous algorithm); below 1 the
    depth proceeds without its stragglers, whose nodes join the next depth's allocation
    (see docs/search.md, "Asynchronous modes")."""


def allocate(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, rounded so the parts sum to ``total``
    (largest remainders first, earlier entries first on a tie).
    """
    if total <= 0 or not weights:
        return [0] * len(weights)
    shares = [total * w for w in weights]
    parts = [math.floor(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in order[:total - sum(parts)]:
        parts[i] += 1
    return parts


class Rebase(SearchStrategy[RebaseOptions]):
    """Reward-balanced expansion: each depth's budget is split among open nodes by a softmax
    of their rewards.

    Calls: at most ``width`` proposals and ``width`` scores per depth.
    """

    name: ClassVar[str] = "rebase"
    Options: ClassVar[type[pydantic.BaseModel]] = RebaseOptions

    def _search(self, task: SearchTask, log: SearchLog) -> Flow[StrategyResult]:
        o = self.options
        stepper = Stepper[None](task, log, proceed_at=o.proceed_at)
        budget = o.width
        open_nodes = [task.root()]
        rewards = [0.0]
        finished: list[tuple[State, float]] = []
        depth = 0
        while depth < stepper.max_steps:
            room = budget - stepper.expected  # children still in flight keep their share
            widths = [room] if depth == 0 else allocate(room, softmax(rewards, o.temperature))
            ready = yield from stepper.step(
                [(None, n, w) for n, w in zip(open_nodes, widths, strict=True)])
            children = [c for e in ready for c in e.children]
            if not children and not stepper.in_flight:
                break
            ranked = rank([c.state for c in children], [c.score for c in children])
            done = [(s, max(0.0, x)) for s, x in ranked if s.final]
            finished += done
            budget -= len(done)
            open_nodes = [s for s, _ in ranked if not s.final]
            rewards = [max(0.0, x) for s, x in ranked if not s.final]
            depth += 1
            log.stats["depth"] = depth
            # Lines that fell behind share the budget while the front goes on, no longer.
            if budget <= 0 or (not front_open(ready) and (
                    log.has_answer() or not (open_nodes or stepper.in_flight))):
                break
        yield from stepper.stop()
        if o.aggregation == "weighted" and finished:
            index = vote(task, [s.answer for s, _ in finished], [x for _, x in finished])
            if index is not None:
                return log.result(log.get(finished[index][0]))
        return log.result()
