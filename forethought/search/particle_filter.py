"""Particle filtering over reasoning steps.

Puri et al., 2025, "A Probabilistic Inference Approach to Inference-Time Scaling of LLMs using
Particle-Based Monte Carlo Methods" (arXiv:2502.01618). Inference-time scaling as sampling
from the posterior over solutions given that they are right, with a process reward as the
(approximate) likelihood: ``particles`` partial solutions each take one step; each is weighted
by its reward, turned into a log-weight (the log-odds of the reward, as in the authors'
its_hub code, aggregated over the path as ``last``, ``min`` or ``product``; an unscored step
counts as 0.5, no evidence either way); the weights are
normalised with a softmax and the particles are resampled with replacement, so promising ones
multiply and poor ones die out, while noisy rewards cannot prune every alternative the way a
greedy beam does. Finished particles are carried along (and can be resampled) until every
particle has finished. The answer is the particle with the largest weight, or a
weight-weighted majority vote.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import ClassVar, Literal

import pydantic

from forethought.search.base import StrategyResult
from forethought.search.ops import (
    Block,
    SearchLog,
    SearchStrategy,
    expand,
    score,
    softmax,
    vote,
)
from forethought.search.task import SearchTask, State


class ParticleFilterOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    particles: int = pydantic.Field(default=8, ge=1, le=4096, strict=True)
    """Partial solutions carried at once (the paper's N)."""
    temperature: float = pydantic.Field(default=1.0, gt=0, le=100)
    """Divides the log-weights before the softmax (1: the paper's)."""
    aggregation: Literal["last", "min", "product"] = "last"
    """How a path's step rewards make its weight: the latest reward (the paper's best), the
    smallest, or their product."""
    resampling: Literal["multinomial", "systematic"] = "multinomial"
    selection: Literal["argmax", "vote"] = "argmax"
    """The finished particle with the largest weight, or a weighted majority vote."""
    seed: int = pydantic.Field(default=0, ge=-(2**63), le=2**63 - 1, strict=True)
    """Seed of the resampling (mixed with the question, so instances differ)."""


def _logit(p: float) -> float:
    p = min(1 - 1e-7, max(1e-7, p))
    return math.log(p / (1 - p))


@dataclass(kw_only=True, frozen=True)
class _Particle:
    state: State
    rewards: tuple[float, ...] = ()

    def log_weight(self, aggregation: str) -> float:
        if not self.rewards:
            return 0.0
        if aggregation == "min":
            return _logit(min(self.rewards))
        if aggregation == "product":
            return sum(math.log(max(r, 1e-7)) for r in self.rewards)
        return _logit(self.rewards[-1])


def resample(weights: list[float], k: int, rng: random.Random, method: str) -> list[int]:
    """``k`` indices drawn with probabilities ``weights`` (which sum to 1)."""
    if method == "systematic":
        start = rng.random() / k
        out: list[int] = []
        cumulative, i = weights[0], 0
        for j in range(k):
            point = start + j / k
            while point > cumulative and i < len(weights) - 1:
                i += 1
                cumulative += weights[i]
            out.append(i)
        return out
    return rng.choices(range(len(weights)), weights, k=k)


class ParticleFilter(SearchStrategy[ParticleFilterOptions]):
    """Particle filtering: step every unfinished particle, weight by process reward, resample.

    Calls per step: one proposal and one score per unfinished particle.
    """

    name: ClassVar[str] = "particle_filter"
    Options: ClassVar[type[pydantic.BaseModel]] = ParticleFilterOptions

    def _search(self, task: SearchTask, log: SearchLog) -> Block[StrategyResult]:
        o = self.options
        rng = random.Random(f"{o.seed}|{task.question}")
        particles = [_Particle(state=task.root()) for _ in range(o.particles)]
        for depth in range(task.max_depth):
            moving = [p for p in particles if not p.state.final]
            if not moving:
                break
            groups = yield from expand(task, log, [p.state for p in moving], [1] * len(moving))
            stepped = [(p, group[0]) for p, group in zip(moving, groups, strict=True) if group]
            log.stats["lost_particles"] += len(moving) - len(stepped)
            scores = yield from score(task, log, [s for _, s in stepped])
            alive = [p for p in particles if p.state.final] + [
                _Particle(state=s, rewards=(*p.rewards, 0.5 if x is None else x))
                for (p, s), x in zip(stepped, scores, strict=True)]
            log.stats["depth"] = depth + 1
            if not alive:
                break
            weights = softmax([p.log_weight(o.aggregation) for p in alive], o.temperature)
            particles = [alive[i] for i in resample(weights, o.particles, rng, o.resampling)]
        finished = [p for p in particles if p.state.final]
        if not finished:  # e.g. every particle stopped at the depth limit
            return log.result()
        logw = [p.log_weight(o.aggregation) for p in finished]
        if o.selection == "vote":
            index = vote(task, [p.state.answer for p in finished], softmax(logw, o.temperature))
        else:
            index = max(range(len(finished)), key=lambda i: logw[i])
        if index is None:
            return log.result()
        best = finished[index]
        return log.result(log.get(best.state))  # recorded with its score when scored

