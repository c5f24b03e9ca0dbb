"""NATURAL PLAN meeting planning: the prompt's constraints, the plan's steps, exact checks.

You arrive somewhere in San Francisco at a given time; each friend is at one place during a
window and should be met for at least some minutes; travel times between places are listed.
The task is to meet as many friends as possible. The answer is a sequence of sentences::

    You start at Haight-Ashbury at 9:00AM. You travel to Fisherman's Wharf in 23 minutes and
    arrive at 9:23AM. You wait until 2:45PM. You meet Sarah for 105 minutes from 2:45PM to
    4:30PM.

The most friends that can be met is computed exactly (a dynamic programme over subsets, with
the earliest finishing time per subset and last friend: meeting as early as possible never
hurts later meetings), so "as many as possible" is an exactly checked constraint too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from forethought.exceptions import UserError
from forethought.tasks.natural_plan._build import after_last
from forethought.tasks.natural_plan._clock import format_12h, parse_12h

FAMILY = "natural_plan.meeting"
_T = r"\d{1,2}:\d{2}\s*[AP]M"
_PLACE = r"[A-Z][\w'.-]*(?:[ -][A-Z][\w'.-]*)*"
_DISTANCE = re.compile(rf"^(?P<a>{_PLACE}) to (?P<b>{_PLACE}): (?P<m>\d+)\.$")
_ARRIVE = re.compile(rf"^You arrive at (?P<loc>{_PLACE}) at (?P<t>{_T})\.$")
_WINDOW = re.compile(rf"^(?P<who>[A-Z][\w'-]*) will be at (?P<loc>{_PLACE}) from (?P<a>{_T}) "
                     rf"to (?P<b>{_T})\.$")
_MINIMUM = re.compile(r"^You'd like to meet (?P<who>[A-Z][\w'-]*) for a minimum of "
                      r"(?P<m>\d+) minutes\.$")


@dataclass(kw_only=True, frozen=True)
class Friend:
    name: str
    location: str
    start: int
    end: int
    minimum: int
    window_sentence: str
    minimum_sentence: str


@dataclass(kw_only=True, frozen=True)
class MeetingProblem:
    start_location: str
    start_time: int
    start_sentence: str
    friends: tuple[Friend, ...]
    travel: Mapping[str, Mapping[str, int]]
    """``travel[a][b]``: minutes from ``a`` to ``b``."""

    def friend(self, name: str) -> Friend:
        return next(f for f in self.friends if f.name == name)

    def minutes(self, a: str, b: str) -> int:
        return 0 if a == b else self.travel[a][b]


def task_text(prompt: str) -> str:
    return after_last(prompt, "You are visiting San Francisco")


def parse_meeting_prompt(prompt: str) -> MeetingProblem:
    """The constraints of a meeting-planning prompt (its last problem when few-shot).

    Raises:
        UserError: a sentence the parser does not know, naming it.
    """
    text = task_text(prompt)
    if "CONSTRAINTS:" not in text or "Travel distances (in minutes):" not in text:
        raise UserError("not a NATURAL PLAN meeting prompt: no 'Travel distances (in "
                        "minutes):' list or no 'CONSTRAINTS:'")
    distances, constraints = text.split("CONSTRAINTS:", 1)
    travel: dict[str, dict[str, int]] = {}
    for line in distances.split("Travel distances (in minutes):", 1)[1].splitlines():
        if line.strip():
            m = _DISTANCE.match(line.strip())
            if m is None:
                raise UserError(f"unrecognised travel distance {line.strip()!r}")
            travel.setdefault(m.group("a"), {})[m.group("b")] = int(m.group("m"))
    body = constraints.split("\n\n", 1)[0]
    start: re.Match[str] | None = None
    windows: dict[str, re.Match[str]] = {}
    minimums: dict[str, re.Match[str]] = {}
    for s in (s.strip() for s in re.split(r"(?<=\.)\s+", body) if s.strip()):
        if m := _ARRIVE.match(s):
            start = m
        elif m := _WINDOW.match(s):
            windows[m.group("who")] = m
        elif m := _MINIMUM.match(s):
            minimums[m.group("who")] = m
        else:
            raise UserError(f"unrecognised sentence in a meeting prompt: {s!r}")
    if start is None:
        raise UserError("the meeting prompt does not say where you arrive ('You arrive at "
                        "... at ...')")
    if set(windows) != set(minimums):
        raise UserError(f"friends with a place but no minimum, or the reverse: "
                        f"{sorted(set(windows) ^ set(minimums))}")
    friends = tuple(Friend(name=w, location=m.group("loc"), start=parse_12h(m.group("a")),
                           end=parse_12h(m.group("b")), minimum=int(minimums[w].group("m")),
                           window_sentence=m.group(0), minimum_sentence=minimums[w].group(0))
                    for w, m in windows.items())
    places = {start.group("loc"), *(f.location for f in friends)}
    missing = [(a, b) for a in places for b in places if a != b and b not in travel.get(a, {})]
    if missing:
        raise UserError(f"no travel time listed for {missing[:5]}")
    return MeetingProblem(start_location=start.group("loc"), start_time=parse_12h(start.group("t")),
                          start_sentence=start.group(0), friends=friends, travel=travel)


def best_count(problem: MeetingProblem) -> int:
    """The most friends that can be met (exact; see the module docstring)."""
    friends = problem.friends
    finish: dict[tuple[int, int], int] = {(0, -1): problem.start_time}
    best = 0
    for mask in range(1 << len(friends)):
        for last in range(-1, len(friends)):
            now = finish.get((mask, last))
            if now is None:
                continue
            best = max(best, mask.bit_count())
            here = problem.start_location if last < 0 else friends[last].location
            for j, f in enumerate(friends):
                if mask >> j & 1:
                    continue
                begin = max(now + problem.minutes(here, f.location), f.start)
                key = (mask | 1 << j, j)
                if begin + f.minimum <= f.end and begin + f.minimum < finish.get(key, 10**9):
                    finish[key] = begin + f.minimum
    return best


def render_plan(problem: MeetingProblem, order: list[str]) -> str:
    """An answer in NATURAL PLAN's format meeting ``order`` (each for the minimum, as early as
    possible). Raises :class:`UserError` if the order cannot be kept.
    """
    steps = [f"You start at {problem.start_location} at {format_12h(problem.start_time)}."]
    here, now = problem.start_location, problem.start_time
    for name in order:
        f = problem.friend(name)
        if f.location != here:
            minutes = problem.minutes(here, f.location)
            now += minutes
            here = f.location
            steps.append(f"You travel to {here} in {minutes} minutes and arrive at "
                         f"{format_12h(now)}.")
        if now < f.start:
            now = f.start
            steps.append(f"You wait until {format_12h(now)}.")
        if now + f.minimum > f.end:
            raise UserError(f"{name} cannot be met in the order {order}")
        steps.append(f"You meet {name} for {f.minimum} minutes from {format_12h(now)} to "
                     f"{format_12h(now + f.minimum)}.")
        now += f.minimum
    return " ".join(steps)


# --- the plan -------------------------------------------------------------------------------

_START = re.compile(rf"^You start at (?P<loc>{_PLACE}) at (?P<t>{_T})$")
_TRAVEL = re.compile(rf"^You travel to (?P<loc>{_PLACE}) in (?P<m>\d+) minutes? and arrive at "
                     rf"(?P<t>{_T})$")
_WAIT = re.compile(rf"^You wait until (?P<t>{_T})$")
_MEET = re.compile(rf"^You meet (?P<who>.+?) for (?P<m>\d+) minutes? from (?P<a>{_T}) to "
                   rf"(?P<b>{_T})$")


@dataclass(kw_only=True, frozen=True)
class Step:
    kind: str
    """``start``, ``travel``, ``wait``, ``meet`` or ``unknown``."""
    text: str
    place: str = ""
    person: str = ""
    minutes: int = 0
    time: int = 0
    """Arrival (travel), the time waited until (wait), the start (start, meet)."""
    end: int = 0


@functools.lru_cache(maxsize=4096)
def parse_plan(text: str) -> tuple[Step, ...]:
    """The sentences of an answer (after ``SOLUTION:`` if present), split at periods as
    NATURAL PLAN's evaluation does.
    """
    if "SOLUTION:" in text:
        text = text[text.find("SOLUTION:") + len("SOLUTION:"):]
    out: list[Step] = []
    for raw in text.split("."):
        s = " ".join(raw.split())
        if s:
            try:
                out.append(_step(s))
            except UserError:  # a time such as 13:00PM
                out.append(Step(kind="unknown", text=s))
    return tuple(out)


def _step(s: str) -> Step:
    if m := _START.match(s):
        return Step(kind="start", text=s, place=m.group("loc"), time=parse_12h(m["t"]))
    if m := _TRAVEL.match(s):
        return Step(kind="travel", text=s, place=m.group("loc"), minutes=int(m["m"]),
                    time=parse_12h(m["t"]))
    if m := _WAIT.match(s):
        return Step(kind="wait", text=s, time=parse_12h(m["t"]))
    if m := _MEET.match(s):
        return Step(kind="meet", text=s, person=m.group("who"), minutes=int(m["m"]),
                    time=parse_12h(m["a"]), end=parse_12h(m["b"]))
    return Step(kind="unknown", text=s)
