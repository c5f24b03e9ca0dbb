"""The plangen planner's options, as a recipe or a caller gives them, with their ranges.

Every name is checked against its registry when the options are validated (the strategy of
each arm, the task kind, the scorers), so a recipe that names an unregistered strategy fails
when it is checked, with the arm's line and the valid names, not half-way through a run.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from forethought._options import Spec, nested, split_spec
from forethought.exceptions import UnknownNameError, UserError
from forethought.planners.search import check_scorer_spec, check_strategy_spec, check_task_spec
from forethought.search.base import Strategy, strategy_class, strategy_names


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class VerificationOptions(_Strict):
    """How the verification agent judges candidates."""

    ask_model: Literal["always", "unless_rejected", "never"] = "unless_rejected"
    """When to ask the model about constraints without a formal check: always, not when a
    formal check already rejected the candidate, or never (they stay unknown)."""
    fallback_to_model: bool = True
    """Also ask the model about constraints whose formal check gave no answer."""
    timeout_s: float = pydantic.Field(default=10.0, gt=0, le=600)
    """Time limit of each formal check, in seconds (above 0, at most 600)."""


class SelectionOptions(_Strict):
    """The selection agent: complexity estimate and bandit (see forethought.agents.selection)."""

    method: Literal["ucb", "thompson"] = "thompson"
    """Thompson sampling (default), or PlanGEN's UCB with a decaying prior."""
    exploration: float = pydantic.Field(default=1.0, ge=0, le=10)
    """UCB's exploration constant (Thompson: scales the posterior's spread), 0 to 10."""
    prior_weight: float = pydantic.Field(default=0.5, ge=0, le=10)
    """Weight of the complexity prior, divided by the arm's pulls plus one, 0 to 10."""
    cost_weight: float = pydantic.Field(default=0.5, ge=0, le=10)
    """Reward lost per `call_scale` model calls an arm spends, 0 to 10 (0: only the quality
    of the answer counts)."""
    call_scale: float = pydantic.Field(default=16.0, gt=0, le=1_000_000)
    """Model calls that cost `cost_weight` of reward (more cost no more)."""
    bins: int = pydantic.Field(default=3, ge=1, le=4, strict=True)
    """Complexity bins the statistics are kept in, 1 to 4."""
    rate: bool = True
    """Ask the model to rate each instance's complexity (one call per instance)."""
    rating_weight: float = pydantic.Field(default=0.5, ge=0, le=1)
    """Weight of the model's rating against the constraint count, 0 to 1."""
    count_scale: float = pydantic.Field(default=30.0, gt=0, le=10_000)
    """Constraint count at which the count feature is 1 (most complex)."""
    statistics: Literal["store", "memory"] = "store"
    """Keep what is learnt in the run store's file (shared across runs), or in memory."""
    seed: int = pydantic.Field(default=0, ge=-(2**63), le=2**63 - 1, strict=True)
    """Seed of Thompson sampling."""


class MixtureOptions(_Strict):
    """Mixture of Algorithms: switch strategy while the answer is not good enough."""

    enabled: bool = True
    threshold: float = pydantic.Field(default=0.5, ge=0, le=1)
    """Switch while the best answer's verified score is below this (0.5: until a verifier
    accepts one)."""
    max_arms: int = pydantic.Field(default=3, ge=1, le=32, strict=True)
    """Strategies tried per instance at most."""


class ArmOptions(pydantic.BaseModel):
    """A strategy the selection agent may choose: ``kind`` (a registered strategy) and its
    options, plus ``name``, ``refine`` and ``prior``.
    """

    model_config = pydantic.ConfigDict(extra="allow")

    kind: str = pydantic.Field(description="A registered strategy: best_of_n, tot_bfs, rebase, "
                                           "formalise_solve, ...")
    name: str | None = pydantic.Field(default=None, min_length=1, max_length=64,
                                      description="Its name in traces and statistics "
                                                  "(default: the kind)")
    refine: int = pydantic.Field(default=0, ge=0, le=20, strict=True,
                                 description="Rounds of refinement with the verifier's "
                                             "feedback after the strategy, 0 to 20")
    prior: float | list[float] | None = pydantic.Field(
        default=None, description="Prior suitability in [0, 1]: one value or one per "
                                  "complexity bin (default: by the arm's position)")

    @pydantic.model_validator(mode="after")
    def _known(self) -> ArmOptions:
        with nested(name_at=("kind",)):
            build_strategy(self.kind, self.options(), refine=self.refine)
        values = self.prior if isinstance(self.prior, list) else (
            [] if self.prior is None else [self.prior])
        if any(not 0 <= v <= 1 for v in values) or (isinstance(self.prior, list)
                                                    and not self.prior):
            with nested(("prior",)):
                raise UserError(f"a prior is a number in [0, 1] or a non-empty list of them, "
                                f"got {self.prior!r}")
        return self

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def arm_name(self) -> str:
        return self.name or self.kind


ARM_ONLY = "formalise_solve"
"""An arm kind that is not a general search strategy: it needs the instance's constraint set,
which only plangen guarantees (so it is not in the strategy registry, whose strategies all
search any task)."""


def arm_kinds() -> list[str]:
    return sorted([*strategy_names(), ARM_ONLY])


def arm_class(kind: str) -> type[Strategy]:
    """The strategy class of an arm kind: a registered strategy or ``formalise_solve``."""
    if kind == ARM_ONLY:
        from forethought.agents.formalise import FormaliseSolve

        return FormaliseSolve
    if kind not in strategy_names():
        raise UnknownNameError("strategy", kind, arm_kinds())
    return strategy_class(kind)


def build_strategy(kind: str, options: dict[str, Any], *, refine: int = 0) -> Strategy:
    """Strategy ``kind`` with ``options``, wrapped in refinement when ``refine`` > 0."""
    strategy = arm_class(kind).from_options(options)
    if refine:
        from forethought.search.refine import Refine

        return Refine(strategy=strategy, rounds=refine)
    return strategy


DEFAULT_ARMS: list[dict[str, Any]] = [
    {"kind": "formalise_solve"},
    {"kind": "best_of_n", "name": "zero_shot", "n": 1},
    {"kind": "best_of_n", "name": "refine", "n": 1, "refine": 3},
    {"kind": "best_of_n", "n": 8},
    {"kind": "tot_bfs", "proposals": 4, "breadth": 2, "evaluation": "scorer"},
    {"kind": "rebase", "width": 8},
]
"""Cheapest first: the default prior sends easy instances to the first arms."""


class PlanGENOptions(_Strict):
    task: Spec = "chain"
    """How the question is framed: a registered search task (chain, natural_plan_calendar,
    ...) or ``{kind: <task>, <option>: <value>}``."""
    constraints: Literal["auto", "task", "extract", "none"] = "auto"
    """Where the constraints come from: the task's own (`task`, e.g. NATURAL PLAN's parser),
    the constraint agent (`extract`), the task's when it has them (`auto`), or nowhere
    (`none`: every instance runs unguided, scored by `unguided_scorer`; for comparisons)."""
    unguided_scorer: Spec = "judge"
    """How final answers are scored when there is no constraint set (extraction failed)."""
    partial_scorer: Spec | None = None
    """How partial states are scored in step-level search (default: the task's)."""
    verification: VerificationOptions = pydantic.Field(default_factory=VerificationOptions)
    strategy: Spec | None = None
    """A fixed strategy instead of selection: a name or ``{kind: ..., <options>}``."""
    refine: int = pydantic.Field(default=0, ge=0, le=20, strict=True)
    """Refinement rounds after the fixed `strategy`, 0 to 20."""
    arms: list[ArmOptions] = pydantic.Field(
        default_factory=lambda: [ArmOptions.model_validate(a) for a in DEFAULT_ARMS],
        min_length=1, max_length=32)
    """The strategies the selection agent chooses from, cheapest first."""
    selection: SelectionOptions = pydantic.Field(default_factory=SelectionOptions)
    mixture: MixtureOptions = pydantic.Field(default_factory=MixtureOptions)

    @pydantic.field_validator("task")
    @classmethod
    def _task(cls, spec: Spec) -> Spec:
        return check_task_spec(spec)

    @pydantic.field_validator("unguided_scorer", "partial_scorer")
    @classmethod
    def _scorer(cls, spec: Spec | None) -> Spec | None:
        return check_scorer_spec(spec)

    @pydantic.field_validator("strategy")
    @classmethod
    def _strategy(cls, spec: Spec | None) -> Spec | None:
        return None if spec is None else check_strategy_spec(spec, arm_class)

    @pydantic.field_validator("arms")
    @classmethod
    def _unique(cls, arms: list[ArmOptions]) -> list[ArmOptions]:
        names = [a.arm_name for a in arms]
        for i, name in enumerate(names):
            if name in names[:i]:
                with nested((i, "name")):
                    raise UserError(f"two arms are named {name!r}; give each a distinct "
                                    f"`name`")
        return arms


__all__ = [
    "ARM_ONLY",
    "DEFAULT_ARMS",
    "ArmOptions",
    "MixtureOptions",
    "PlanGENOptions",
    "SelectionOptions",
    "VerificationOptions",
    "arm_class",
    "arm_kinds",
    "build_strategy",
    "split_spec",
]
