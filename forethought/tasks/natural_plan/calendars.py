"""NATURAL PLAN calendar scheduling: the prompt's constraints, the plan's slot, exact checks.

A prompt asks for one meeting of a fixed length, inside work hours, on one of a few weekdays,
that avoids every participant's busy times and their stated wishes ("X would rather not meet
on Monday after 14:00", "X can not meet on Tuesday"), and sometimes at the group's earliest
availability. The answer is one line: ``Here is the proposed time: Monday, 13:30 - 14:30``.

Every wish is a *hard* constraint: all 100 golden plans honour every wish (56 instances have
at least one), so the data treats "would rather not" exactly like "can not" (see
docs/natural_plan.md for the evidence).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from forethought.agents.constraints import (
    CheckOutcome,
    Constraint,
    ConstraintSet,
    satisfied,
    violated,
)
from forethought.exceptions import UserError
from forethought.tasks.natural_plan._build import after_last, constraint, key, reading
from forethought.tasks.natural_plan._clock import format_24h, parse_24h

FAMILY = "natural_plan.calendar"
WEEK = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY = "|".join(WEEK)
_T = r"\d{1,2}:\d{2}"
_HEADER = re.compile(rf"You need to schedule a meeting for (?P<people>.+?) for (?P<length>.+?) "
                     rf"between the work hours of (?P<ws>{_T}) to (?P<we>{_T}) on "
                     rf"(?P<days>(?:either )?(?:{_DAY})(?:(?:, | or )(?:{_DAY}))*)\.")
_BUSY = re.compile(rf"^\s*(?:has blocked their calendar|is busy|has meetings) on "
                   rf"(?P<spec>(?:{_DAY}) during .+?);?\s*$")
_FREE = re.compile(r"^\s*(?:'s calendar is wide open the entire|has no meetings the whole|"
                   r"is free the entire) (?:day|week)\.?\s*$")
_RANGE = re.compile(rf"(?:(?P<day>{_DAY}) during )?(?P<a>{_T}) to (?P<b>{_T})")
_WISH = re.compile(r"^(?P<who>[A-Z][\w'-]*) (?P<verb>would like to avoid more meetings|"
                   r"can ?not meet|do not want to meet|does not want to meet|"
                   r"would rather not meet) on (?P<rest>.+)$")
_WISH_DAY = re.compile(rf"^(?P<day>{_DAY})(?: (?P<side>before|after) (?P<t>{_T}))?$")
_EARLIEST = re.compile(r"\bearli?e?st availability\b")
_IGNORED = re.compile(r"^(?:Here are the existing schedules for everyone during the days?:|"
                      r"Find a time that works for everyone's schedule and constraints\.?|"
                      r"SOLUTION:.*)$")
_LENGTHS = {"half an hour": 30, "thirty minutes": 30, "one hour": 60, "an hour": 60,
            "1 hour": 60, "one and a half hours": 90, "an hour and a half": 90,
            "two hours": 120, "2 hours": 120}
SLOT = re.compile(rf"\b(?P<day>{_DAY}),?\s+(?P<a>{_T})\s*(?:-|–|to)\s*(?P<b>{_T})")

Side = Literal["all", "before", "after"]


@dataclass(kw_only=True, frozen=True)
class Busy:
    participant: str
    day: str
    start: int
    end: int
    sentence: str
    """The prompt sentence that states it."""


@dataclass(kw_only=True, frozen=True)
class Wish:
    """A participant's constraint on a day: not at all (``all``), not before, not after."""

    participant: str
    day: str
    side: Side
    time: int | None
    sentence: str
    """The clause with its subject (``Harold would like to avoid more meetings on Tuesday
    before 14:30``)."""
    quote: str = ""
    """The prompt's words, verbatim, from the subject to this clause (``Harold would like to
    avoid more meetings on Monday. Tuesday before 14:30``)."""


@dataclass(kw_only=True, frozen=True)
class CalendarProblem:
    participants: tuple[str, ...]
    length: int
    """Meeting length in minutes."""
    length_phrase: str
    work_start: int
    work_end: int
    days: tuple[str, ...]
    busy: tuple[Busy, ...]
    wishes: tuple[Wish, ...]
    earliest: bool
    """The prompt asks for the group's earliest availability."""
    earliest_sentence: str = ""

    def fits(self, day: str, start: int) -> bool:
        """Whether a meeting at ``day``, ``start`` satisfies every constraint but earliest."""
        end = start + self.length
        if day not in self.days or start < self.work_start or end > self.work_end:
            return False
        if any(b.day == day and start < b.end and b.start < end for b in self.busy):
            return False
        return all(not _breaks(w, day, start, end) for w in self.wishes)

    def window_starts(self) -> list[tuple[str, int]]:
        """Every start at which a run of fitting starts begins, in time order (days in the
        order of the week). A run's start is the work start, the end of a busy time or the
        time of a "not before" wish, so only those points are tried.
        """
        out: list[tuple[str, int]] = []
        for day in sorted(self.days, key=WEEK.index):
            points = {self.work_start, *(b.end for b in self.busy if b.day == day),
                      *(w.time for w in self.wishes
                        if w.day == day and w.side == "before" and w.time is not None)}
            out += [(day, p) for p in sorted(points)
                    if self.fits(day, p) and not self.fits(day, p - 1)]
        return out


def _breaks(w: Wish, day: str, start: int, end: int) -> bool:
    if w.day != day:
        return False
    if w.side == "all":
        return True
    assert w.time is not None
    return start < w.time if w.side == "before" else end > w.time


def task_text(prompt: str) -> str:
    """The last task of a (few-shot) prompt, without the examples before it."""
    return after_last(prompt, "TASK:").removeprefix("TASK:")


def _names(text: str) -> tuple[str, ...]:
    parts = re.split(r", and |, | and ", text.strip())
    return tuple(p.strip() for p in parts if p.strip())


def _length(phrase: str) -> int:
    phrase = phrase.strip()
    if phrase in _LENGTHS:
        return _LENGTHS[phrase]
    m = re.fullmatch(r"(\d+) minutes", phrase)
    if m:
        return int(m.group(1))
    raise UserError(f"unknown meeting length {phrase!r}; known: {sorted(_LENGTHS)} or "
                    f"'<n> minutes'")


def _busy_line(who: str, line: str, spec: str) -> list[Busy]:
    out: list[Busy] = []
    day: str | None = None
    for m in _RANGE.finditer(spec):
        day = m.group("day") or day
        if day is None:
            raise UserError(f"busy time without a day in {line.strip()!r}")
        start, end = parse_24h(m.group("a")), parse_24h(m.group("b"))
        if end <= start:
            raise UserError(f"busy time {m.group(0)!r} ends before it starts in "
                            f"{line.strip()!r}")
        out.append(Busy(participant=who, day=day, start=start, end=end,
                        sentence=line.strip()))
    return out


def _wishes(sentences: list[str]) -> list[Wish]:
    """Wish clauses; ``Monday. Tuesday before 14:30.`` continues the previous subject."""
    out: list[Wish] = []
    subject: tuple[str, str] | None = None
    first = 0
    for i, sentence in enumerate(sentences):
        m = _WISH.match(sentence)
        rest = sentence
        if m is not None:
            subject = (m.group("who"), m.group("verb"))
            rest = m.group("rest")
            first = i
        d = _WISH_DAY.match(rest)
        if d is None or subject is None:
            raise UserError(f"unrecognised sentence in a calendar prompt: {sentence!r}")
        side: Side = "all" if d.group("side") is None else d.group("side")  # type: ignore[assignment]
        out.append(Wish(participant=subject[0], day=d.group("day"), side=side,
                        time=None if d.group("t") is None else parse_24h(d.group("t")),
                        sentence=f"{subject[0]} {subject[1]} on {rest}",
                        quote=". ".join(sentences[first:i + 1])))
    return out


def parse_calendar_prompt(prompt: str) -> CalendarProblem:
    """The constraints of a calendar-scheduling prompt (its last task when few-shot).

    Raises:
        UserError: a sentence the parser does not know, naming it (so no constraint is
            silently dropped).
    """
    text = task_text(prompt)
    head = _HEADER.search(text)
    if head is None:
        raise UserError("not a NATURAL PLAN calendar prompt: no sentence 'You need to schedule "
                        "a meeting for ... between the work hours of ... on ...'")
    people = _names(head.group("people"))
    days = tuple(re.findall(_DAY, head.group("days")))
    busy: list[Busy] = []
    rest: list[str] = []
    for line in text[head.end():].splitlines():
        if not line.strip():
            continue
        who = next((p for p in sorted(people, key=len, reverse=True) if line.startswith(p)),
                   None)
        tail = line[len(who):] if who else ""
        busy_m = _BUSY.match(tail) if who else None
        if who and busy_m:
            busy += _busy_line(who, line, busy_m.group("spec"))
        elif not (who and _FREE.match(tail)):
            rest += [s.strip() for s in re.split(r"(?<=\.)\s+", line.strip()) if s.strip()]
    earliest = [s for s in rest if _EARLIEST.search(s)]
    clauses = [s.rstrip(".").strip() for s in rest
               if not _IGNORED.match(s) and not _EARLIEST.search(s)]
    return CalendarProblem(
        participants=people, length=_length(head.group("length")),
        length_phrase=head.group("length"), work_start=parse_24h(head.group("ws")),
        work_end=parse_24h(head.group("we")), days=days, busy=tuple(busy),
        wishes=tuple(_wishes(clauses)), earliest=bool(earliest),
        earliest_sentence=earliest[0] if earliest else "")


# --- the plan -------------------------------------------------------------------------------

@dataclass(kw_only=True, frozen=True)
class Slot:
    day: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.day}, {format_24h(self.start)} - {format_24h(self.end)}"


@functools.lru_cache(maxsize=4096)
def parse_slot(text: str) -> Slot | None:
    """The first ``Day, H:MM - H:MM`` of an answer (the first, as NATURAL PLAN's own
    evaluation takes it), or ``None``: also when its times are not clock times (a model once
    proposed ``Monday, 26:30 - 27:30``), since an answer is a model's text to judge, not an
    input to refuse.
    """
    slot = read_slot(text)
    return slot if isinstance(slot, Slot) else None


def read_slot(text: str) -> Slot | str:
    """Like :func:`parse_slot`, but says why there is no slot."""
    m = SLOT.search(text)
    if m is None:
        return _NO_SLOT
    try:
        return Slot(day=m.group("day"), start=parse_24h(m.group("a")),
                    end=parse_24h(m.group("b")))
    except UserError as exc:
        return f"the answer's meeting time is not valid: {exc}"


def render_plan(slot: Slot) -> str:
    """An answer in NATURAL PLAN's format."""
    return f"Here is the proposed time: {slot}"


# --- constraints and their exact checkers ---------------------------------------------------

_NO_SLOT = "the answer states no meeting time as 'Day, H:MM - H:MM'"


def _slot_or_violation(candidate: str) -> Slot | CheckOutcome:
    slot = read_slot(candidate)
    return violated(slot) if isinstance(slot, str) else slot


def check_format(candidate: str, params: Mapping[str, Any]) -> CheckOutcome:
    slot = read_slot(candidate)
    return violated(slot) if isinstance(slot, str) else \
        satisfied(f"the answer proposes {slot}")


@reading(_slot_or_violation)
def check_length(slot: Slot, params: Mapping[str, Any]) -> CheckOutcome:
    if slot.end - slot.start != params["minutes"]:
        return violated(f"{slot} lasts {slot.end - slot.start} minutes, not "
                        f"{params['minutes']}")
    return satisfied(f"{slot} lasts {params['minutes']} minutes")


@reading(_slot_or_violation)
def check_work_hours(slot: Slot, params: Mapping[str, Any]) -> CheckOutcome:
    hours = f"{format_24h(params['start'])} to {format_24h(params['end'])}"
    if slot.start < params["start"] or slot.end > params["end"] or slot.end <= slot.start:
        return violated(f"{slot} is not within the work hours of {hours}")
    return satisfied(f"{slot} is within {hours}")


@reading(_slot_or_violation)
def check_days(slot: Slot, params: Mapping[str, Any]) -> CheckOutcome:
    if slot.day not in params["days"]:
        return violated(f"{slot.day} is not one of {', '.join(params['days'])}")
    return satisfied(f"{slot.day} is allowed")


@reading(_slot_or_violation)
def check_busy(slot: Slot, params: Mapping[str, Any]) -> CheckOutcome:
    clashes = [f"{format_24h(a)} to {format_24h(b)}" for day, a, b in params["busy"]
               if day == slot.day and slot.start < b and a < slot.end]
    if clashes:
        return violated(f"{params['participant']} is busy on {slot.day} during "
                        f"{', '.join(clashes)}, which overlaps {slot}")
    return satisfied(f"{params['participant']} is free at {slot}")


@reading(_slot_or_violation)
def check_wish(slot: Slot, params: Mapping[str, Any]) -> CheckOutcome:
    wish = Wish(participant=params["participant"], day=params["day"], side=params["side"],
                time=params.get("time"), sentence="")
    if _breaks(wish, slot.day, slot.start, slot.end):
        when = "" if wish.time is None else f" {wish.side} {format_24h(wish.time)}"
        return violated(f"{slot} is on {wish.day}{when}, which {wish.participant} wants to "
                        f"avoid")
    return satisfied(f"{slot} respects {wish.participant}'s wish")


@reading(_slot_or_violation)
def check_earliest(slot: Slot, params: Mapping[str, Any]) -> CheckOutcome:
    best = f"{params['day']}, {format_24h(params['start'])}"
    if (slot.day, slot.start) != (params["day"], params["start"]):
        return violated(f"{slot} is not the earliest time that works for everyone ({best})")
    return satisfied(f"{slot} is the earliest time that works for everyone")


CHECKERS = {"format": check_format, "length": check_length, "work_hours": check_work_hours,
            "days": check_days, "busy": check_busy, "wish": check_wish,
            "earliest": check_earliest}
"""Registered under ``natural_plan.calendar.<key>`` (entry point ``forethought.checkers``)."""


def _c(cid: str, text: str, checker: str, **params: Any) -> Constraint:
    return constraint(FAMILY, cid, text, checker, **params)


def calendar_constraints(problem: CalendarProblem, *, instance_id: str = "") -> ConstraintSet:
    """The constraint set of a problem, every constraint hard and exactly checked."""
    days = " or ".join([", ".join(problem.days[:-1]), problem.days[-1]]
                       if len(problem.days) > 1 else problem.days)
    out = [_c("format", "State the meeting time as 'Day, H:MM - H:MM'", "format"),
           _c("length", f"The meeting lasts {problem.length_phrase} ({problem.length} "
                        f"minutes)", "length", minutes=problem.length),
           _c("work_hours", f"The meeting is within the work hours of "
                            f"{format_24h(problem.work_start)} to "
                            f"{format_24h(problem.work_end)}", "work_hours",
              start=problem.work_start, end=problem.work_end),
           _c("days", f"The meeting is on {days}", "days", days=list(problem.days))]
    for who in problem.participants:
        mine = [b for b in problem.busy if b.participant == who]
        if mine:
            out.append(_c(f"busy.{key(who)}", mine[0].sentence.rstrip("; "), "busy",
                          participant=who, busy=[[b.day, b.start, b.end] for b in mine]))
    seen: set[str] = set()
    for w in problem.wishes:
        cid = f"wish.{key(w.participant)}.{w.day}"
        cid = cid if cid not in seen else f"{cid}.{len(seen) + 1}"
        seen.add(cid)
        out.append(_c(cid, w.sentence, "wish", participant=w.participant, day=w.day,
                      side=w.side, time=w.time))
    if problem.earliest:
        starts = problem.window_starts()
        if starts:
            out.append(_c("earliest", problem.earliest_sentence.rstrip("."), "earliest",
                          day=starts[0][0], start=starts[0][1]))
    return ConstraintSet(instance_id=instance_id, family=FAMILY, source="parser",
                         constraints=tuple(out))
