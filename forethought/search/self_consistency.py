"""Self-consistency: sample N reasoning paths and take the majority answer.

Wang et al., 2023, "Self-Consistency Improves Chain of Thought Reasoning in Language Models"
(ICLR 2023, arXiv:2203.11171): sample diverse chains of thought, extract each final answer,
and return the most frequent one. Answers are compared after normalisation (``79`` = ``79.0``,
``Canberra.`` = ``canberra``). No scorer is called. The vote can be fooled: when wrong
answers agree more often than the right one is drawn, more samples make it *surer* of the
wrong answer, so accuracy plateaus below coverage.
"""

from __future__ import annotations

from typing import ClassVar

import pydantic

from forethought.search.base import StrategyResult
from forethought.search.ops import Block, SearchLog, SearchStrategy, rollout, tally, vote
from forethought.search.task import SearchTask


class SelfConsistencyOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    n: int = pydantic.Field(default=8, ge=1, le=4096, strict=True)
    """Reasoning paths sampled (one model call each); the paper used 40."""


class SelfConsistency(SearchStrategy[SelfConsistencyOptions]):
    """Majority vote over the normalised final answers of ``n`` sampled solutions.

    Each candidate's ``meta["votes"]`` is the number of samples that gave its answer; ties
    go to the answer sampled first.
    """

    name: ClassVar[str] = "self_consistency"
    Options: ClassVar[type[pydantic.BaseModel]] = SelfConsistencyOptions

    def _search(self, task: SearchTask, log: SearchLog) -> Block[StrategyResult]:
        finals = (yield from rollout(task, log, [task.root()], self.options.n))[0]
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
