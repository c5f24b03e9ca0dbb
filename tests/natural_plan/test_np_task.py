"""The NATURAL PLAN search tasks: built by name, plans read from replies, the exact verifier
as scorer; and the data loader's errors.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from np_support import by_id, instances

from forethought.agents.constraints import check_constraints
from forethought.exceptions import UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.search.best_of_n import BestOfN
from forethought.search.machine import Compute
from forethought.search.task import build_task, task_names
from forethought.tasks.natural_plan.dataset import ENV, load_instances
from forethought.tasks.natural_plan.plans import check_plan, instance_constraints
from forethought.tasks.natural_plan.task import CalendarTask, MeetingTask, TripTask

CAL = by_id("calendar", "calendar_scheduling_example_543")


def test_the_three_domains_are_registered_task_kinds() -> None:
    assert {"natural_plan_calendar", "natural_plan_meeting",
            "natural_plan_trip"} <= set(task_names())
    task = build_task("natural_plan_calendar", CAL.prompt_5shot, {"temperature": 0.2})
    assert isinstance(task, CalendarTask) and task.temperature == 0.2
    assert len(task.constraint_set) == 6 and task.metadata["domain"] == "natural_plan.calendar"
    with pytest.raises(UserError, match="invalid options for search task "
                                        "'natural_plan_trip': colour"):
        build_task("natural_plan_trip", CAL.prompt_5shot, {"colour": "red"})
    with pytest.raises(UserError, match="not a NATURAL PLAN trip prompt"):
        build_task("natural_plan_trip", CAL.prompt_5shot)


def test_a_reply_becomes_a_final_plan_or_is_rejected() -> None:
    task = CalendarTask.for_instance(CAL)
    assert task.metadata["instance"] == CAL.id and task.constraint_set.instance_id == CAL.id
    state = task.parse_rollout(task.root(), "Let me think... Monday, 13:30 - 14:30 works.")
    assert state is not None and state.final
    assert state.answer == "Here is the proposed time: Monday, 13:30 - 14:30"
    assert task.parse_rollout(task.root(), "no idea") is None
    assert task.parse_proposal(task.root(), "no idea").rejected == [
        "no calendar plan in 'no idea'"]
    assert task.normalise("SOLUTION: Monday, 13:30 - 14:30") == task.normalise(
        "Here is the proposed time: Monday, 13:30 - 14:30 ")
    request = task.rollout_request(task.root())
    assert request.purpose == "rollout"
    assert "Here is the proposed time" in request.messages[0].content
    assert task.propose_request(task.root()).purpose == "propose"


def test_meeting_and_trip_replies_keep_the_plan_and_drop_the_chatter() -> None:
    meeting = by_id("meeting", "meeting_planning_example_389")
    task = MeetingTask.for_instance(meeting, shots=0)
    reply = f"Sure! SOLUTION: {meeting.golden_plan} This plan meets three friends."
    state = task.parse_rollout(task.root(), reply)
    assert state is not None and state.answer is not None
    assert state.answer == meeting.golden_plan
    assert task.check(state.answer)
    trip = by_id("trip", "trip_planning_example_1088")
    task2 = TripTask.for_instance(trip)
    state2 = task2.parse_rollout(task2.root(), "Here you go:\n" + trip.golden_plan + "\nEnjoy!")
    assert state2 is not None and state2.answer is not None and task2.check(state2.answer)
    assert task2.parse_rollout(task2.root(), "Day 1: relax") is None


def test_the_verifier_is_the_exact_plan_checker() -> None:
    task = CalendarTask.for_instance(CAL)
    good = task.parse_rollout(task.root(), CAL.golden_plan)
    bad = task.parse_rollout(task.root(), "Monday, 9:00 - 10:00")
    assert good is not None and bad is not None and task.has_verifier
    action = task.verify(good)
    assert isinstance(action, Compute) and action.fn() is True
    verify_bad = task.verify(bad)
    assert isinstance(verify_bad, Compute) and verify_bad.fn() is False


async def test_best_of_n_picks_the_plan_the_checker_accepts() -> None:
    replies = iter(["Monday, 9:00 - 10:00", "Monday, 12:00 - 13:00",
                    "Here is the proposed time: Monday, 13:30 - 14:30"])

    def reply(request: ModelRequest) -> str:
        return next(replies)

    ctx = RunContext(model=ScriptedModel(reply))
    result = await BestOfN.from_options({"n": 3}).arun(ctx, CalendarTask.for_instance(CAL))
    assert result.answer == "Here is the proposed time: Monday, 13:30 - 14:30"


async def test_the_async_checker_agrees_with_the_sync_plan_checker() -> None:
    ctx = RunContext(model=ScriptedModel([]))
    for inst in [*instances("calendar")[:5], *instances("meeting")[:5], *instances("trip")[:5]]:
        cs = instance_constraints(inst)
        plan = str(inst.record["pred_5shot_pro"])
        fast = [(r.id, r.status, r.reason) for r in check_plan(cs, plan)]
        slow = [(r.id, r.status, r.reason) for r in await check_constraints(ctx, cs, plan)]
        assert fast == slow, inst.id


def test_the_loader_names_what_is_missing(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="unknown NATURAL PLAN domain 'chess'"):
        load_instances("chess")  # type: ignore[arg-type]
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(UserError, match=f"NATURAL PLAN trip data not found at "
                                        f"'{tmp_path}/trip_planning_100.json'"):
        load_instances("trip")
    (tmp_path / "trip_planning_100.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="should hold an object of instances by id"):
        load_instances("trip")
    (tmp_path / "trip_planning_100.json").write_text(json.dumps({"a": {"prompt_0shot": "x"}}))
    with pytest.raises(UserError, match="instance 'a' lacks 'golden_plan' \\(needs"):
        load_instances("trip")
    (tmp_path / "trip_planning_100.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot read NATURAL PLAN data"):
        load_instances("trip")


def test_the_instances_are_read_whole() -> None:
    for domain in ("calendar", "meeting", "trip"):
        got = instances(domain)  # type: ignore[arg-type]
        assert len(got) == 100 and len({i.id for i in got}) == 100
    meeting = by_id("meeting", "meeting_planning_example_389")
    assert meeting.golden_plan.startswith("You start at Haight-Ashbury at 9:00AM. You travel")
    assert asyncio.iscoroutinefunction(check_constraints)


_NUMBER = st.one_of(st.integers(min_value=0, max_value=99),
                    st.integers(min_value=0, max_value=10**12)).map(str)
_CLOCK = st.builds(lambda h, m, suffix: f"{h}:{m}{suffix}", _NUMBER, _NUMBER,
                   st.sampled_from(["", "AM", "PM", "am"]))
_ANSWER = st.one_of(
    st.text(max_size=200),
    st.builds("Here is the proposed time: {}, {} - {}".format,
              st.sampled_from(["Monday", "Sunday", "Day"]), _CLOCK, _CLOCK),
    st.builds("You start at {} at {}. You travel to {} in {} minutes and arrive at {}. "
              "You meet {} for {} minutes from {} to {}.".format,
              st.sampled_from(["Nob Hill", ""]), _CLOCK, st.text(max_size=10), _NUMBER,
              _CLOCK, st.text(max_size=10), _NUMBER, _CLOCK, _CLOCK),
    st.builds("**Day {}-{}:** Arriving in {} and visit it for {} days.\n**Day {}:** Fly "
              "from {} to {}.".format, _NUMBER, _NUMBER, st.text(max_size=10), _NUMBER,
              _NUMBER, st.text(max_size=10), st.text(max_size=10)))


@settings(max_examples=150, deadline=None)
@given(answer=_ANSWER)
def test_no_model_answer_makes_a_task_raise(answer: str) -> None:
    # A reply is a model's text to judge: whatever its numbers, reading and checking it
    # gives a plan or None and a verdict, never an exception that ends the run.
    for domain, task_class in (("calendar", CalendarTask), ("meeting", MeetingTask),
                               ("trip", TripTask)):
        inst = instances(domain)[0]
        task = task_class.for_instance(inst)
        plan = task.extract(answer)
        assert plan is None or isinstance(plan, str)
        results = check_plan(instance_constraints(inst), answer)
        assert results and all(r.status in ("satisfied", "violated", "unknown")
                               for r in results)
