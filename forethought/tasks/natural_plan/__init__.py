"""NATURAL PLAN (Zheng et al., 2024) as a task pack: calendar scheduling, meeting planning and
trip planning.

- :mod:`.dataset`: the 100 instances per domain (``load_instances``).
- :mod:`.calendars`, :mod:`.meetings`, :mod:`.trips`: deterministic prompt parsers, plan
  parsers and exact checkers; :func:`constraints_for` turns a prompt into its
  :class:`~forethought.agents.constraints.ConstraintSet` (checkers registered as
  ``natural_plan.<domain>.<rule>``), :func:`check_plan` / :func:`verify_plan` check a plan.
- :mod:`.metrics`: the benchmark's exact match per domain and constraint satisfaction.
- :mod:`.solve`: formalise a constraint set in z3 and read a plan from the model.
- :mod:`.third_party`: where the parser and the third-party constraint files differ.
- :mod:`.task`: the search tasks ``natural_plan_calendar``, ``natural_plan_meeting``,
  ``natural_plan_trip``.
"""

from forethought.tasks.natural_plan.dataset import DOMAINS, Domain, Instance, load_instances
from forethought.tasks.natural_plan.metrics import (
    METRICS,
    constraint_satisfaction,
    exact_match,
)
from forethought.tasks.natural_plan.plans import (
    check_plan,
    constraints_for,
    instance_constraints,
    verify_plan,
    violated_ids,
)
from forethought.tasks.natural_plan.solve import Solution, asolve, formalise, solve
from forethought.tasks.natural_plan.task import (
    CalendarTask,
    MeetingTask,
    NaturalPlanTask,
    TripTask,
)

__all__ = ["DOMAINS", "METRICS", "CalendarTask", "Domain", "Instance", "MeetingTask",
           "NaturalPlanTask", "Solution", "TripTask", "asolve", "check_plan",
           "constraint_satisfaction", "constraints_for", "exact_match", "formalise",
           "instance_constraints", "load_instances", "solve", "verify_plan", "violated_ids"]
