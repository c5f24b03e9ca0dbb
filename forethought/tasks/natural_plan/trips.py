"""NATURAL PLAN trip planning: the prompt's constraints, the itinerary, exact checks.

A prompt lists cities with the days to spend in each, events fixed to day ranges in some of
them, and the direct flights (``A and B`` both ways, ``from A to B`` one way). The answer
visits every city once, flying directly between consecutive ones; a flight day counts for
both cities (``**Day 2-4:** Visit Stockholm for 3 days.`` then ``**Day 4:** Fly from
Stockholm to Tallinn.``), so the stays add up to the trip's length plus the flights.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from forethought.agents.constraints import (
    CheckOutcome,
    Constraint,
    ConstraintSet,
    satisfied,
    violated,
)
from forethought.exceptions import UserError
from forethought.tasks.natural_plan._build import after_last, constraint, key, reading

FAMILY = "natural_plan.trip"
_CITY = r"[A-Z][\w.'-]*(?: [A-Z][\w.'-]*)*"
_TRIP = re.compile(r"You plan to visit (?P<n>\d+) European cities for (?P<days>\d+) days in "
                   r"total\.")
_STAYS = [re.compile(rf"^You plan to stay in (?P<city>{_CITY}) for (?P<days>\d+) days?\.$"),
          re.compile(rf"^You want to spend (?P<days>\d+) days? in (?P<city>{_CITY})\.$"),
          re.compile(rf"^You would like to visit (?P<city>{_CITY}) for (?P<days>\d+) days?\.$")]
_EVENT_DAYS = re.compile(r"\bday (?P<a>\d+) (?:and|to) day (?P<b>\d+)\b")
_BOILERPLATE = re.compile(r"^(?:You only take direct flights to commute between cities\.|"
                          r"Find a trip plan of visiting the cities for \d+ days by taking "
                          r"direct flights to commute between them\.|SOLUTION:.*)$")
_FLIGHTS_HEAD = "Here are the cities that have direct flights:"


@dataclass(kw_only=True, frozen=True)
class Stay:
    city: str
    days: int
    sentence: str


@dataclass(kw_only=True, frozen=True)
class Event:
    """Be in ``city`` on every day from ``first`` to ``last``."""

    city: str
    first: int
    last: int
    sentence: str


@dataclass(kw_only=True, frozen=True)
class TripProblem:
    total_days: int
    stays: tuple[Stay, ...]
    events: tuple[Event, ...]
    flights: frozenset[tuple[str, str]]
    """Directed pairs (``A and B`` gives both directions)."""
    flights_text: str

    @property
    def cities(self) -> tuple[str, ...]:
        return tuple(s.city for s in self.stays)

    def days_in(self, city: str) -> int:
        return next(s.days for s in self.stays if s.city == city)


def task_text(prompt: str) -> str:
    return after_last(prompt, "TASK:").removeprefix("TASK:")


def _flights(text: str, cities: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    names = "|".join(re.escape(c) for c in sorted(cities, key=len, reverse=True))
    for item in text.strip().rstrip(".").split(", "):
        one_way = re.fullmatch(rf"from ({names}) to ({names})", item.strip())
        both = re.fullmatch(rf"({names}) and ({names})", item.strip())
        if one_way:
            pairs.add((one_way.group(1), one_way.group(2)))
        elif both:
            pairs |= {(both.group(1), both.group(2)), (both.group(2), both.group(1))}
        else:
            raise UserError(f"unrecognised direct flight {item.strip()!r}: expected 'A and B' "
                            f"or 'from A to B' with A and B among {list(cities)}")
    return frozenset(pairs)


def parse_trip_prompt(prompt: str) -> TripProblem:
    """The constraints of a trip-planning prompt (its last task when few-shot).

    Raises:
        UserError: a sentence or flight the parser does not know, naming it.
    """
    text = task_text(prompt)
    trip = _TRIP.search(text)
    if trip is None or _FLIGHTS_HEAD not in text:
        raise UserError("not a NATURAL PLAN trip prompt: no sentence 'You plan to visit N "
                        "European cities for D days in total.' or no list of direct flights")
    body, flights = text[trip.end():].split(_FLIGHTS_HEAD, 1)
    flight_list, _, after = flights.strip().partition("\n")
    sentences = [s.strip() for s in re.split(r"(?<=\.)\s+", body + " " + after) if s.strip()]
    stays: list[Stay] = []
    pending: list[str] = []
    for s in sentences:
        m = next((m for p in _STAYS if (m := p.match(s))), None)
        if m:
            stays.append(Stay(city=m.group("city"), days=int(m.group("days")), sentence=s))
        elif not _BOILERPLATE.match(s):
            pending.append(s)
    cities = tuple(s.city for s in stays)
    events: list[Event] = []
    for s in pending:
        days = _EVENT_DAYS.search(s)
        named = [c for c in cities if re.search(rf"\b{re.escape(c)}\b", s)]
        if days is None or len(named) != 1:
            raise UserError(f"unrecognised sentence in a trip prompt: {s!r}")
        events.append(Event(city=named[0], first=int(days.group("a")),
                            last=int(days.group("b")), sentence=s))
    if len(stays) != int(trip.group("n")):
        raise UserError(f"the prompt announces {trip.group('n')} cities but gives stays for "
                        f"{len(stays)}: {list(cities)}")
    return TripProblem(total_days=int(trip.group("days")), stays=tuple(stays),
                       events=tuple(events), flights=_flights(flight_list, cities),
                       flights_text=flight_list.strip())


# --- the itinerary --------------------------------------------------------------------------

_PLACE = r"[A-Z][\w'-]*(?: [A-Z][\w'-]*)*"
_STAY_LINE = re.compile(rf"Day (?P<a>\d+)\s*-\s*(?P<b>\d+)\b.*?\b(?:Visit|visit|in|at) "
                        rf"(?P<city>{_PLACE})\b(?:.*?\bfor (?P<n>\d+) days?)?")
_FLY_LINE = re.compile(rf"Day (?P<d>\d+)\b.*?Fly from (?P<src>{_PLACE}) to (?P<dst>{_PLACE})")


@dataclass(kw_only=True, frozen=True)
class Visit:
    city: str
    first: int
    last: int
    stated_days: int


@dataclass(kw_only=True, frozen=True)
class Flight:
    day: int
    src: str
    dst: str


@dataclass(kw_only=True, frozen=True)
class Itinerary:
    visits: tuple[Visit, ...]
    flights: tuple[Flight, ...]
    unparsed: tuple[str, ...]
    """``**Day ...`` lines that are neither a stay nor a flight."""


@functools.lru_cache(maxsize=4096)
def parse_itinerary(text: str) -> Itinerary:
    """The stays (``Day a-b: ... Visit X for n days``, ``Day a-b: Arriving in X and ...``)
    and flights (``Day d: Fly from A to B``) of an answer, in order.
    """
    visits: list[Visit] = []
    flights: list[Flight] = []
    unparsed: list[str] = []
    for raw in text.splitlines():
        line = raw.replace("**", "").strip()
        if fly := _FLY_LINE.search(line):
            flights.append(Flight(day=int(fly.group("d")), src=fly.group("src"),
                                  dst=fly.group("dst")))
        elif stay := _STAY_LINE.search(line):
            first, last = int(stay.group("a")), int(stay.group("b"))
            stated = stay.group("n")  # "for n days" is optional; the span says it too
            visits.append(Visit(city=stay.group("city"), first=first, last=last,
                                stated_days=int(stated) if stated else last - first + 1))
        elif line.startswith("Day "):
            unparsed.append(line)
    return Itinerary(visits=tuple(visits), flights=tuple(flights), unparsed=tuple(unparsed))


def render_plan(problem: TripProblem, order: list[str]) -> str:
    """An answer in NATURAL PLAN's format visiting ``order`` (each city for its days)."""
    lines = [f"Here is the trip plan for visiting the {len(order)} European cities for "
             f"{problem.total_days} days:", ""]
    day = 1
    for i, city in enumerate(order):
        last = day + problem.days_in(city) - 1
        if i == 0:
            lines.append(f"**Day {day}-{last}:** Arriving in {city} and visit {city} for "
                         f"{problem.days_in(city)} days.")
        else:
            lines.append(f"**Day {day}:** Fly from {order[i - 1]} to {city}.")
            lines.append(f"**Day {day}-{last}:** Visit {city} for {problem.days_in(city)} "
                         f"days.")
        day = last
    return "\n".join(lines)


# --- constraints and their exact checkers ---------------------------------------------------

def _visits_or_violation(candidate: str) -> Itinerary | CheckOutcome:
    it = parse_itinerary(candidate)
    if not it.visits:
        return violated("the answer states no stay as 'Day a-b: Visit City for n days'")
    return it


@reading(_visits_or_violation)
def check_format(it: Itinerary, params: Mapping[str, Any]) -> CheckOutcome:
    if it.unparsed:
        return violated(f"lines that are neither a stay nor a flight: {list(it.unparsed)!r}")
    return satisfied(f"{len(it.visits)} stays and {len(it.flights)} flights")


@reading(_visits_or_violation)
def check_total_days(it: Itinerary, params: Mapping[str, Any]) -> CheckOutcome:
    first, last = it.visits[0].first, max(v.last for v in it.visits)
    if (first, last) != (1, params["days"]):
        return violated(f"the trip runs from day {first} to day {last}, not from day 1 to "
                        f"day {params['days']}")
    return satisfied(f"the trip runs from day 1 to day {params['days']}")


@reading(_visits_or_violation)
def check_stay(it: Itinerary, params: Mapping[str, Any]) -> CheckOutcome:
    city, days = params["city"], params["days"]
    mine = [v for v in it.visits if v.city == city]
    if not mine:
        return violated(f"{city} is not visited")
    if len(mine) > 1:
        return violated(f"{city} is visited {len(mine)} times")
    v = mine[0]
    if v.last - v.first + 1 != days or v.stated_days != days:
        return violated(f"{city} gets days {v.first}-{v.last} ({v.last - v.first + 1} days, "
                        f"stated {v.stated_days}), not {days}")
    return satisfied(f"{city}: days {v.first}-{v.last}")


@reading(_visits_or_violation)
def check_event(it: Itinerary, params: Mapping[str, Any]) -> CheckOutcome:
    city, first, last = params["city"], params["first"], params["last"]
    there = [v for v in it.visits if v.city == city]
    if not any(v.first <= first and last <= v.last for v in there):
        when = ", ".join(f"{v.first}-{v.last}" for v in there) or "never"
        return violated(f"the plan is in {city} on days {when}, not on all of days "
                        f"{first}-{last}")
    return satisfied(f"in {city} on days {first}-{last}")


@reading(_visits_or_violation)
def check_cities(it: Itinerary, params: Mapping[str, Any]) -> CheckOutcome:
    extra = sorted({v.city for v in it.visits} - set(params["cities"]))
    if extra:
        return violated(f"the plan visits cities that are not on the list: {extra}")
    return satisfied("only listed cities are visited")


@reading(_visits_or_violation)
def check_flights(it: Itinerary, params: Mapping[str, Any]) -> CheckOutcome:
    allowed = {(a, b) for a, b in params["pairs"]}
    legs = [(f.src, f.dst) for f in it.flights]
    legs += [(a.city, b.city) for a, b in zip(it.visits, it.visits[1:], strict=False)
             if (a.city, b.city) not in legs]
    bad = [f"{a} to {b}" for a, b in legs if (a, b) not in allowed]
    if bad:
        return violated(f"no direct flight from {', '.join(bad)}")
    return satisfied(f"all {len(legs)} flights are direct")


@reading(_visits_or_violation)
def check_continuity(it: Itinerary, params: Mapping[str, Any]) -> CheckOutcome:
    problems: list[str] = []
    if len(it.flights) != len(it.visits) - 1:
        problems.append(f"{len(it.visits)} stays need {len(it.visits) - 1} flights, "
                        f"the plan has {len(it.flights)}")
    for a, b in zip(it.visits, it.visits[1:], strict=False):
        if b.first != a.last:
            problems.append(f"{a.city} ends on day {a.last} but {b.city} starts on day "
                            f"{b.first} (the flight day counts for both)")
    for f, (a, b) in zip(it.flights, zip(it.visits, it.visits[1:], strict=False), strict=False):
        if (f.src, f.dst, f.day) != (a.city, b.city, a.last):
            problems.append(f"the flight on day {f.day} from {f.src} to {f.dst} does not "
                            f"connect {a.city} (to day {a.last}) and {b.city}")
    if problems:
        return violated("; ".join(problems))
    return satisfied("every stay begins on the day the previous one ends, with its flight")


CHECKERS = {"format": check_format, "total_days": check_total_days, "stay": check_stay,
            "event": check_event, "cities": check_cities, "flights": check_flights,
            "continuity": check_continuity}
"""Registered under ``natural_plan.trip.<key>`` (entry point ``forethought.checkers``)."""


def _c(cid: str, text: str, checker: str, **params: Any) -> Constraint:
    return constraint(FAMILY, cid, text, checker, **params)


def trip_constraints(problem: TripProblem, *, instance_id: str = "") -> ConstraintSet:
    """The constraint set of a problem, every constraint hard and exactly checked."""
    out = [_c("format", "Write the plan as 'Day a-b: Visit City for n days' and "
                        "'Day d: Fly from A to B' lines", "format"),
           _c("total_days", f"The trip lasts {problem.total_days} days", "total_days",
              days=problem.total_days),
           _c("cities", f"Visit only these cities: {', '.join(problem.cities)}", "cities",
              cities=list(problem.cities)),
           _c("flights", "Only take direct flights: " + problem.flights_text, "flights",
              pairs=sorted([a, b] for a, b in problem.flights)),
           _c("continuity", "Each stay begins on the day of the flight that ends the "
                            "previous one", "continuity")]
    out += [_c(f"stay.{key(s.city)}", s.sentence, "stay", city=s.city, days=s.days)
            for s in problem.stays]
    out += [_c(f"event.{key(e.city)}.{e.first}-{e.last}", e.sentence, "event", city=e.city,
               first=e.first, last=e.last) for e in problem.events]
    return ConstraintSet(instance_id=instance_id, family=FAMILY, source="parser",
                         constraints=tuple(out))
