"""Exact checkers of meeting plans, and the constraint set of a meeting problem.

The plan's stated times are checked against each other (``timeline``), its travel against
the listed times (``travel``), and each meeting against its friend's place, window and
minimum; ``most_friends`` asks for as many friends as can be met (computed exactly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forethought.agents.constraints import (
    CheckOutcome,
    Constraint,
    ConstraintSet,
    satisfied,
    violated,
)
from forethought.tasks.natural_plan._build import constraint, key, reading
from forethought.tasks.natural_plan._clock import format_12h
from forethought.tasks.natural_plan.meetings import (
    FAMILY,
    MeetingProblem,
    Step,
    best_count,
    parse_plan,
)


def _steps_or_violation(candidate: str) -> tuple[Step, ...] | CheckOutcome:
    steps = parse_plan(candidate)
    if not steps:
        return violated("the answer states no plan ('You start at ...', 'You travel to ...', "
                        "'You wait until ...', 'You meet ...')")
    return steps


def _places(steps: tuple[Step, ...], start: str) -> list[str]:
    """Where the plan is at each step (after it, for travel)."""
    here, out = start, list[str]()
    for s in steps:
        if s.kind in ("start", "travel"):
            here = s.place
        out.append(here)
    return out


@reading(_steps_or_violation)
def check_format(steps: tuple[Step, ...], params: Mapping[str, Any]) -> CheckOutcome:
    odd = [s.text for s in steps if s.kind == "unknown"]
    if odd:
        return violated(f"sentences that are not plan steps: {odd[:3]!r}"
                        + (f" and {len(odd) - 3} more" if len(odd) > 3 else ""))
    return satisfied(f"{len(steps)} steps")


@reading(_steps_or_violation)
def check_start(steps: tuple[Step, ...], params: Mapping[str, Any]) -> CheckOutcome:
    where, when = params["location"], format_12h(params["time"])
    starts = [i for i, s in enumerate(steps) if s.kind == "start"]
    if not starts:
        return satisfied(f"the plan leaves from {where} (implied)")
    s = steps[starts[0]]
    if starts != [0] or (s.place, s.time) != (where, params["time"]):
        return violated(f"the plan must start at {where} at {when}, as its first step; it says "
                        f"{s.text!r}" + (" more than once" if len(starts) > 1 else ""))
    return satisfied(f"starts at {where} at {when}")


@reading(_steps_or_violation)
def check_travel(steps: tuple[Step, ...], params: Mapping[str, Any]) -> CheckOutcome:
    travel: Mapping[str, Mapping[str, int]] = params["travel"]
    here = params["start_location"]
    for s in steps:
        if s.kind == "start":
            here = s.place
        if s.kind != "travel":
            continue
        listed = travel.get(here, {}).get(s.place)
        if listed is None:
            return violated(f"{s.text!r}: no travel time is listed from {here} to {s.place}")
        if listed != s.minutes:
            return violated(f"{s.text!r}: {here} to {s.place} takes {listed} minutes, not "
                            f"{s.minutes}")
        here = s.place
    return satisfied("every trip takes the listed time")


@reading(_steps_or_violation)
def check_timeline(steps: tuple[Step, ...], params: Mapping[str, Any]) -> CheckOutcome:
    now = params["time"]
    for s in steps:
        clock = format_12h(now)
        if s.kind == "travel":
            if s.time != now + s.minutes:
                return violated(f"{s.text!r}: leaving at {clock} for {s.minutes} minutes "
                                f"arrives at {format_12h(now + s.minutes)}")
            now = s.time
        elif s.kind == "wait":
            if s.time <= now:
                return violated(f"{s.text!r}: it is already {clock}")
            now = s.time
        elif s.kind == "meet":
            if s.time != now:
                return violated(f"{s.text!r}: the plan's clock says {clock} when this meeting "
                                f"starts (wait explicitly, or start it then)")
            if s.end - s.time != s.minutes:
                return violated(f"{s.text!r}: {format_12h(s.time)} to {format_12h(s.end)} is "
                                f"{s.end - s.time} minutes, not {s.minutes}")
            now = s.end
    return satisfied("the stated times are consistent")


@reading(_steps_or_violation)
def check_meet(steps: tuple[Step, ...], params: Mapping[str, Any]) -> CheckOutcome:
    name, place = params["name"], params["location"]
    places = _places(steps, params["start_location"])
    mine = [(s, p) for s, p in zip(steps, places, strict=True)
            if s.kind == "meet" and s.person == name]
    if not mine:
        return satisfied(f"{name} is not met, so there is nothing to check")
    if len(mine) > 1:
        return violated(f"{name} is met {len(mine)} times")
    s, here = mine[0]
    window = f"{format_12h(params['start'])} to {format_12h(params['end'])}"
    if here != place:
        return violated(f"{s.text!r}: the plan is at {here}, but {name} is at {place}")
    if s.time < params["start"] or s.end > params["end"]:
        return violated(f"{s.text!r}: {name} is at {place} only from {window}")
    return satisfied(f"{name} is met at {place} within {window}")


@reading(_steps_or_violation)
def check_minimum(steps: tuple[Step, ...], params: Mapping[str, Any]) -> CheckOutcome:
    name, minimum = params["name"], params["minimum"]
    mine = [s for s in steps if s.kind == "meet" and s.person == name]
    short = [s for s in mine if min(s.minutes, s.end - s.time) < minimum]
    if short:
        return violated(f"{short[0].text!r}: {name} should be met for at least {minimum} "
                        f"minutes")
    return satisfied(f"{name}: at least {minimum} minutes" if mine else f"{name} is not met")


@reading(_steps_or_violation)
def check_most_friends(steps: tuple[Step, ...], params: Mapping[str, Any]) -> CheckOutcome:
    met = {s.person for s in steps if s.kind == "meet"}
    strangers = sorted(met - set(params["friends"]))
    if strangers:
        return violated(f"the plan meets people who are not listed: {strangers}")
    if len(met) < params["optimum"]:
        return violated(f"the plan meets {len(met)} friends; {params['optimum']} can be met")
    return satisfied(f"{len(met)} friends, the most that can be met")


CHECKERS = {"format": check_format, "start": check_start, "travel": check_travel,
            "timeline": check_timeline, "meet": check_meet, "minimum": check_minimum,
            "most_friends": check_most_friends}
"""Registered under ``natural_plan.meeting.<key>`` (entry point ``forethought.checkers``)."""


def _c(cid: str, text: str, checker: str, **params: Any) -> Constraint:
    return constraint(FAMILY, cid, text, checker, **params)


def meeting_constraints(problem: MeetingProblem, *, instance_id: str = "") -> ConstraintSet:
    """The constraint set of a problem, every constraint hard and exactly checked."""
    travel = {a: dict(b) for a, b in problem.travel.items()}
    start = {"start_location": problem.start_location}
    out = [_c("format", "Write the plan as 'You start at ...', 'You travel to ... in N "
                        "minutes and arrive at ...', 'You wait until ...' and 'You meet ... "
                        "for N minutes from ... to ...' sentences", "format"),
           _c("start", problem.start_sentence.rstrip("."), "start",
              location=problem.start_location, time=problem.start_time),
           _c("travel", "Travel between places takes the listed number of minutes", "travel",
              travel=travel, **start),
           _c("timeline", "The plan's times are consistent: arrivals after the travel time, "
                          "waits forward, meetings starting when you are free and lasting as "
                          "stated", "timeline", time=problem.start_time)]
    for f in problem.friends:
        out.append(_c(f"meet.{key(f.name)}", f.window_sentence.rstrip("."), "meet",
                      name=f.name, location=f.location, start=f.start, end=f.end, **start))
        out.append(_c(f"minimum.{key(f.name)}", f.minimum_sentence.rstrip("."), "minimum",
                      name=f.name, minimum=f.minimum))
    out.append(_c("most_friends", "Meet as many friends as possible", "most_friends",
                  optimum=best_count(problem), friends=[f.name for f in problem.friends]))
    return ConstraintSet(instance_id=instance_id, family=FAMILY, source="parser",
                         constraints=tuple(out))
