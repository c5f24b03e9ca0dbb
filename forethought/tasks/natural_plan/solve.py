"""Formalise and solve: a NATURAL PLAN constraint set becomes a z3 problem (the ``smt`` tool's
JSON format, solved by :func:`~forethought.tools.smt.asolve_smt`), and its model a plan.

The formalisation reads the constraints' checker parameters, so it works on any constraint
set made of this pack's checkers, whoever wrote it. Constraints it cannot express (a z3 or
Python check, an unknown checker) are listed in :attr:`Solution.skipped`; the plan is then
re-checked exactly by the caller, never assumed right.

- Calendar: a day index and a start minute. When several slots fit, NATURAL PLAN's golden
  slot follows a rule found in the data (docs/natural_plan.md): the earliest slot, except
  when some participant wants no meeting *after* a time (and the group did not ask for its
  earliest availability), then the start of the last free window. A window start is a
  start that fits while one a minute earlier does not: "fits(start) and not fits(start -
  1)", maximised.
- Meeting: whether each friend j is met (``m<j>``), when (``s<j>``), and who follows whom
  (``x_<j>``: j is met first; ``x<i>_<j>``: j right after i). Every met friend has exactly
  one predecessor, the start or a met friend, and every place at most one successor; times
  increase along the chain, so there are no cycles. The number met is maximised, and the
  order is then timed as early as possible.
- Trip: which city is at each position (all different), the day each stay begins (stays
  share their flight day), direct flights between neighbours, events inside their stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from forethought._sync import run_sync
from forethought.agents.constraints import ConstraintSet, RegisteredCheck
from forethought.exceptions import UserError
from forethought.tasks.natural_plan.calendars import WEEK, Busy, CalendarProblem, Slot, Wish
from forethought.tasks.natural_plan.calendars import render_plan as render_calendar
from forethought.tasks.natural_plan.meetings import Friend, MeetingProblem
from forethought.tasks.natural_plan.meetings import render_plan as render_meeting
from forethought.tasks.natural_plan.trips import Event, Stay, TripProblem
from forethought.tasks.natural_plan.trips import render_plan as render_trip

Decoder = Callable[[Mapping[str, Any]], str]


@dataclass(kw_only=True)
class Formal:
    """A z3 problem (JSON constraint format) and how to read a plan from its model."""

    problem: dict[str, Any]
    decode: Decoder
    skipped: list[str] = field(default_factory=list[str])
    rule: str = ""
    """How ties are broken (calendar), for reports."""


@dataclass(kw_only=True)
class Solution:
    status: str
    """``sat`` (``plan`` is set), ``unsat`` or ``unknown`` (``reason`` says why)."""
    plan: str | None
    reason: str = ""
    skipped: list[str] = field(default_factory=list[str])
    """Constraints the formalisation could not express (the plan may break them)."""
    rule: str = ""
    duration_s: float = 0.0


def _params(cs: ConstraintSet, checker: str) -> list[tuple[str, Mapping[str, Any]]]:
    return [(c.id, c.check.params) for c in cs
            if isinstance(c.check, RegisteredCheck) and c.check.name == f"{cs.family}.{checker}"]


def _skipped(cs: ConstraintSet, known: set[str]) -> list[str]:
    return [c.id for c in cs if not (isinstance(c.check, RegisteredCheck)
                                     and c.check.name.removeprefix(f"{cs.family}.") in known)]


def _one(cs: ConstraintSet, checker: str) -> Mapping[str, Any]:
    found = _params(cs, checker)
    if len(found) != 1:
        raise UserError(f"{cs.family} constraint set {cs.instance_id!r} needs exactly one "
                        f"'{checker}' constraint to be formalised, has {len(found)}")
    return found[0][1]


# --- calendar -------------------------------------------------------------------------------

def calendar_problem(cs: ConstraintSet) -> CalendarProblem:
    """The calendar problem a constraint set describes (from its checkers' parameters)."""
    days = tuple(sorted(_one(cs, "days")["days"], key=WEEK.index))
    hours = _one(cs, "work_hours")
    busy = tuple(Busy(participant=p["participant"], day=d, start=a, end=b, sentence="")
                 for _, p in _params(cs, "busy") for d, a, b in p["busy"])
    wishes = tuple(Wish(participant=p["participant"], day=p["day"], side=p["side"],
                        time=p.get("time"), sentence="") for _, p in _params(cs, "wish"))
    return CalendarProblem(participants=(), length=_one(cs, "length")["minutes"],
                           length_phrase="", work_start=hours["start"], work_end=hours["end"],
                           days=days, busy=busy, wishes=wishes,
                           earliest=bool(_params(cs, "earliest")))


def golden_rule(problem: CalendarProblem) -> str:
    """``earliest``, or ``last_window_start`` when a participant wants no meeting after a
    time and the group did not ask for its earliest availability (see the module docstring).
    """
    after = any(w.side == "after" for w in problem.wishes)
    return "last_window_start" if after and not problem.earliest else "earliest"


def _fits(problem: CalendarProblem, s: str) -> str:
    parts = [f"{s} >= {problem.work_start}", f"{s} + {problem.length} <= {problem.work_end}"]
    for k, day in enumerate(problem.days):
        for b in problem.busy:
            if b.day == day:
                parts.append(f"implies(day == {k}, {s} + {problem.length} <= {b.start} or "
                             f"{s} >= {b.end})")
        for w in problem.wishes:
            if w.day != day:
                continue
            if w.side == "all":
                parts.append(f"day != {k}")
            elif w.side == "before":
                parts.append(f"implies(day == {k}, {s} >= {w.time})")
            else:
                parts.append(f"implies(day == {k}, {s} + {problem.length} <= {w.time})")
    return " and ".join(f"({p})" for p in parts)


def formalise_calendar(cs: ConstraintSet) -> Formal:
    problem = calendar_problem(cs)
    rule = golden_rule(problem)
    constraints = [_fits(problem, "start")]
    if rule == "last_window_start":
        constraints.append(f"not ({_fits(problem, 'start - 1')})")
    order = "day * 1440 + start"
    spec: dict[str, Any] = {
        "variables": {"day": {"type": "int", "min": 0, "max": len(problem.days) - 1},
                      "start": {"type": "int", "min": 0, "max": 24 * 60}},
        "constraints": constraints,
        **({"minimize": order} if rule == "earliest" else {"maximize": order})}

    def decode(model: Mapping[str, Any]) -> str:
        start = int(model["start"])
        return render_calendar(Slot(day=problem.days[int(model["day"])], start=start,
                                    end=start + problem.length))

    known = {"format", "length", "work_hours", "days", "busy", "wish", "earliest"}
    return Formal(problem=spec, decode=decode, skipped=_skipped(cs, known), rule=rule)


# --- meeting --------------------------------------------------------------------------------

def meeting_problem(cs: ConstraintSet) -> MeetingProblem:
    start = _one(cs, "start")
    minimum = {p["name"]: p["minimum"] for _, p in _params(cs, "minimum")}
    friends = tuple(Friend(name=p["name"], location=p["location"], start=p["start"],
                           end=p["end"], minimum=minimum.get(p["name"], 0), window_sentence="",
                           minimum_sentence="") for _, p in _params(cs, "meet"))
    return MeetingProblem(start_location=start["location"], start_time=start["time"],
                          start_sentence="", friends=friends,
                          travel=_one(cs, "travel")["travel"])


def formalise_meeting(cs: ConstraintSet) -> Formal:
    p = meeting_problem(cs)
    n = len(p.friends)
    variables: dict[str, Any] = {}
    constraints: list[str] = []
    for j, f in enumerate(p.friends):
        variables[f"m{j}"] = "bool"
        variables[f"s{j}"] = {"type": "int", "min": 0, "max": 48 * 60}
        constraints += [f"implies(m{j}, s{j} >= {f.start} and s{j} + {f.minimum} <= {f.end})"]
        reach = p.start_time + p.minutes(p.start_location, f.location)
        variables[f"x_{j}"] = "bool"  # the first meeting
        constraints.append(f"implies(x_{j}, m{j} and s{j} >= {reach})")
        preds = [f"x_{j}"]
        for i, g in enumerate(p.friends):
            if i != j:
                variables[f"x{i}_{j}"] = "bool"
                preds.append(f"x{i}_{j}")
                gap = g.minimum + p.minutes(g.location, f.location)
                constraints.append(f"implies(x{i}_{j}, m{i} and s{j} >= s{i} + {gap})")
        constraints.append(f"{' + '.join(preds)} == ite(m{j}, 1, 0)")
    if n:
        constraints.append(" + ".join(f"x_{j}" for j in range(n)) + " <= 1")
    for i in range(n):
        out = [f"x{i}_{j}" for j in range(n) if j != i]
        if out:
            constraints.append(" + ".join(out) + " <= 1")
    spec: dict[str, Any] = {"variables": variables or {"nobody": "bool"},
                            "constraints": constraints}
    if n:
        spec["maximize"] = " + ".join(f"ite(m{j}, 1, 0)" for j in range(n))

    def decode(model: Mapping[str, Any]) -> str:
        met = sorted((int(model[f"s{j}"]), f.name) for j, f in enumerate(p.friends)
                     if model.get(f"m{j}") is True)
        return render_meeting(p, [name for _, name in met])

    known = {"format", "start", "travel", "timeline", "meet", "minimum", "most_friends"}
    return Formal(problem=spec, decode=decode, skipped=_skipped(cs, known))


# --- trip -----------------------------------------------------------------------------------

def trip_problem(cs: ConstraintSet) -> TripProblem:
    stays = tuple(Stay(city=p["city"], days=p["days"], sentence="")
                  for _, p in _params(cs, "stay"))
    events = tuple(Event(city=p["city"], first=p["first"], last=p["last"], sentence="")
                   for _, p in _params(cs, "event"))
    return TripProblem(total_days=_one(cs, "total_days")["days"], stays=stays, events=events,
                       flights=frozenset((a, b) for a, b in _one(cs, "flights")["pairs"]),
                       flights_text="")


def formalise_trip(cs: ConstraintSet) -> Formal:
    p = trip_problem(cs)
    cities = p.cities
    n = len(cities)
    index = {c: i for i, c in enumerate(cities)}
    variables: dict[str, Any] = {}
    constraints: list[str] = []
    for k in range(n):
        variables[f"c{k}"] = {"type": "int", "min": 0, "max": n - 1}
        variables[f"s{k}"] = {"type": "int", "min": 1, "max": p.total_days}
    length = {k: "0" for k in range(n)}
    for k in range(n):
        expr = "0"
        for c in reversed(cities):
            expr = f"ite(c{k} == {index[c]}, {p.days_in(c)}, {expr})"
        length[k] = expr
    if n:
        constraints += ["s0 == 1", f"s{n - 1} + {length[n - 1]} - 1 == {p.total_days}"]
    if n > 1:
        constraints.append(f"distinct({', '.join(f'c{k}' for k in range(n))})")
    for k in range(n - 1):
        constraints.append(f"s{k + 1} == s{k} + {length[k]} - 1")
        legs = [f"(c{k} == {index[a]} and c{k + 1} == {index[b]})"
                for a, b in sorted(p.flights) if a in index and b in index]
        constraints.append(" or ".join(legs) if legs else "False")
    for e in p.events:
        if e.city not in index:
            raise UserError(f"event in {e.city!r}, which is not a city of the trip")
        d = p.days_in(e.city)
        for k in range(n):
            constraints.append(f"implies(c{k} == {index[e.city]}, s{k} <= {e.first} and "
                               f"s{k} + {d - 1} >= {e.last})")

    def decode(model: Mapping[str, Any]) -> str:
        return render_trip(p, [cities[int(model[f"c{k}"])] for k in range(n)])

    known = {"format", "total_days", "cities", "flights", "continuity", "stay", "event"}
    return Formal(problem={"variables": variables or {"nothing": "bool"},
                           "constraints": constraints},
                  decode=decode, skipped=_skipped(cs, known))


FORMALISERS: dict[str, Callable[[ConstraintSet], Formal]] = {
    "natural_plan.calendar": formalise_calendar, "natural_plan.meeting": formalise_meeting,
    "natural_plan.trip": formalise_trip}


def formalise(cs: ConstraintSet) -> Formal:
    """The z3 problem of a constraint set (raises :class:`UserError` for another family)."""
    try:
        return FORMALISERS[cs.family](cs)
    except KeyError:
        raise UserError(f"no formalisation for the family {cs.family!r}; known: "
                        f"{sorted(FORMALISERS)}") from None


async def asolve(cs: ConstraintSet, *, timeout_s: float = 30.0) -> Solution:
    """Formalise ``cs``, solve it with z3 (through the ``smt`` tool's solver) and write the
    plan.
    """
    from forethought.tools.smt import asolve_smt

    start = time.perf_counter()
    formal = formalise(cs)
    result = await asolve_smt(formal.problem, timeout_s=timeout_s)
    elapsed = time.perf_counter() - start
    if result.status != "sat" or result.model is None:
        return Solution(status=result.status, plan=None, skipped=formal.skipped,
                        rule=formal.rule, duration_s=elapsed,
                        reason=result.reason or "z3: no plan satisfies every constraint")
    return Solution(status="sat", plan=formal.decode(result.model), skipped=formal.skipped,
                    rule=formal.rule, duration_s=elapsed)


def solve(cs: ConstraintSet, *, timeout_s: float = 30.0) -> Solution:
    """Synchronous :func:`asolve` (use that one inside an event loop)."""
    return run_sync(asolve(cs, timeout_s=timeout_s), name="solve()", async_form="asolve(...)")


__all__ = ["Formal", "Solution", "asolve", "calendar_problem", "formalise", "golden_rule",
           "meeting_problem", "solve", "trip_problem"]
