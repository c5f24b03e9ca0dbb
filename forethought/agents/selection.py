"""The selection agent: per instance, estimate its complexity, then choose which strategy (an
*arm*) is worth running on it with a bandit whose statistics are kept per task family and
complexity bin.

**Complexity.** A model rating (``Complexity: 1..10``, one call) and cheap features of the
constraint set (its size, relative to ``count_scale``) are averaged with ``rating_weight``;
the result in [0, 1] falls in one of ``bins`` equal bins (``low``, ``mid``, ``high`` for three).
A rating that fails or cannot be read leaves the features alone.

**Rewards.** An arm's reward on an instance is the quality of its answer, the verification
scorer's value in [0, 1] (accepted answers score at least 0.5), minus the compute it spent:
``reward = quality - cost_weight * min(1, model_calls / call_scale)``. So an arm that is as
good and cheaper wins, which is what lets the agent spend little where little is enough.

**Choice.** ``method="ucb"`` is PlanGEN's modified UCB (Parmar et al., 2025), with a prior
that decays:

    score(a) = mean_reward(a) + exploration * sqrt(ln(T + 1) / (n(a) + 1))
               + prior_weight * prior(a, complexity) / (n(a) + 1)

where ``n(a)`` is the arm's pulls in this context and ``T`` their sum. ``prior(a, c)`` says
which arms suit an instance of complexity ``c`` before anything is learnt: by default arms are
listed cheapest first and ``prior = 1 - |c - position|`` (position 0 for the first arm, 1 for
the last), so easy instances start with cheap arms and hard ones with thorough ones; an arm
may give its own prior (one value, or one per bin). The prior's weight falls as the arm is
pulled, so what is learnt takes over. ``method="thompson"`` (the default) samples instead:
each arm's mean reward has a normal posterior whose prior mean is ``prior(a, c)`` with the
weight of one pull and whose spread is the arm's observed quality deviation (at least 0.05)
over the square root of its pulls plus one, times ``exploration``; the arm with the largest
draw is chosen (seeded per instance and round, so runs repeat).

Why Thompson by default: UCB pulls every other arm about ``ln T / gap**2`` times, which over a
dataset of a hundred instances in three bins is most of the dataset. On NATURAL PLAN with the
simulator and the parser's constraints (benchmarks/plangen_natural_plan.py), UCB spent 3.3 to
3.8 model calls per instance on its second pass over the data, Thompson sampling 1.1 to 1.3
(one of them the complexity rating), at the same accuracy: an arm that never fails has a
narrow posterior and is exploited at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from forethought.agents import prompts
from forethought.agents.selection_stats import ArmStats
from forethought.exceptions import BudgetExceeded, RunError, UserError
from forethought.models.base import Model
from forethought.models.messages import Message, ModelRequest, ModelSettings
from forethought.runtime.context import RunContext
from forethought.search.base import Strategy

Method = Literal["ucb", "thompson"]
_RATING = re.compile(r"complexity\s*[:=]\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
BIN_NAMES = {1: ("all",), 2: ("low", "high"), 3: ("low", "mid", "high"),
             4: ("low", "mid_low", "mid_high", "high")}


def parse_rating(text: str) -> float | None:
    """``Complexity: n`` (1..10) as a value in [0, 1]; ``None`` when there is none."""
    m = _RATING.search(text)
    if m is None:
        return None
    value = float(m.group(1))
    if not 1 <= value <= 10:
        return None
    return (value - 1) / 9


@dataclass(kw_only=True)
class Arm:
    """A strategy the selection agent can choose, with its statistics key."""

    name: str
    strategy: Strategy
    spec: dict[str, Any] = field(default_factory=dict[str, Any])
    """The options it was built from; their fingerprint is part of :attr:`key`, so changing an
    arm's options starts its statistics afresh."""
    prior: float | tuple[float, ...] | None = None
    """Its prior suitability in [0, 1]: one value, one per complexity bin, or ``None`` for the
    default by position (see the module docstring)."""

    @property
    def key(self) -> str:
        digest = hashlib.sha256(json.dumps(self.spec, sort_keys=True, default=str).encode())
        return f"{self.name}#{digest.hexdigest()[:8]}"


@dataclass(kw_only=True, frozen=True)
class Complexity:
    value: float
    """In [0, 1]."""
    bin: str
    rating: float | None = None
    """The model's rating in [0, 1] (``None``: none was asked for or it gave none)."""
    features: dict[str, float] = field(default_factory=dict[str, float])
    error: str | None = None
    """Why the rating is missing, when it was asked for."""


@dataclass(kw_only=True, frozen=True)
class ArmScore:
    """One arm's standing when a choice was made (the event shows these)."""

    arm: str
    pulls: int
    mean_reward: float
    prior: float
    bonus: float
    score: float
    available: bool

    def as_dict(self) -> dict[str, Any]:
        return {"arm": self.arm, "pulls": self.pulls, "mean_reward": round(self.mean_reward, 4),
                "prior": round(self.prior, 4), "bonus": round(self.bonus, 4),
                "score": round(self.score, 4), "available": self.available}


@dataclass(kw_only=True)
class SelectionAgent:
    """Estimates complexity and chooses arms (see the module docstring for the formulas)."""

    method: Method = "thompson"
    exploration: float = 1.0
    prior_weight: float = 0.5
    cost_weight: float = 0.5
    call_scale: float = 16.0
    bins: int = 3
    rate: bool = True
    """Ask the model for a complexity rating (one call per instance)."""
    rating_weight: float = 0.5
    count_scale: float = 30.0
    seed: int = 0
    model: Model | None = None
    """The model that rates complexity (``None``: the run's model)."""

    def __post_init__(self) -> None:
        if self.method not in ("ucb", "thompson"):
            raise UserError(f"selection method must be 'ucb' or 'thompson', got "
                            f"{self.method!r}")
        if self.bins not in BIN_NAMES:
            raise UserError(f"bins must be 1 to {max(BIN_NAMES)}, got {self.bins!r}")
        for name in ("exploration", "prior_weight", "cost_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UserError(f"{name} must be a number >= 0, got {value!r}")
        for name in ("call_scale", "count_scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise UserError(f"{name} must be a positive number, got {value!r}")
        if not 0 <= self.rating_weight <= 1:
            raise UserError(f"rating_weight must be in [0, 1], got {self.rating_weight!r}")

    # --- complexity -------------------------------------------------------------------------

    def rating_request(self, question: str, *, instance_id: str = "") -> ModelRequest:
        return ModelRequest(
            messages=(Message.system(prompts.COMPLEXITY_SYSTEM), Message.user(question)),
            purpose="complexity", settings=ModelSettings(temperature=0.0),
            metadata={"instance_id": instance_id, "question": question})

    def bin_of(self, value: float) -> str:
        names = BIN_NAMES[self.bins]
        return names[min(len(names) - 1, int(value * len(names)))]

    def combine(self, rating: float | None, features: dict[str, float]) -> float:
        count = features.get("constraints")
        if count is None:
            return 0.5 if rating is None else rating
        size = min(1.0, count / self.count_scale)
        if rating is None:
            return size
        return self.rating_weight * rating + (1 - self.rating_weight) * size

    async def aestimate(self, ctx: RunContext, question: str, *, constraints: int | None,
                        instance_id: str = "", node_id: str | None = None) -> Complexity:
        """The complexity of ``question`` (``constraints``: the size of its constraint set,
        ``None`` when it has none).

        Raises:
            BudgetExceeded: the budget ran out before the rating call.
        """
        features = {} if constraints is None else {"constraints": float(constraints)}
        rating: float | None = None
        error: str | None = None
        if self.rate:
            request = self.rating_request(question, instance_id=instance_id)
            try:
                response = await ctx.complete(request, model=self.model, node_id=node_id)
                rating = parse_rating(response.text)
                if rating is None:
                    error = f"no 'Complexity: 1-10' line in {response.text.strip()[:80]!r}"
            except BudgetExceeded:
                raise
            except (RunError, OSError) as exc:
                error = f"the rating call failed: {type(exc).__name__}: {exc}"
        value = self.combine(rating, features)
        return Complexity(value=value, bin=self.bin_of(value), rating=rating,
                          features=features, error=error)

    # --- choice -----------------------------------------------------------------------------

    def reward(self, quality: float, calls: float) -> float:
        return quality - self.cost_weight * min(1.0, calls / self.call_scale)

    def mean_reward(self, stats: ArmStats) -> float:
        if not stats.pulls:
            return 0.0
        return self.reward(stats.mean_quality, stats.mean_calls)

    def prior(self, arms: list[Arm], index: int, complexity: Complexity,
              priors: Mapping[str, float] | None = None) -> float:
        given = arms[index].prior
        if given is None and priors is not None and arms[index].name in priors:
            return priors[arms[index].name]
        if isinstance(given, tuple):
            names = BIN_NAMES[self.bins]
            pos = names.index(complexity.bin) if complexity.bin in names else 0
            return given[min(pos, len(given) - 1)]
        if given is not None:
            return given
        position = index / (len(arms) - 1) if len(arms) > 1 else 0.0
        return 1.0 - abs(complexity.value - position)

    def scores(self, arms: list[Arm], stats: dict[str, ArmStats], complexity: Complexity, *,
               exclude: set[str], rng: random.Random,
               priors: Mapping[str, float] | None = None) -> list[ArmScore]:
        """Every arm's score (unavailable arms, those in ``exclude``, are scored but not
        eligible). ``priors`` gives this instance's prior of arms (by name) that set none of
        their own.
        """
        total = sum(stats[a.key].pulls for a in arms if a.key in stats)
        out: list[ArmScore] = []
        for i, arm in enumerate(arms):
            s = stats.get(arm.key, ArmStats())
            mean = self.mean_reward(s)
            prior = self.prior(arms, i, complexity, priors)
            if self.method == "ucb":
                bonus = self.exploration * math.sqrt(math.log(total + 1) / (s.pulls + 1))
                prior_term = self.prior_weight * prior / (s.pulls + 1)
                value = mean + bonus + prior_term
            else:
                posterior = (prior + s.pulls * mean) / (1 + s.pulls)
                spread = max(s.quality_sd, 0.05) / math.sqrt(1 + s.pulls)
                value = rng.gauss(posterior, spread * max(self.exploration, 1e-9))
                bonus = value - posterior
            out.append(ArmScore(arm=arm.name, pulls=s.pulls, mean_reward=mean, prior=prior,
                                bonus=bonus, score=value, available=arm.name not in exclude))
        return out

    def choose(self, arms: list[Arm], stats: dict[str, ArmStats], complexity: Complexity, *,
               exclude: set[str], rng: random.Random,
               priors: Mapping[str, float] | None = None) -> tuple[Arm | None, list[ArmScore]]:
        """The best available arm (the first listed on a tie) and every arm's score;
        ``None`` when every arm is excluded.
        """
        scored = self.scores(arms, stats, complexity, exclude=exclude, rng=rng, priors=priors)
        best: int | None = None
        for i, s in enumerate(scored):
            if s.available and (best is None or s.score > scored[best].score):
                best = i
        return (None if best is None else arms[best]), scored


__all__ = ["BIN_NAMES", "Arm", "ArmScore", "Complexity", "SelectionAgent", "parse_rating"]
