"""Calendar scheduling: the prompt parser, the plan checker on golden and mutated plans."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from np_support import by_id, instances

from forethought.exceptions import UserError
from forethought.tasks.natural_plan.calendars import (
    WEEK,
    CalendarProblem,
    Slot,
    calendar_constraints,
    parse_calendar_prompt,
    parse_slot,
    render_plan,
)
from forethought.tasks.natural_plan.plans import instance_constraints, verify_plan, violated_ids

CALENDAR = instances("calendar")


def _problem(instance_id: str) -> CalendarProblem:
    return parse_calendar_prompt(by_id("calendar", instance_id).prompt_0shot)


def _plan(day: str, start: int, end: int) -> str:
    return render_plan(Slot(day=day, start=start, end=end))


def test_a_prompt_becomes_its_constraints() -> None:
    p = _problem("calendar_scheduling_example_625")
    assert p.participants == ("Jeffrey", "Harold")
    assert (p.length, p.work_start, p.work_end, p.days) == (30, 540, 1020,
                                                            ("Monday", "Tuesday"))
    assert [(b.day, b.start, b.end) for b in p.busy][:3] == [
        ("Monday", 540, 600), ("Monday", 630, 1020), ("Tuesday", 540, 570)]
    assert {b.participant for b in p.busy} == {"Harold"}  # Jeffrey is free all week
    # "Monday. Tuesday before 14:30." continues Harold's wish: two clauses.
    assert [(w.participant, w.day, w.side, w.time) for w in p.wishes] == [
        ("Harold", "Monday", "all", None), ("Harold", "Tuesday", "before", 870)]
    assert p.wishes[1].quote == ("Harold would like to avoid more meetings on Monday. "
                                 "Tuesday before 14:30")
    assert not p.earliest


def test_every_prompt_parses_the_same_from_both_shots() -> None:
    for inst in CALENDAR:
        assert parse_calendar_prompt(inst.prompt_5shot) == parse_calendar_prompt(
            inst.prompt_0shot), inst.id


def test_a_glued_name_and_the_earliest_wish_are_read() -> None:
    p = _problem("calendar_scheduling_example_36")  # "Ruthhas no meetings the whole day."
    assert "Ruth" in p.participants and not [b for b in p.busy if b.participant == "Ruth"]
    assert _problem("calendar_scheduling_example_798").earliest


@pytest.mark.parametrize(("text", "message"), [
    ("Hello there.", "not a NATURAL PLAN calendar prompt"),
    ("You need to schedule a meeting for A and B for a fortnight between the work hours of "
     "9:00 to 17:00 on Monday. \nA is busy on Monday during 9:00 to 10:00; \n",
     "unknown meeting length 'a fortnight'"),
    ("You need to schedule a meeting for A and B for one hour between the work hours of "
     "9:00 to 17:00 on Monday. \nA is busy on Monday during 9:00 to 10:00; \n"
     "B prefers tea. Find a time that works for everyone's schedule and constraints. ",
     "unrecognised sentence in a calendar prompt: 'B prefers tea'"),
    ("You need to schedule a meeting for A and B for one hour between the work hours of "
     "9:00 to 17:00 on Monday. \nA is busy on Monday during 11:00 to 10:00; \n",
     "busy time 'Monday during 11:00 to 10:00' ends before it starts in 'A is busy"),
])
def test_an_unknown_prompt_is_refused_naming_the_sentence(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        parse_calendar_prompt(text)


def test_every_golden_plan_satisfies_every_constraint() -> None:
    for inst in CALENDAR:
        verdict = verify_plan(instance_constraints(inst), inst.golden_plan)
        assert verdict.accepted and verdict.score == 100.0, (inst.id, verdict.feedback)


def test_the_slot_is_the_first_one_named() -> None:
    assert parse_slot("Maybe Monday, 9:00 - 9:30? No: Tuesday, 10:00 - 10:30") == Slot(
        day="Monday", start=540, end=570)
    assert parse_slot("Here is the proposed time: Friday, 14:30-15:00") == Slot(
        day="Friday", start=870, end=900)
    assert parse_slot("no idea") is None


def test_an_answer_without_a_slot_violates_everything() -> None:
    inst = by_id("calendar", "calendar_scheduling_example_543")
    cs = instance_constraints(inst)
    verdict = verify_plan(cs, "I could not find a time.")
    assert {r.status for r in verdict.results} == {"violated"}
    assert verdict.results[0].reason == ("the answer states no meeting time as "
                                         "'Day, H:MM - H:MM'")
    assert verdict.score == -100.0


def test_an_answer_whose_times_are_not_clock_times_violates_everything() -> None:
    # SmolLM2 once proposed this; it must be judged, not crash the run
    answer = "Here is the proposed time: Monday, 26:30 - 27:30"
    assert parse_slot(answer) is None
    verdict = verify_plan(instance_constraints(by_id("calendar",
                                                     "calendar_scheduling_example_543")), answer)
    assert {r.status for r in verdict.results} == {"violated"}
    assert verdict.results[0].reason == ("the answer's meeting time is not valid: '26:30' is "
                                         "not a 24-hour time such as 9:30 or 17:00")


# --- mutations of every golden plan fail, naming the constraint they break ---------------------

def test_a_meeting_moved_into_a_busy_slot_names_whose_calendar() -> None:
    checked = 0
    for inst in CALENDAR:
        p = parse_calendar_prompt(inst.prompt_0shot)
        golden = parse_slot(inst.golden_plan)
        assert golden is not None
        cs = instance_constraints(inst)
        for b in p.busy:
            if b.day != golden.day or b.end - b.start < p.length:
                continue
            plan = _plan(b.day, b.start, b.start + p.length)
            bad = violated_ids(cs, plan)
            assert f"busy.{b.participant}" in bad, (inst.id, plan, bad)
            verdict = verify_plan(cs, plan)
            reason = next(r.reason for r in verdict.results if r.id == f"busy.{b.participant}")
            assert reason.startswith(f"{b.participant} is busy on {b.day} during")
            checked += 1
    assert checked > 300


def test_a_wrong_length_day_or_hour_names_that_constraint() -> None:
    for inst in CALENDAR:
        p = parse_calendar_prompt(inst.prompt_0shot)
        g = parse_slot(inst.golden_plan)
        assert g is not None
        cs = instance_constraints(inst)
        assert "length" in violated_ids(cs, _plan(g.day, g.start, g.end + 30)), inst.id
        other = next(d for d in WEEK if d not in p.days)
        assert violated_ids(cs, _plan(other, g.start, g.end))[:1] == ["days"], inst.id
        early = violated_ids(cs, _plan(g.day, p.work_start - 60, p.work_start - 60 + p.length))
        assert "work_hours" in early, inst.id


def test_breaking_a_wish_names_the_wish() -> None:
    checked = 0
    for inst in CALENDAR:
        p = parse_calendar_prompt(inst.prompt_0shot)
        cs = instance_constraints(inst)
        wish_ids = [c.id for c in cs if c.id.startswith("wish.")]
        for w, cid in zip(p.wishes, wish_ids, strict=True):
            start = {"all": p.work_start, "before": p.work_start,
                     "after": p.work_end - p.length}[w.side]
            bad = violated_ids(cs, _plan(w.day, start, start + p.length))
            assert cid in bad, (inst.id, cid, bad)
            checked += 1
    assert checked == 82  # wish clauses in the 56 instances that state any


def test_a_later_slot_breaks_the_earliest_wish() -> None:
    checked = 0
    for inst in CALENDAR:
        p = parse_calendar_prompt(inst.prompt_0shot)
        if not p.earliest:
            continue
        cs = instance_constraints(inst)
        later = p.window_starts()[1:]
        for day, start in later[:2]:
            assert violated_ids(cs, _plan(day, start, start + p.length)) == ["earliest"]
            checked += 1
    assert checked >= 30


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(CALENDAR) - 1), st.sampled_from(WEEK[:5]),
       st.integers(8 * 2, 17 * 2), st.sampled_from([30, 60]))
def test_each_verdict_agrees_with_a_plain_reading_of_the_prompt(
        index: int, day: str, half_hours: int, length: int) -> None:
    inst = CALENDAR[index]
    p = parse_calendar_prompt(inst.prompt_0shot)
    start = half_hours * 30
    end = start + length
    bad = set(violated_ids(calendar_constraints(p), _plan(day, start, end)))
    assert ("length" in bad) == (length != p.length)
    assert ("days" in bad) == (day not in p.days)
    assert ("work_hours" in bad) == (start < p.work_start or end > p.work_end)
    for who in {b.participant for b in p.busy}:
        clash = any(b.participant == who and b.day == day and start < b.end and b.start < end
                    for b in p.busy)
        assert (f"busy.{who}" in bad) == clash
