r"""NATURAL PLAN's metrics, as plain ``(prediction_text, instance) -> float`` functions.

Exact match follows the benchmark's own evaluation scripts (google-deepmind/natural-plan,
``evaluate_*.py``) rule for rule, quirks included, so figures compare with published ones:

- calendar: the first ``Word, H:MM - H:MM`` in the answer and in the golden plan must agree
  on the day, start and end. Hours are read as the upstream script reads them: minutes
  ``30`` are half an hour and *any other minutes count as zero* (``9:15`` reads as ``9:00``).
- meeting: the answer (after ``SOLUTION:``, split at periods) is replayed from the start
  place and time: travel adds the listed minutes, "wait until" must move the clock forward,
  "meet X" starts now, lasts X's minimum, must happen at X's place inside X's window and only
  once; the first step that fails ends the replay. The score is the number of meetings kept;
  the answer matches when it keeps as many as the golden plan. (Upstream stops at a step that
  raises ``ValueError``; a step naming an unknown person or place would crash its script,
  and stops the replay here.)
- trip: ``Day a-b`` lines and ``Day d ... from A to B`` lines (single-word cities, as the
  upstream pattern ``\w+``) give the visited cities and their stays (flight day to flight
  day, inclusive), compared in order with the instance's ``cities`` and ``durations``
  fields; parsing stops at the first stay that ends on the trip's last day.

Constraint satisfaction is this pack's own: the weighted share of the parser's hard
constraints that the answer satisfies, by the exact checkers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from forethought.exceptions import UserError
from forethought.tasks.natural_plan.dataset import Instance
from forethought.tasks.natural_plan.plans import instance_constraints, verify_plan

Metric = Callable[[str, Instance], float]

# --- calendar -------------------------------------------------------------------------------

_CAL = re.compile(r"[A-Za-z]+, [0-9]+:[0-9]+ - [0-9]+:[0-9]+")


def _hours(text: str) -> float:
    hour, minute = text.split(":")
    return float(hour) + (0.5 if minute == "30" else 0.0)


def _calendar_slot(text: str) -> tuple[str, float, float]:
    found = _CAL.findall(text)
    if not found:
        return "", -1.0, -1.0
    day, span = found[0].split(",")[0].strip(), found[0].split(",")[1].strip()
    start, end = span.split("-")[0].strip(), span.split("-")[1].strip()
    return day, _hours(start), _hours(end)


def calendar_exact_match(prediction: str, instance: Instance) -> float:
    return float(_calendar_slot(prediction) == _calendar_slot(instance.golden_plan))


# --- meeting --------------------------------------------------------------------------------

def _clock(text: str) -> datetime:
    return datetime.strptime(text, "%I:%M%p")


def meeting_steps(text: str) -> list[str]:
    """The upstream split: after ``SOLUTION:``, at every period."""
    if "SOLUTION:" in text:
        text = text[text.find("SOLUTION:") + len("SOLUTION:"):].strip()
    return [s.strip() for s in text.split(".") if s.strip()]


def meeting_score(steps: Sequence[str], record: Mapping[str, Any]) -> int:
    """How many meetings a plan keeps, replayed as the upstream validator does."""
    start_place, start_time = record["constraints"][0]
    people: dict[str, dict[str, Any]] = {}
    for name, place, window, minutes in record["constraints"][1:]:
        people[name] = {"place": place, "from": _clock(window.split("to")[0].strip()),
                        "to": _clock(window.split("to")[1].strip()), "minutes": minutes}
    travel = cast(Mapping[str, Mapping[str, int]], record["dist_matrix"])
    met: set[str] = set()
    score, place, now = 0, start_place, _clock(start_time)
    for step in steps:
        try:
            if step.startswith("You start"):
                continue
            if step.startswith("You travel"):
                destination = step.split("travel to ")[1].split(" in")[0].strip()
                now += timedelta(minutes=travel[place][destination])
                place = destination
            elif step.startswith("You wait"):
                until = _clock(step.split("wait until ")[1].split(".")[0].strip())
                if until <= now:
                    break
                now = until
            elif step.startswith("You meet"):
                person = step.split("meet ")[1].split(" for")[0].strip()
                if person in met:
                    break
                met.add(person)
                who = people[person]
                end = now + timedelta(minutes=who["minutes"])
                if not (place == who["place"] and now >= who["from"] and end <= who["to"]):
                    break
                score += 1
                now = end
            else:
                break
        except (ValueError, KeyError, IndexError):
            break
    return score


def meeting_exact_match(prediction: str, instance: Instance) -> float:
    golden = instance.record["golden_plan"]
    golden_steps = (list(cast(list[str], golden)) if isinstance(golden, list)
                    else meeting_steps(str(golden)))
    return float(meeting_score(meeting_steps(prediction), instance.record)
                 == meeting_score(golden_steps, instance.record))


# --- trip -----------------------------------------------------------------------------------

_VISIT = re.compile(r"\d+-\d+")
_FLIGHT = re.compile(r".*Day (\d+).*from (\w+) to (\w+)")
_TOTAL = re.compile(r"European cities for (\d+) days")


def trip_stays(text: str) -> list[tuple[str, int]]:
    """(city, days) in visiting order, parsed as the upstream script does."""
    spans: list[str] = []
    flights: list[tuple[str, str, str]] = []
    total: int | None = None
    for piece in text.split("\n"):
        if days := _TOTAL.findall(piece):
            total = int(days[0])
        if visit := _VISIT.findall(piece):
            spans.append(visit[0])
            if int(visit[0].split("-")[1]) == total:
                break
        if flight := _FLIGHT.findall(piece):
            flights.append(flight[0])
    cities: list[str] = []
    for _, src, dst in flights:
        cities += [src, dst] if not cities else [dst]
    if not spans or not flights:
        return []
    days = [1, *(int(d) for d, _, _ in flights), int(spans[-1].split("-")[1])]
    return [(city, days[i + 1] - days[i] + 1) for i, city in enumerate(cities)]


def trip_exact_match(prediction: str, instance: Instance) -> float:
    cities = [c for c in str(instance.record["cities"]).split("**") if c]
    days = [int(d) for d in str(instance.record["durations"]).split("**") if d]
    plan = trip_stays(prediction)
    matched = 0
    for i in range(min(len(cities), len(plan))):
        if (cities[i], days[i]) != plan[i]:
            break
        matched += 1
    return float(matched == len(cities))


# --- all domains ----------------------------------------------------------------------------

EXACT_MATCH: dict[str, Metric] = {"calendar": calendar_exact_match,
                                  "meeting": meeting_exact_match, "trip": trip_exact_match}


def exact_match(prediction: str, instance: Instance) -> float:
    """NATURAL PLAN's exact match for the instance's domain (1.0 or 0.0)."""
    try:
        metric = EXACT_MATCH[instance.domain]
    except KeyError:
        raise UserError(f"unknown NATURAL PLAN domain {instance.domain!r}") from None
    return metric(prediction, instance)


def constraint_satisfaction(prediction: str, instance: Instance) -> float:
    """The weighted share of the instance's hard constraints that ``prediction`` satisfies
    (every constraint of this pack's parser is hard and exactly checked).
    """
    return verify_plan(instance_constraints(instance), prediction).hard_satisfaction


METRICS: dict[str, Metric] = {"exact_match": exact_match,
                              "constraint_satisfaction": constraint_satisfaction}
"""By name, ready for a metric registry."""
