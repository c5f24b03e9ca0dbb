"""One entry point per operation, whatever the domain: parse a prompt into its constraint
set, and check a plan against it exactly.
"""

from __future__ import annotations

import functools

from forethought.agents.checks import run_registered_sync
from forethought.agents.constraints import (
    ConstraintResult,
    ConstraintSet,
    RegisteredCheck,
    Verdict,
)
from forethought.exceptions import UserError
from forethought.tasks.natural_plan.calendars import (
    calendar_constraints,
    parse_calendar_prompt,
    parse_slot,
)
from forethought.tasks.natural_plan.dataset import DOMAINS, Domain, Instance
from forethought.tasks.natural_plan.meeting_checks import meeting_constraints
from forethought.tasks.natural_plan.meetings import parse_meeting_prompt, parse_plan
from forethought.tasks.natural_plan.trips import (
    parse_itinerary,
    parse_trip_prompt,
    trip_constraints,
)

FAMILIES: dict[Domain, str] = {d: f"natural_plan.{d}" for d in DOMAINS}


def constraints_for(domain: Domain, prompt: str, *, instance_id: str = "") -> ConstraintSet:
    """The constraint set the deterministic parser reads from ``prompt``.

    Raises:
        UserError: an unknown domain, or a prompt the parser does not recognise.
    """
    if domain == "calendar":
        return calendar_constraints(parse_calendar_prompt(prompt), instance_id=instance_id)
    if domain == "meeting":
        return meeting_constraints(parse_meeting_prompt(prompt), instance_id=instance_id)
    if domain == "trip":
        return trip_constraints(parse_trip_prompt(prompt), instance_id=instance_id)
    raise UserError(f"unknown NATURAL PLAN domain {domain!r}; use one of {list(DOMAINS)}")


@functools.lru_cache(maxsize=1024)
def _cached(domain: Domain, prompt: str, instance_id: str) -> ConstraintSet:
    return constraints_for(domain, prompt, instance_id=instance_id)


def instance_constraints(instance: Instance) -> ConstraintSet:
    """The constraint set of a dataset instance (parsed once, then cached)."""
    return _cached(instance.domain, instance.prompt_0shot, instance.id)


def clear_plan_caches() -> None:
    """Forget parsed plans. A plan is parsed once for all of its constraints' checkers (the
    parsers keep recent results); benchmarks clear them so that each pass parses afresh.
    """
    parse_slot.cache_clear()
    parse_plan.cache_clear()
    parse_itinerary.cache_clear()


def check_plan(constraint_set: ConstraintSet, plan: str) -> list[ConstraintResult]:
    """Every constraint judged on ``plan`` by its registered checker, here and now.

    This is the exact plan checker: synchronous and cheap (no event loop, no threads).
    Constraints with another kind of check (z3, Python) or none are ``unknown`` here; run
    :func:`~forethought.agents.constraints.check_constraints` for those.
    """
    out: list[ConstraintResult] = []
    for c in constraint_set:
        if isinstance(c.check, RegisteredCheck):
            o = run_registered_sync(c.check, plan)
            out.append(ConstraintResult(constraint=c, status=o.status, reason=o.reason,
                                        method=f"registered:{c.check.name}"))
        else:
            out.append(ConstraintResult(constraint=c, status="unknown", method="none",
                                        reason="not a registered check; use "
                                               "check_constraints"))
    return out


def verify_plan(constraint_set: ConstraintSet, plan: str) -> Verdict:
    """The verdict of the exact plan checker."""
    return Verdict.of(constraint_set, check_plan(constraint_set, plan))


def violated_ids(constraint_set: ConstraintSet, plan: str) -> list[str]:
    """The ids of the constraints ``plan`` violates (empty for a valid plan)."""
    return [r.id for r in check_plan(constraint_set, plan) if r.status == "violated"]
