"""NATURAL PLAN's metrics for ``forethought eval``: ``{kind: natural_plan, domain: calendar}``.

The eval dataset's records are NATURAL PLAN's own (``prompt_0shot``, ``golden_plan`` and the
fields the upstream exact match reads: a meeting's ``constraints`` and ``dist_matrix``, a
trip's ``cities`` and ``durations``), so each answer is scored by
:mod:`forethought.tasks.natural_plan.metrics` exactly as the benchmark's scripts score it.

``measure`` says which figure decides ``correct`` and the score: ``exact_match`` (the
benchmark's, the default) or ``constraint_satisfaction`` (the weighted share of the prompt's
hard constraints the answer keeps, by the exact checkers; correct only when all are kept).
The other figure is always in the result's ``detail``, so one eval reports both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import pydantic

from forethought._threads import in_thread
from forethought.eval.metrics import Metric, Score
from forethought.exceptions import UserError
from forethought.tasks.natural_plan.dataset import Domain
from forethought.tasks.natural_plan.dataset import Instance as PlanInstance
from forethought.tasks.natural_plan.metrics import EXACT_MATCH, constraint_satisfaction

if TYPE_CHECKING:
    from forethought.eval.datasets import Instance

Measure = Literal["exact_match", "constraint_satisfaction"]

_NEEDED: dict[Domain, tuple[str, ...]] = {
    "calendar": ("prompt_0shot", "golden_plan"),
    "meeting": ("prompt_0shot", "golden_plan", "constraints", "dist_matrix"),
    "trip": ("prompt_0shot", "golden_plan", "cities", "durations"),
}


class NaturalPlanOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    domain: Domain
    """Which NATURAL PLAN task the records are: calendar, meeting or trip."""
    measure: Measure = "exact_match"
    """The figure that decides ``correct``; the other one goes in the detail."""


def plan_instance(instance: Instance, domain: Domain) -> PlanInstance:
    """The NATURAL PLAN instance an eval record holds.

    Raises:
        UserError: the record lacks a field the domain's metrics read (named, with the fields
            it has).
    """
    record: dict[str, Any] = instance.record
    missing = [f for f in _NEEDED[domain] if f not in record]
    if missing:
        raise UserError(f"metric 'natural_plan' (domain {domain!r}): instance {instance.id!r} "
                        f"has no field {', '.join(map(repr, missing))}; a NATURAL PLAN "
                        f"{domain} record needs {', '.join(_NEEDED[domain])} (it has "
                        f"{', '.join(record) or 'none'})")
    golden: object = record["golden_plan"]
    golden_text = (" ".join(str(s) for s in cast(list[object], golden))
                   if isinstance(golden, list) else str(golden))
    prompt = str(record["prompt_0shot"])
    return PlanInstance(id=instance.id, domain=domain, prompt_0shot=prompt,
                        prompt_5shot=str(record.get("prompt_5shot", prompt)),
                        golden_plan=golden_text, record=record)


def _figures(answer: str, plan: PlanInstance) -> tuple[float, float]:
    return EXACT_MATCH[plan.domain](answer, plan), constraint_satisfaction(answer, plan)


class NaturalPlanMetric(Metric):
    """NATURAL PLAN's exact match (or constraint satisfaction) for one domain."""

    name: ClassVar[str] = "natural_plan"
    Options: ClassVar[type[pydantic.BaseModel]] = NaturalPlanOptions
    needs_reference: ClassVar[bool] = False
    """The golden plan is read from the record itself (``golden_plan``)."""

    def __init__(self, *, domain: Domain, measure: Measure = "exact_match") -> None:
        self.domain: Domain = domain
        self.measure: Measure = measure

    async def score(self, answer: str, instance: Instance) -> Score:
        plan = plan_instance(instance, self.domain)
        # Parsing the prompt and checking the plan is pure CPU work: off the event loop.
        exact, satisfied = await in_thread(_figures, answer, plan)
        value = exact if self.measure == "exact_match" else satisfied
        return Score(correct=value >= 1.0, value=value,
                     detail=f"exact match {exact:g}, constraints satisfied {satisfied:.2f}")

    def __repr__(self) -> str:
        return f"<metric 'natural_plan' domain={self.domain!r} measure={self.measure!r}>"


__all__ = ["NaturalPlanMetric", "NaturalPlanOptions", "plan_instance"]
