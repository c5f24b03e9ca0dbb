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
from forethought.search.ops import SearchLog, SearchStrategy, softmax, vote
from forethought.search.protocol import Flow
from forethought.search.stepper import Stepper, proceed_at_option
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
    proceed_at: float = proceed_at_option()
    """Share of a step's particles to wait for (1: all, the synchronous algorithm); below 1
    the step resamples without its stragglers, which rejoin the population at the next
    resampling (see docs/search.md, "Asynchronous modes")."""


def _logit(p: float) -> float:
    p = min(1 - 1e-7, max(1e-7, p))
    return math.log(p / (1 - p))


@dataclass(kw_only=True, frozen=True)
class _Particle:
    state: State
    rewards: tuple[float, ...] = ()
    lag: int = 0
    """Steps behind the front (asynchronous mode: its line came back late)."""

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

    def _search(self, task: SearchTask, log: SearchLog) -> Flow[StrategyResult]:
        o = self.options
        rng = random.Random(f"{o.seed}|{task.question}")
        stepper = Stepper[_Particle](task, log, proceed_at=o.proceed_at, keep=1,
                                     childless="lost_particles")
        particles = [_Particle(state=task.root()) for _ in range(o.particles)]
        depth = 0
        while depth < stepper.max_steps:
            moving = [p for p in particles if not p.state.final]
            # Particles that fell behind move while the front does, no longer.
            front = [p for p in moving if not p.lag]
            if not front and (log.has_answer() or not (moving or stepper.in_flight)):
                break
            ready = yield from stepper.step([(p, p.state, 1) for p in moving])
            stepped = [(e.parent, e.children[0]) for e in ready if e.children]
            alive = [p for p in particles if p.state.final] + [
                _Particle(state=c.state, rewards=(*p.rewards, 0.5 if c.score is None
                                                  else c.score), lag=c.lag)
                for p, c in stepped]
            depth += 1
            log.stats["depth"] = depth
            # Particles still in flight keep their places in the population.
            room = o.particles - stepper.expected
            if not alive or room <= 0:
                if stepper.in_flight:
                    particles = alive
                    continue
                break
            weights = softmax([p.log_weight(o.aggregation) for p in alive], o.temperature)
            particles = [alive[i] for i in resample(weights, room, rng, o.resampling)]
        yield from stepper.stop()
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

