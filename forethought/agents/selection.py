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

**Ceiling.** Quality is at most 1, so an arm can never be worth more than
``1 - cost_weight * min(1, calls / call_scale)``, ``calls`` being what its answers have cost
(in this bin, or, in a bin that has not tried it, over the family's other bins: cost varies
far less between bins than quality does; 1 while nothing is known). Both methods hold an
arm's score at or below this ceiling, and arms held at the same ceiling go to the one whose
uncut score was higher. Without it the bandit keeps paying to learn the quality of an arm
that could not win even if perfect.

**Choice.** ``method="ucb"`` is PlanGEN's modified UCB (Parmar et al., 2025), with a prior
that decays, held at the ceiling:

    score(a) = min(ceiling(a), mean_reward(a) + exploration * sqrt(ln(T + 1) / (n(a) + 1))
                               + prior_weight * prior(a, complexity) / (n(a) + 1))

where ``n(a)`` is the arm's pulls in this context and ``T`` their sum. ``prior(a, c)`` says
which arms suit an instance of complexity ``c`` before anything is learnt: by default arms are
listed cheapest first and ``prior = 1 - |c - position|`` (position 0 for the first arm, 1 for
the last), so easy instances start with cheap arms and hard ones with thorough ones; an arm
may give its own prior (one value, or one per bin). The prior's weight falls as the arm is
pulled, so what is learnt takes over. ``method="thompson"`` (the default) samples instead:
each arm's mean reward has a normal posterior whose prior mean is ``prior(a, c)`` with the
weight of one pull and whose spread is the arm's observed quality deviation (at least 0.05)
over the square root of its pulls plus one, times ``exploration``, truncated at the arm's
ceiling; the arm with the largest draw is chosen (seeded per instance and round, so runs
repeat).

What the ceiling changed, on NATURAL PLAN with the simulator and the parser's constraints
(benchmarks/plangen_natural_plan.py), where formalise-and-solve answers every instance
without a model call and is exact: before it, Thompson sampling tried every arm twice in
every bin (a best-of-8 costs 8 calls each time) and UCB kept returning to them, so a first
pass over the data cost 2.0 to 2.4 calls per instance (Thompson) and 4.1 to 4.4 (UCB); with
it, 1.3 to 1.9 and 1.2, one of them the complexity rating, at the same accuracy.

Why Thompson by default: with the constraint agent's extracted constraints, whose verdicts
are noisy, UCB settles on cheap arms too soon (meeting planning: 0.70 accuracy on its first
pass against Thompson's 0.79, the best fixed strategy's level), while with exact constraints
the two cost about the same.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
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
    ceiling: float = 1.0
    """The highest mean reward the arm can reach: a perfect answer less what its answers are
    known to cost (see :meth:`SelectionAgent.ceiling`); its score never exceeds this."""
    unbounded: float | None = None
    """What the score would be without the ceiling (UCB's index; Thompson's posterior mean):
    it breaks ties between arms held at the same ceiling (``None``: the score itself)."""

    def as_dict(self) -> dict[str, Any]:
        return {"arm": self.arm, "pulls": self.pulls, "mean_reward": round(self.mean_reward, 4),
                "prior": round(self.prior, 4), "bonus": round(self.bonus, 4),
                "ceiling": round(self.ceiling, 4), "score": round(self.score, 4),
                "available": self.available}


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

    def ceiling(self, here: ArmStats, family: ArmStats | None = None) -> float:
        """The highest mean reward an arm can reach: quality 1 less the cost of its answers
        so far, in this context or else in the family's other bins (1 when nothing is known).

        Quality is bounded by 1, so an arm whose cost is known can never be worth more than
        this, however unsure its quality still is; bounding its score by it stops the
        bandit from paying again and again to learn the quality of an arm that could not
        win even if perfect.
        """
        known = here if here.pulls else family if family is not None and family.pulls \
            else None
        return 1.0 if known is None else self.reward(1.0, known.mean_calls)

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

    def scores(self, arms: list[Arm], stats: Mapping[str, ArmStats], complexity: Complexity,
               *, exclude: set[str], rng: random.Random,
               priors: Mapping[str, float] | None = None,
               family: Mapping[str, ArmStats] | None = None) -> list[ArmScore]:
        """Every arm's score (unavailable arms, those in ``exclude``, are scored but not
        eligible). ``priors`` gives this instance's prior of arms (by name) that set none of
        their own; ``family`` the arms' records over every bin of the task family (for
        the cost of arms this bin has not tried).
        """
        total = sum(stats[a.key].pulls for a in arms if a.key in stats)
        out: list[ArmScore] = []
        for i, arm in enumerate(arms):
            s = stats.get(arm.key, ArmStats())
            mean = self.mean_reward(s)
            prior = self.prior(arms, i, complexity, priors)
            ceiling = self.ceiling(s, None if family is None else family.get(arm.key))
            if self.method == "ucb":
                bonus = self.exploration * math.sqrt(math.log(total + 1) / (s.pulls + 1))
                prior_term = self.prior_weight * prior / (s.pulls + 1)
                unbounded = mean + bonus + prior_term
                value = min(unbounded, ceiling)
            else:
                posterior = unbounded = (prior + s.pulls * mean) / (1 + s.pulls)
                spread = max(s.quality_sd, 0.05) / math.sqrt(1 + s.pulls)
                value = _draw_below(rng, posterior, spread * max(self.exploration, 1e-9),
                                    ceiling)
                bonus = value - posterior
            out.append(ArmScore(arm=arm.name, pulls=s.pulls, mean_reward=mean, prior=prior,
                                bonus=bonus, score=value, available=arm.name not in exclude,
                                ceiling=ceiling, unbounded=unbounded))
        return out

    def choose(self, arms: list[Arm], stats: Mapping[str, ArmStats], complexity: Complexity,
               *, exclude: set[str], rng: random.Random,
               priors: Mapping[str, float] | None = None,
               family: Mapping[str, ArmStats] | None = None
               ) -> tuple[Arm | None, list[ArmScore]]:
        """The best available arm and every arm's score; ``None`` when every arm is
        excluded. Of arms with the same score (held at the same ceiling), the one whose score
        was cut most wins (the most promising, or least known), then the first listed.
        """
        scored = self.scores(arms, stats, complexity, exclude=exclude, rng=rng, priors=priors,
                             family=family)

        def rank(s: ArmScore) -> tuple[float, float]:
            return s.score, s.score if s.unbounded is None else s.unbounded

        best: int | None = None
        for i, s in enumerate(scored):
            if s.available and (best is None or rank(s) > rank(scored[best])):
                best = i
        return (None if best is None else arms[best]), scored


def _draw_below(rng: random.Random, mean: float, sd: float, ceiling: float) -> float:
    """A draw from the normal posterior ``N(mean, sd)`` truncated above at ``ceiling`` (by
    inverting its distribution function, one uniform draw each).
    """
    posterior = NormalDist(mean, sd)
    below = posterior.cdf(ceiling)
    if below < 1e-12:  # the posterior lies (almost) wholly above what the arm can reach
        return ceiling
    return min(ceiling, posterior.inv_cdf(max(rng.random() * below, 1e-300)))


__all__ = ["BIN_NAMES", "Arm", "ArmScore", "Complexity", "SelectionAgent", "parse_rating"]
