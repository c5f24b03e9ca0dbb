"""Self-consistency: sample N reasoning paths and take the majority answer.

Wang et al., 2023, "Self-Consistency Improves Chain of Thought Reasoning in Language Models"
(ICLR 2023, arXiv:2203.11171): sample diverse chains of thought, extract each final answer,
and return the most frequent one. Answers are compared after normalisation (``79`` = ``79.0``,
``Canberra.`` = ``canberra``). No scorer is called. The vote can be fooled: when wrong
answers agree more often than the right one is drawn, more samples make it *surer* of the
wrong answer, so accuracy plateaus below coverage.

``stop_early`` is adaptive consistency (Aggarwal et al., 2023, "Let's Sample Step by Step:
Adaptive-Consistency for Efficient Reasoning", arXiv:2305.11860) in its exact form: sampling
stops once no remaining sample could change the vote (see :mod:`forethought.search.early`).
"""

from __future__ import annotations

from typing import ClassVar

import pydantic

from forethought.search.base import StrategyResult
from forethought.search.early import until_decided
from forethought.search.ops import SearchLog, SearchStrategy, rollout, tally, vote
from forethought.search.protocol import Flow
from forethought.search.task import SearchTask, State


class SelfConsistencyOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    n: int = pydantic.Field(default=8, ge=1, le=4096, strict=True)
    """Reasoning paths sampled (one model call each); the paper used 40."""
    stop_early: bool = pydantic.Field(default=False, strict=True, repr=False)
    """Launch all ``n`` and cancel the rest once the vote is decided. Never changes the
    answer; the result holds fewer candidates and votes (so it is off by default)."""


class SelfConsistency(SearchStrategy[SelfConsistencyOptions]):
    """Majority vote over the normalised final answers of ``n`` sampled solutions.

    Each candidate's ``meta["votes"]`` is the number of samples that gave its answer; ties
    go to the answer sampled first.
    """

    name: ClassVar[str] = "self_consistency"
    Options: ClassVar[type[pydantic.BaseModel]] = SelfConsistencyOptions

    def _search(self, task: SearchTask, log: SearchLog) -> Flow[StrategyResult]:
        if not self.options.stop_early:
            finals = (yield from rollout(task, log, [task.root()], self.options.n))[0]
            return self._vote(task, log, finals)
        verifier = task.effective_scorer()
        sampled = yield from until_decided(task, log, self.options.n,
                                           verifier if verifier.verifies else None)
        result = self._vote(task, log, sampled.finals)
        if sampled.verdict is not None:  # the decided answer, verified while sampling
            state, value = sampled.verdict
            log.stats["verified" if value is not None else "unverifiable"] += 1
            candidate = log.get(state)
            if candidate.score is None:
                candidate.score = value
            log.judge(candidate, verifier, value)
            result = log.result(candidate)  # the vote's choice, now with its verdict
        return result

    def _vote(self, task: SearchTask, log: SearchLog, finals: list[State]) -> StrategyResult:
        answers = [s.answer for s in finals]
        counts = tally(task, answers)
        for state in finals:
            candidate = log.add(state, None)
            if state.answer is not None:
                candidate.meta["votes"] = counts[task.normalise(state.answer)]
        index = vote(task, answers)
        log.stats["distinct_answers"] = len(counts)
        if index is None:
            return log.result()
        log.stats["votes"] = counts[task.normalise(finals[index].answer or "")]
        return log.result(log.get(finals[index]))
