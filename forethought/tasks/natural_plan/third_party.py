"""The parser against the third-party ``*_constraints.json`` files (written by the
calendar-planning repository's authors, not by NATURAL PLAN): every place where they differ,
with the prompt sentence that settles it.

Each :class:`Difference` quotes ``evidence``, a passage of the prompt, and either
``wording``, the parser's value as the prompt words it, which occurs in ``evidence``, or
``absent``, the ways the prompt would word the third party's value, none of which occurs in
``evidence``. That, with ``evidence`` occurring in the prompt, is the proof that the parser
read the prompt right (tests check it for every difference). Calendar constraints are
compared by what they allow, minute by minute and day by day (their ranges are in decimal
hours, ours in minutes), so only differences of meaning are reported.

Run ``python -m forethought.tasks.natural_plan.third_party [calendar|meeting|trip]`` for the
list and the counts.
"""

from __future__ import annotations

import collections
import itertools
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

from forethought.exceptions import UserError
from forethought.tasks.natural_plan._clock import format_12h, format_24h
from forethought.tasks.natural_plan.calendars import WEEK, CalendarProblem, parse_calendar_prompt
from forethought.tasks.natural_plan.dataset import (
    DOMAINS,
    Domain,
    Instance,
    data_dir,
    load_instances,
)
from forethought.tasks.natural_plan.meetings import parse_meeting_prompt
from forethought.tasks.natural_plan.trips import parse_trip_prompt

FILES: dict[Domain, str] = {"calendar": "calendar_scheduling_100_constraints.json",
                            "meeting": "meeting_planning_100_constraints.json",
                            "trip": "trip_planning_100_constraints.json"}


@dataclass(kw_only=True, frozen=True)
class Difference:
    domain: Domain
    instance_id: str
    field: str
    """What differs: ``blocked time``, ``earliest``, ``window``, ``flight``..."""
    ours: str
    theirs: str
    evidence: str
    """The prompt passage that decides it (a verbatim substring of the prompt)."""
    wording: str
    """The parser's value as the prompt words it (a substring of ``evidence``), or ``""``
    when the parser's side is an absence (see ``absent``)."""
    absent: tuple[str, ...] = ()
    """Wordings of the third party's value, none of which occurs in ``evidence``: what the
    prompt would have to say for them to be right."""

    def __str__(self) -> str:
        return (f"{self.instance_id} [{self.field}] ours: {self.ours} | theirs: {self.theirs}\n"
                f"    prompt: {self.evidence!r}")


def load_third_party(domain: Domain, path: str | Path | None = None) -> dict[str, Any]:
    file = Path(path) if path is not None else data_dir() / FILES[domain]
    try:
        return cast(dict[str, Any], json.loads(file.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read the third-party constraints {str(file)!r}: {exc}") from None


# --- calendar -------------------------------------------------------------------------------

Span = tuple[Fraction, Fraction]


def _ours_blocked(p: CalendarProblem, day: str) -> list[tuple[Span, str, str]]:
    """(span in minutes, evidence, wording) for everything that rules out ``day`` times."""
    if day not in p.days:
        return [((Fraction(0), Fraction(1440)), "", "")]
    header = f"between the work hours of {format_24h(p.work_start)} to {format_24h(p.work_end)}"
    out = [((Fraction(0), Fraction(p.work_start)), header, header),
           ((Fraction(p.work_end), Fraction(1440)), header, header)]
    out += [((Fraction(b.start), Fraction(b.end)), b.sentence,
             f"{format_24h(b.start)} to {format_24h(b.end)}") for b in p.busy if b.day == day]
    for w in p.wishes:
        if w.day == day:
            span = {"all": (0, 1440), "before": (0, w.time), "after": (w.time, 1440)}[w.side]
            out.append(((Fraction(span[0] or 0), Fraction(span[1] or 0)), w.quote,
                        w.sentence.split(" on ", 1)[1]))
    return out


def _segments(a: list[Span], b: list[Span]) -> list[tuple[Span, bool, bool]]:
    """Maximal spans where membership in the unions of ``a`` and ``b`` differs."""
    points = sorted({x for s in a + b for x in s} | {Fraction(0), Fraction(1440)})
    out: list[tuple[Span, bool, bool]] = []
    for lo, hi in itertools.pairwise(points):
        mid = (lo + hi) / 2
        ina, inb = any(s <= mid < e for s, e in a), any(s <= mid < e for s, e in b)
        if ina != inb:
            if out and out[-1][0][1] == lo and out[-1][1:] == (ina, inb):
                out[-1] = ((out[-1][0][0], hi), ina, inb)
            else:
                out.append(((lo, hi), ina, inb))
    return out


def _clock(m: Fraction) -> str:
    whole = int(m)
    return format_24h(whole) + (f"+{float(m - whole):g}min" if m != whole else "")


def compare_calendar(instance: Instance, record: Mapping[str, Any]) -> list[Difference]:
    p = parse_calendar_prompt(instance.prompt_0shot)
    theirs_c = record["constraints"]
    prompt = instance.prompt_0shot
    diffs: list[Difference] = []

    def diff(field: str, ours: str, theirs: str, evidence: str, wording: str) -> None:
        diffs.append(Difference(domain="calendar", instance_id=instance.id, field=field,
                                ours=ours, theirs=theirs, evidence=evidence, wording=wording))

    if round(theirs_c["meeting_duration"] * 60) != p.length:
        diff("meeting length", f"{p.length} min", f"{theirs_c['meeting_duration']} h",
             f"for {p.length_phrase} between", p.length_phrase)
    ranges = theirs_c["disallowed_ranges"]
    their_days = {r["day"] for r in ranges}
    for day in [d for d in WEEK if d in p.days or d in their_days]:
        if day not in their_days:
            diff("meeting day", f"{day} allowed", f"{day} absent", p.days[-1], day)
            continue
        ours = _ours_blocked(p, day)
        mine = [s for s, _, _ in ours]
        theirs = [(Fraction(r["start"]).limit_denominator(100) * 60,
                   Fraction(r["end"]).limit_denominator(100) * 60)
                  for r in ranges if r["day"] == day]
        for (lo, hi), ours_blocks, _ in _segments(mine, theirs):
            span = f"{day} {_clock(lo)}-{_clock(hi)}"
            if ours_blocks:
                evidence, wording = next((e, w) for s, e, w in ours if s[0] <= lo and hi <= s[1])
                diff("blocked time", f"{span} blocked", f"{span} free", evidence, wording)
            else:  # the data has none: no prompt passage is quoted as proof
                said = [b.sentence for b in p.busy if b.day == day]
                diff("blocked time", f"{span} free", f"{span} blocked",
                     said[0] if said else day, "")
    if p.earliest and not any(q.get("type") == "earliest_availability"
                              for q in theirs_c.get("preferences", [])):
        diff("earliest", "earliest availability asked", "not recorded", p.earliest_sentence,
             "availability")
    for d in diffs:
        if d.evidence not in prompt:  # a bug here must not pass as evidence
            raise AssertionError(f"evidence {d.evidence!r} is not in the prompt of {d.instance_id}")
    return diffs


# --- meeting --------------------------------------------------------------------------------

def compare_meeting(instance: Instance, record: Mapping[str, Any]) -> list[Difference]:
    p = parse_meeting_prompt(instance.prompt_0shot)
    c = record["constraints"]
    diffs: list[Difference] = []

    def diff(field: str, ours: str, theirs: str, evidence: str, wording: str) -> None:
        diffs.append(Difference(domain="meeting", instance_id=instance.id, field=field,
                                ours=ours, theirs=theirs, evidence=evidence, wording=wording))

    start = (c["start"]["location"], c["start"]["time_of_day"])
    if start != (p.start_location, format_12h(p.start_time)):
        diff("start", f"{p.start_location} at {format_12h(p.start_time)}", " at ".join(start),
             p.start_sentence, p.start_location)
    theirs_people = {q["name"]: q for q in c["people_to_meet"]}
    for f in p.friends:
        q = theirs_people.get(f.name)
        window = f"from {format_12h(f.start)} to {format_12h(f.end)}"
        if q is None:
            diff("friend", f.name, "absent", f.window_sentence, f.name)
            continue
        if (q["location"], q["time_of_day"]["from"], q["time_of_day"]["to"]) != (
                f.location, format_12h(f.start), format_12h(f.end)):
            diff("window", f"{f.location} {window}",
                 f"{q['location']} from {q['time_of_day']['from']} to {q['time_of_day']['to']}",
                 f.window_sentence, window)
        if q["min_meeting_duration"] != f.minimum:
            diff("minimum", f"{f.minimum} min", f"{q['min_meeting_duration']} min",
                 f.minimum_sentence, f"{f.minimum} minutes")
    for name in set(theirs_people) - {f.name for f in p.friends}:
        diff("friend", "absent", name, "CONSTRAINTS:", "CONSTRAINTS:")
    theirs_travel = {(t["place"]["from"], t["place"]["to"]): t["walking_time"]
                     for t in c["travel_distances"]}
    for a, row in p.travel.items():
        for b, minutes in row.items():
            if theirs_travel.get((a, b)) != minutes:
                line = f"{a} to {b}: {minutes}."
                diff("travel", f"{a} to {b}: {minutes}", str(theirs_travel.get((a, b))),
                     line, line)
    return diffs


# --- trip -----------------------------------------------------------------------------------

def compare_trip(instance: Instance, record: Mapping[str, Any]) -> list[Difference]:
    p = parse_trip_prompt(instance.prompt_0shot)
    c = record["constraints"]
    diffs: list[Difference] = []

    def diff(field: str, ours: str, theirs: str, evidence: str, wording: str) -> None:
        diffs.append(Difference(domain="trip", instance_id=instance.id, field=field,
                                ours=ours, theirs=theirs, evidence=evidence, wording=wording))

    if c["trip_length"] != p.total_days:
        diff("trip length", str(p.total_days), str(c["trip_length"]),
             f"for {p.total_days} days in total", str(p.total_days))
    theirs_stays = {s["city"]: s["days"] for s in c["city_length"]}
    for s in p.stays:
        if theirs_stays.get(s.city) != s.days:
            diff("stay", f"{s.city} {s.days} days", str(theirs_stays.get(s.city)), s.sentence,
                 f"{s.days} days")
    theirs_events = collections.Counter((e["city"], e["start"], e["end"])
                                        for e in c["city_day_ranges"])
    ours_events = collections.Counter((e.city, e.first, e.last) for e in p.events)
    for e in p.events:
        if theirs_events[(e.city, e.first, e.last)] < ours_events[(e.city, e.first, e.last)]:
            diff("event", f"{e.city} days {e.first}-{e.last}", "absent", e.sentence,
                 f"day {e.first}")
    for (city, a, b), n in (theirs_events - ours_events).items():
        diff("event", "absent", f"{city} days {a}-{b} (x{n})", f"stay in {city}", city)
    ours_edges = {frozenset(pair) for pair in p.flights}
    theirs_edges = {frozenset((f["from"], f["to"])) for f in c["direct_flights"]}
    for edge in sorted(ours_edges - theirs_edges, key=sorted):
        a, b = sorted(edge)
        wording = _flight_wording(p.flights_text, a, b)
        diff("flight", wording, "absent", wording, wording)
    for edge in sorted(theirs_edges - ours_edges, key=sorted):
        a, b = sorted(edge)
        diffs.append(Difference(domain="trip", instance_id=instance.id, field="flight",
                                ours="absent", theirs=f"{a} and {b}", evidence=p.flights_text,
                                wording="", absent=_wordings(a, b)))
    return diffs


def _wordings(a: str, b: str) -> tuple[str, ...]:
    return (f"{a} and {b}", f"{b} and {a}", f"from {a} to {b}", f"from {b} to {a}")


def _flight_wording(text: str, a: str, b: str) -> str:
    """How the prompt lists the flight between ``a`` and ``b``."""
    for wording in _wordings(a, b):
        if wording in text:
            return wording
    raise AssertionError(f"no flight between {a} and {b} in {text!r}")


COMPARE = {"calendar": compare_calendar, "meeting": compare_meeting, "trip": compare_trip}


def differences(domain: Domain, instances: Iterable[Instance] | None = None,
                third_party: Mapping[str, Any] | None = None) -> list[Difference]:
    """Every difference between the parser and the third-party file of ``domain``."""
    records = third_party if third_party is not None else load_third_party(domain)
    out: list[Difference] = []
    for inst in instances if instances is not None else load_instances(domain):
        if inst.id not in records:
            raise UserError(f"the third-party file has no instance {inst.id!r}")
        out += COMPARE[domain](inst, records[inst.id])
    return out


def main(argv: list[str]) -> int:
    unknown_names = sorted(set(argv) - set(DOMAINS))
    if unknown_names:
        print(f"unknown domain(s) {unknown_names}; use any of {list(DOMAINS)}", file=sys.stderr)
        return 2
    domains: list[Domain] = [d for d in DOMAINS if not argv or str(d) in argv]
    for domain in domains:
        diffs = differences(domain)
        counts = collections.Counter(d.field for d in diffs)
        instances = len({d.instance_id for d in diffs})
        passages = len({(d.instance_id, d.field, d.evidence) for d in diffs})
        print(f"== {domain}: {len(diffs)} differences ({passages} prompt passages) in "
              f"{instances} instances, by field {dict(sorted(counts.items()))}")
        for d in diffs:
            print(d)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
