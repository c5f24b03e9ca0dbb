"""NATURAL PLAN instances for the simulator: what a
:class:`~forethought.models.simulated.planning.SimulatedPlanTask` needs to know.

- the constraints: the parser's set, as the constraint agent should write it;
- decoys: three plausible constraints the instance does not have, of the domain's commonest
  kind (an extra busy hour in a calendar, a longer minimum meeting, an event in a trip city
  on other days), each with the same registered checker as the real ones;
- plans a model might write: every slot on the half-hour grid of the allowed days and of one
  day that is not allowed (calendar); friends met in random orders, kept or not (meeting);
  cities visited in random orders and the reference order with two neighbours swapped
  (trip). They are drawn from a generator seeded with the instance id, the same in every run;
- the oracle: the exact checkers of the constraints and the decoys.

The simulator's question is the instance's task text (the part of the prompt that the
zero-shot and five-shot prompts share), so a request that carries no instance id is still
recognised.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Callable

from forethought.agents.constraint_spec import ConstraintSetSpec
from forethought.agents.constraints import Constraint, ConstraintSet, RegisteredCheck
from forethought.exceptions import UserError
from forethought.models.simulated.planning import PlanConstraint, SimulatedPlanTask
from forethought.tasks.natural_plan import calendars, meetings, trips
from forethought.tasks.natural_plan._build import constraint, key
from forethought.tasks.natural_plan._clock import format_12h, format_24h
from forethought.tasks.natural_plan.dataset import Domain, Instance, load_instances
from forethought.tasks.natural_plan.plans import (
    constraints_for,
    instance_constraints,
    violated_ids,
)
from forethought.tasks.natural_plan.solve import formalise
from forethought.tasks.natural_plan.task import TASKS
from forethought.tools.smt import solve_sync

PLAN_ERROR = 0.075
"""The simulator's default per-constraint error (its difficulty formula is repeated here so
that a task's ``difficulty`` is the chance that a default simulated plan is wrong)."""


def question_text(instance: Instance) -> str:
    """The instance's task as both of its prompts state it."""
    prompt = instance.prompt_0shot
    if instance.domain == "meeting":
        text = meetings.task_text(prompt)
        start = text.rfind("Travel distances (in minutes):")
        end = text.find("\n\nYour response")
        return text[max(0, start):end if end > 0 else None].strip()
    module = calendars if instance.domain == "calendar" else trips
    return module.task_text(prompt).strip()


# --- decoys ---------------------------------------------------------------------------------

def _calendar_decoys(instance: Instance, rng: random.Random) -> list[Constraint]:
    p = calendars.parse_calendar_prompt(instance.prompt_0shot)
    starts = list(range(p.work_start, p.work_end - 30 + 1, 30))
    out: list[Constraint] = []
    for k in range(3):
        who, day, start = rng.choice(p.participants), rng.choice(p.days), rng.choice(starts)
        end = min(p.work_end, start + rng.choice((30, 60)))
        text = f"{who} is busy on {day} during {format_24h(start)} to {format_24h(end)}"
        out.append(constraint(calendars.FAMILY, f"busy.{key(who)}.{k + 2}", text, "busy",
                              participant=who, busy=[[day, start, end]]))
    return out


def _meeting_decoys(instance: Instance, rng: random.Random) -> list[Constraint]:
    p = meetings.parse_meeting_prompt(instance.prompt_0shot)
    out: list[Constraint] = []
    for f in rng.sample(list(p.friends), min(3, len(p.friends))):
        minimum = f.minimum + rng.choice((30, 45, 60))
        out.append(constraint(meetings.FAMILY, f"minimum.{key(f.name)}.2",
                              f"You'd like to meet {f.name} for a minimum of {minimum} minutes",
                              "minimum", name=f.name, minimum=minimum))
    return out


def _trip_decoys(instance: Instance, rng: random.Random) -> list[Constraint]:
    p = trips.parse_trip_prompt(instance.prompt_0shot)
    taken = {(e.city, e.first, e.last) for e in p.events}
    out: list[Constraint] = []
    for s in rng.sample(list(p.stays), min(3, len(p.stays))):
        first = rng.randint(1, max(1, p.total_days - 1))
        last = min(p.total_days, first + rng.randint(0, 2))
        if (s.city, first, last) in taken:
            continue
        out.append(constraint(trips.FAMILY, f"event.{key(s.city)}.{first}-{last}",
                              f"You want to attend an event in {s.city} between day {first} "
                              f"and day {last}", "event", city=s.city, first=first, last=last))
    return out


# --- plans a model might write --------------------------------------------------------------

def _calendar_plans(instance: Instance, rng: random.Random, limit: int) -> list[str]:
    p = calendars.parse_calendar_prompt(instance.prompt_0shot)
    other = [d for d in calendars.WEEK[:5] if d not in p.days]
    days = list(p.days) + other[:1]
    out = [calendars.render_plan(calendars.Slot(day=d, start=s, end=s + p.length))
           for d in days for s in range(p.work_start, p.work_end - p.length + 1, 30)]
    return out if len(out) <= limit else rng.sample(out, limit)


def _meeting_text(p: meetings.MeetingProblem, order: list[str]) -> str:
    """The plan meeting ``order`` as early as possible, each for the minimum, whether or not
    the friend is still there (the mistakes a model makes).
    """
    steps = [f"You start at {p.start_location} at {format_12h(p.start_time)}."]
    here, now = p.start_location, p.start_time
    for name in order:
        f = p.friend(name)
        if f.location != here:
            minutes = p.minutes(here, f.location)
            now, here = now + minutes, f.location
            steps.append(f"You travel to {here} in {minutes} minutes and arrive at "
                         f"{format_12h(now)}.")
        if now < f.start:
            now = f.start
            steps.append(f"You wait until {format_12h(now)}.")
        steps.append(f"You meet {name} for {f.minimum} minutes from {format_12h(now)} to "
                     f"{format_12h(now + f.minimum)}.")
        now += f.minimum
    return " ".join(steps)


def _meeting_plans(instance: Instance, rng: random.Random, limit: int) -> list[str]:
    p = meetings.parse_meeting_prompt(instance.prompt_0shot)
    names = [f.name for f in p.friends]
    out: list[str] = [_meeting_text(p, [n]) for n in names]
    for _ in range(limit * 3):
        if len(out) >= limit:
            break
        order = rng.sample(names, rng.randint(1, len(names)))
        out.append(_meeting_text(p, order))
    return out


def _trip_plans(instance: Instance, rng: random.Random, limit: int) -> list[str]:
    p = trips.parse_trip_prompt(instance.prompt_0shot)
    golden = [v.city for v in trips.parse_itinerary(instance.golden_plan).visits]
    out: list[str] = []
    if sorted(golden) == sorted(p.cities):
        for i in range(len(golden) - 1):
            swapped = list(golden)
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            out.append(trips.render_plan(p, swapped))
    cities = list(p.cities)
    while len(out) < limit:
        out.append(trips.render_plan(p, rng.sample(cities, len(cities))))
    return out


_DECOYS: dict[Domain, Callable[[Instance, random.Random], list[Constraint]]] = {
    "calendar": _calendar_decoys, "meeting": _meeting_decoys, "trip": _trip_decoys}
_PLANS: dict[Domain, Callable[[Instance, random.Random, int], list[str]]] = {
    "calendar": _calendar_plans, "meeting": _meeting_plans, "trip": _trip_plans}


def _written(c: Constraint) -> PlanConstraint:
    spec = ConstraintSetSpec.from_set(ConstraintSet(instance_id="x", family="x",
                                                    constraints=(c,))).constraints[0]
    return PlanConstraint(id=c.id, spec=json.dumps(spec.model_dump(exclude_none=True)))


_BUILT: dict[tuple[str, str, int], SimulatedPlanTask] = {}


def simulated_task(instance: Instance, *, plans: int = 120) -> SimulatedPlanTask:
    """The simulator's view of ``instance`` (built once per instance and process)."""
    known = _BUILT.get((instance.domain, instance.id, plans))
    if known is None:
        known = _BUILT[(instance.domain, instance.id, plans)] = _build(instance, plans)
    return known


def _build(instance: Instance, plans: int) -> SimulatedPlanTask:
    rng = random.Random(f"natural_plan|{instance.id}")
    cs = instance_constraints(instance)
    decoys = _DECOYS[instance.domain](instance, rng)
    every = ConstraintSet(instance_id=cs.instance_id, family=cs.family,
                          constraints=cs.constraints + tuple(decoys))
    task = TASKS[instance.domain](question=instance.prompt_0shot, instance_id=instance.id)
    golden = task.extract(instance.golden_plan) or instance.golden_plan.strip()
    seen = {golden}
    pool: list[str] = []
    for text in _PLANS[instance.domain](instance, rng, plans):
        plan = task.extract(text)
        if plan is not None and plan not in seen:
            seen.add(plan)
            pool.append(plan)

    @functools.lru_cache(maxsize=4096)
    def oracle(plan: str) -> frozenset[str]:
        return frozenset(violated_ids(every, plan))

    return SimulatedPlanTask(
        id=instance.id, question=question_text(instance), answer=golden,
        difficulty=1.0 - (1.0 - PLAN_ERROR) ** len(cs),
        constraints=tuple(_written(c) for c in cs),
        decoys=tuple(_written(c) for c in decoys), plans=tuple(pool), oracle=oracle)


# --- recognising prompts ---------------------------------------------------------------------

_MARKERS: tuple[tuple[Domain, str], ...] = (
    ("calendar", "You need to schedule a meeting"),
    ("meeting", "You are visiting San Francisco"),
    ("trip", "European cities for"))
_INDEX: dict[Domain, dict[str, Instance]] = {}


def _fingerprint(cs: ConstraintSet) -> str:
    return json.dumps([(c.id, dict(c.check.params) if isinstance(c.check, RegisteredCheck)
                        else None) for c in cs], sort_keys=True, default=str)


def _index(domain: Domain) -> dict[str, Instance]:
    """The dataset's instances of ``domain`` by their constraints (empty without the data)."""
    if domain not in _INDEX:
        try:
            instances = load_instances(domain)
        except UserError:
            instances = []
        _INDEX[domain] = {_fingerprint(instance_constraints(i)): i for i in instances}
    return _INDEX[domain]


def recognise(text: str) -> SimulatedPlanTask | None:
    """The simulated task of a NATURAL PLAN prompt (the simulator's provider, entry point
    ``forethought.simulated_tasks``): the dataset instance with the same constraints, or, for
    a prompt that is not in the data, an instance whose reference plan z3 solves exactly;
    ``None`` for text that is not such a prompt.
    """
    found: list[Domain] = [d for d, marker in _MARKERS if marker in text]
    if not found:
        return None
    domain: Domain = found[0]
    try:
        cs = constraints_for(domain, text)
    except UserError:
        return None
    known = _index(domain).get(_fingerprint(cs))
    if known is not None:
        return simulated_task(known)
    # Solved here and now (the simulator answers synchronously), once per new prompt.
    formal = formalise(cs)
    result = solve_sync(formal.problem, timeout_s=30.0)
    if result.status != "sat" or result.model is None:
        return None  # no plan satisfies the prompt: nothing to simulate
    ident = f"prompt:{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    made = Instance(id=ident, domain=domain, prompt_0shot=text, prompt_5shot=text,
                    golden_plan=formal.decode(result.model), record={})
    return simulated_task(made)


__all__ = ["question_text", "recognise", "simulated_task"]
