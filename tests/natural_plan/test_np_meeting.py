"""Meeting planning: the prompt parser, the exact optimum, the plan checker on golden and
mutated plans.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from np_support import by_id, instances

from forethought.exceptions import UserError
from forethought.tasks.natural_plan._clock import format_12h
from forethought.tasks.natural_plan.meeting_checks import meeting_constraints
from forethought.tasks.natural_plan.meetings import (
    Friend,
    MeetingProblem,
    best_count,
    parse_meeting_prompt,
    parse_plan,
    render_plan,
)
from forethought.tasks.natural_plan.plans import instance_constraints, verify_plan, violated_ids

MEETING = instances("meeting")
GOLDEN_389 = by_id("meeting", "meeting_planning_example_389").golden_plan


def test_a_prompt_becomes_its_constraints() -> None:
    p = parse_meeting_prompt(by_id("meeting", "meeting_planning_example_389").prompt_5shot)
    assert (p.start_location, p.start_time) == ("Haight-Ashbury", 540)
    assert [(f.name, f.location, f.start, f.end, f.minimum) for f in p.friends] == [
        ("Sarah", "Fisherman's Wharf", 14 * 60 + 45, 17 * 60 + 30, 105),
        ("Mary", "Richmond District", 13 * 60, 19 * 60 + 15, 75),
        ("Helen", "Mission District", 21 * 60 + 45, 22 * 60 + 30, 30),
        ("Thomas", "Bayview", 15 * 60 + 15, 18 * 60 + 45, 120)]
    assert p.travel["Bayview"]["Mission District"] == 13
    assert p.minutes("Bayview", "Bayview") == 0


def test_every_prompt_parses_the_same_as_the_dataset_fields_and_from_both_shots() -> None:
    for inst in MEETING:
        p = parse_meeting_prompt(inst.prompt_0shot)
        assert p == parse_meeting_prompt(inst.prompt_5shot), inst.id
        start, *people = inst.record["constraints"]
        assert [p.start_location, format_12h(p.start_time)] == start
        assert [[f.name, f.location, f"{format_12h(f.start)} to {format_12h(f.end)}",
                 f.minimum] for f in p.friends] == people
        assert p.travel == inst.record["dist_matrix"]


@pytest.mark.parametrize(("text", "message"), [
    ("Plan my day.", "not a NATURAL PLAN meeting prompt"),
    ("Travel distances (in minutes):\nA to B: 5.\nB to A: far.\n\nCONSTRAINTS: You arrive at A "
     "at 9:00AM.", "unrecognised travel distance 'B to A: far.'"),
    ("Travel distances (in minutes):\nA to B: 5.\nB to A: 5.\n\nCONSTRAINTS: You arrive at A "
     "at 9:00AM. Bob likes B.", "unrecognised sentence in a meeting prompt: 'Bob likes B.'"),
    ("Travel distances (in minutes):\nA to B: 5.\nB to A: 5.\n\nCONSTRAINTS: Bob will be at B "
     "from 9:00AM to 10:00AM. You'd like to meet Bob for a minimum of 15 minutes.",
     "does not say where you arrive"),
    ("Travel distances (in minutes):\nA to B: 5.\n\nCONSTRAINTS: You arrive at A at 9:00AM. "
     "Bob will be at B from 9:00AM to 10:00AM. You'd like to meet Bob for a minimum of 15 "
     "minutes.", r"no travel time listed for \[\('B', 'A'\)\]"),
    ("Travel distances (in minutes):\nA to B: 5.\nB to A: 5.\n\nCONSTRAINTS: You arrive at A "
     "at 9:00AM. Bob will be at B from 9:00AM to 10:00AM.",
     r"friends with a place but no minimum, or the reverse: \['Bob'\]"),
])
def test_an_unknown_prompt_is_refused_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_meeting_prompt("You are visiting San Francisco for the day. " + text)


def test_the_golden_plans_pass_and_are_rendered_exactly_from_their_order() -> None:
    for inst in MEETING:
        p = parse_meeting_prompt(inst.prompt_0shot)
        verdict = verify_plan(instance_constraints(inst), inst.golden_plan)
        assert verdict.accepted and verdict.score == 100.0, (inst.id, verdict.feedback)
        order = [s.person for s in parse_plan(inst.golden_plan) if s.kind == "meet"]
        assert render_plan(p, order) == inst.golden_plan


def _brute_force(p: MeetingProblem) -> int:
    best = 0
    for r in range(len(p.friends) + 1):
        for order in itertools.permutations(p.friends, r):
            here, now, ok = p.start_location, p.start_time, True
            for f in order:
                now = max(now + p.minutes(here, f.location), f.start) + f.minimum
                here = f.location
                ok = ok and now <= f.end
            if ok:
                best = max(best, r)
    return best


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(9 * 4, 20 * 4), st.integers(1, 16),
                          st.integers(1, 8)), min_size=1, max_size=5),
       st.lists(st.integers(1, 40), min_size=20, max_size=20))
def test_the_optimum_matches_brute_force(people: list[tuple[int, int, int, int]],
                                         minutes: list[int]) -> None:
    places = ["P0", "P1", "P2", "P3", "Start"]
    travel = {a: {b: minutes[i * 4 + j] for j, b in enumerate(x for x in places if x != a)}
              for i, a in enumerate(places)}
    friends = tuple(Friend(name=f"F{i}", location=f"P{loc}", start=q * 15,
                           end=q * 15 + span * 15, minimum=m * 15, window_sentence="",
                           minimum_sentence="")
                    for i, (loc, q, span, m) in enumerate(people))
    p = MeetingProblem(start_location="Start", start_time=540, start_sentence="",
                       friends=friends, travel=travel)
    assert best_count(p) == _brute_force(p)


def test_the_optimum_is_what_every_golden_plan_reaches() -> None:
    for inst in MEETING:
        p = parse_meeting_prompt(inst.prompt_0shot)
        met = sum(s.kind == "meet" for s in parse_plan(inst.golden_plan))
        assert best_count(p) == met, inst.id


# --- mutations fail, naming the constraint they break -------------------------------------------

@pytest.mark.parametrize(("old", "new", "expected"), [
    ("travel to Fisherman's Wharf in 23 minutes and arrive at 9:23AM",
     "travel to Fisherman's Wharf in 13 minutes and arrive at 9:13AM", ["travel"]),
    ("and arrive at 9:23AM", "and arrive at 9:30AM", ["timeline"]),
    ("You meet Sarah for 105 minutes from 2:45PM to 4:30PM",
     "You meet Sarah for 60 minutes from 2:45PM to 3:45PM", ["timeline", "minimum.Sarah"]),
    ("You wait until 2:45PM. You meet Sarah for 105 minutes from 2:45PM to 4:30PM",
     "You wait until 1:45PM. You meet Sarah for 105 minutes from 1:45PM to 3:30PM",
     ["timeline", "meet.Sarah"]),
    ("You wait until 9:45PM. You meet Helen for 30 minutes from 9:45PM to 10:15PM.", "",
     ["most_friends"]),
    ("You start at Haight-Ashbury at 9:00AM.", "You start at Bayview at 9:00AM.",
     ["start", "travel"]),
    ("You wait until 9:45PM.", "You wait until 9:45PM. Then you have dinner.", ["format"]),
    ("You meet Mary for 75 minutes from 4:48PM to 6:03PM.",
     "You meet Mary for 75 minutes from 4:48PM to 6:03PM. You meet Mary for 75 minutes from "
     "6:03PM to 7:18PM.", ["meet.Mary", "timeline"]),
    ("You meet Mary", "You meet Bob", ["most_friends"]),
    ("You travel to Richmond District in 18 minutes and arrive at 4:48PM. ", "",
     ["timeline", "meet.Mary", "travel"]),
])
def test_a_mutated_golden_plan_names_what_it_breaks(old: str, new: str,
                                                    expected: list[str]) -> None:
    cs = instance_constraints(by_id("meeting", "meeting_planning_example_389"))
    assert old in GOLDEN_389
    plan = GOLDEN_389.replace(old, new)
    assert sorted(violated_ids(cs, plan)) == sorted(expected)


def test_dropping_any_meeting_of_any_golden_plan_breaks_most_friends() -> None:
    checked = 0
    for inst in MEETING:
        cs = instance_constraints(inst)
        sentences = [s + "." for s in inst.golden_plan.split(". ") if s]
        last_meet = max(i for i, s in enumerate(sentences) if s.startswith("You meet"))
        plan = " ".join(sentences[:last_meet]).replace("..", ".")
        assert "most_friends" in violated_ids(cs, plan), inst.id
        checked += 1
    assert checked == 100


def test_an_empty_answer_violates_everything() -> None:
    cs = instance_constraints(by_id("meeting", "meeting_planning_example_389"))
    verdict = verify_plan(cs, "SOLUTION: ")
    assert {r.status for r in verdict.results} == {"violated"}


def test_plan_sentences_tolerate_solution_prefix_and_odd_times() -> None:
    steps = parse_plan("SOLUTION: You start at A at 9:00AM. You wait until 13:00PM. "
                       "You meet Bob for 1 minute from 9:00 AM to 9:01 AM.")
    assert [s.kind for s in steps] == ["start", "unknown", "meet"]
    assert steps[2].time == 540 and steps[2].end == 541
    meeting_constraints(parse_meeting_prompt(MEETING[0].prompt_0shot))
