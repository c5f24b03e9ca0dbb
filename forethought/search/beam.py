"""Beam search over reasoning steps, guided by a process reward.

Snell et al., 2024, "Scaling LLM Test-Time Compute Optimally can be More Effective than
Scaling Model Parameters" (arXiv:2408.03314), section 5: sample N first steps, score them with
a process reward model, keep the top N/M, sample M next steps from each, and repeat until the
paths finish or a depth limit; the final answer is chosen among the finished paths
(best-of-N weighted by default). Here ``width`` is N/M (the beams kept) and ``expansion`` is M
(the children per beam), so N = ``width * expansion``. The paper found it beats best-of-N at
low budgets and on harder questions, where step errors compound, and can lose on easy ones.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import pydantic

from forethought.search.base import StrategyResult
from forethought.search.ops import SearchLog, SearchStrategy, vote
from forethought.search.protocol import Flow
from forethought.search.stepper import Stepper, front_open, proceed_at_option
from forethought.search.task import SearchTask, State


class BeamOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    width: int = pydantic.Field(default=4, ge=1, le=1024, strict=True)
    """Beams kept after each step (the paper's N/M)."""
    expansion: int = pydantic.Field(default=4, ge=1, le=1024, strict=True)
    """Next steps sampled from each kept beam (the paper's beam width M)."""
    aggregation: Literal["max", "weighted"] = "max"
    """How the answer is chosen among finished paths: the highest-scored one, or the answer
    with the largest total score (the paper's best-of-N weighted)."""
    proceed_at: float = proceed_at_option()
    """Share of a step's calls to wait for (1: all, the synchronous algorithm); below 1 the
    step proceeds without its stragglers, whose children join the next step's selection
    (see docs/search.md, "Asynchronous modes")."""


def rank(states: list[State], scores: list[float | None]) -> list[tuple[State, float]]:
    """States with their scores, best first; unscored ones last (stable on ties)."""
    pairs = [(s, -1.0 if x is None else x) for s, x in zip(states, scores, strict=True)]
    return sorted(pairs, key=lambda p: -p[1])


class BeamSearch(SearchStrategy[BeamOptions]):
    """Step-level beam search: ``width`` beams, each expanded into ``expansion`` children,
    scored by the task's scorer (a process reward by default).

    Calls per step: ``width * expansion`` proposals plus as many scores.
    """

    name: ClassVar[str] = "beam"
    Options: ClassVar[type[pydantic.BaseModel]] = BeamOptions

    def _search(self, task: SearchTask, log: SearchLog) -> Flow[StrategyResult]:
        width, expansion = self.options.width, self.options.expansion
        stepper = Stepper[None](task, log, proceed_at=self.options.proceed_at)
        beams = [task.root()]
        finished: list[tuple[State, float]] = []
        depth = 0
        while depth < stepper.max_steps:
            widths = [width * expansion] if depth == 0 else [expansion] * len(beams)
            ready = yield from stepper.step(
                [(None, b, w) for b, w in zip(beams, widths, strict=True)])
            children = [c for e in ready for c in e.children]
            if not children and not stepper.in_flight:
                break
            ranked = rank([c.state for c in children], [c.score for c in children])
            finished += [(s, x) for s, x in ranked if s.final]
            beams = [s for s, _ in ranked if not s.final][:width]
            depth += 1
            log.stats["depth"] = depth
            # Lines that fell behind compete for beams while the front goes on, no longer.
            if not front_open(ready) and (log.has_answer() or not (beams or stepper.in_flight)):
                break
        yield from stepper.stop()
        if self.options.aggregation == "weighted" and finished:
            index = vote(task, [s.answer for s, _ in finished], [max(0.0, x) for _, x in finished])
            if index is not None:
                return log.result(log.get(finished[index][0]))
        return log.result()
