"""Best-of-N: sample N complete solutions, score each, keep the best.

Cobbe et al., 2021, "Training Verifiers to Solve Math Word Problems" (arXiv:2110.14168): rank
N samples with a verifier. Brown et al., 2024, "Large Language Monkeys: Scaling Inference
Compute with Repeated Sampling" (arXiv:2407.21787): coverage grows log-linearly with N, but
what is *chosen* is only as good as the verifier (Stroebl et al., 2024, "Inference Scaling
fLaws", arXiv:2411.17501: false positives cap accuracy). ``aggregation="weighted"`` is the
"best-of-N weighted" of Snell et al., 2024 (arXiv:2408.03314): the answer whose samples have
the largest total score wins.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import pydantic

from forethought.exceptions import UserError
from forethought.search.base import StrategyResult
from forethought.search.early import until_accepted
from forethought.search.ops import SearchLog, SearchStrategy, rollout, score, vote
from forethought.search.protocol import Flow
from forethought.search.task import SearchTask


class BestOfNOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    n: int = pydantic.Field(default=8, ge=1, le=4096, strict=True)
    """Complete solutions sampled (one model call each)."""
    aggregation: Literal["max", "weighted"] = "max"
    """``max``: the highest-scored sample; ``weighted``: the answer with the largest total
    score over its samples."""
    stop_early: bool = pydantic.Field(default=False, strict=True, repr=False)
    """Launch all ``n``, score each as it arrives and cancel the rest at the first answer the
    final scorer (a verifier) accepts. Can return another accepted answer than the full run,
    so it is off by default; needs a verifying final scorer."""


class BestOfN(SearchStrategy[BestOfNOptions]):
    """Sample ``n`` complete solutions, score each with the task's scorer, keep the best.

    Calls: ``n`` samples plus what the scorer costs per candidate (one call for a model judge
    or reward, none for an exact verifier).
    """

    name: ClassVar[str] = "best_of_n"
    Options: ClassVar[type[pydantic.BaseModel]] = BestOfNOptions

    def _search(self, task: SearchTask, log: SearchLog) -> Flow[StrategyResult]:
        if self.options.stop_early:
            scorer = task.effective_scorer()
            if not scorer.verifies:
                raise UserError(
                    f"best_of_n stop_early stops at an answer a verifier accepts, but the "
                    f"task's final scorer {type(scorer).__name__} does not verify; use a "
                    f"verifier, tool or judge scorer, or stop_early: false")
            sampled = yield from until_accepted(task, log, self.options.n, scorer)
            finals, scores = sampled.finals, sampled.scores
        else:
            finals = (yield from rollout(task, log, [task.root()], self.options.n))[0]
            scores = yield from score(task, log, finals)
        if self.options.aggregation == "weighted" and finals:
            index = vote(task, [s.answer for s in finals], [x or 0.0 for x in scores])
            if index is not None:
                return log.result(log.get(finals[index]))
        return log.result()
