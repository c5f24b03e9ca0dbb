"""NATURAL PLAN in the simulator: each instance's constraints, decoys, plans and oracle, and
the provider that recognises prompts (dataset instances, and new ones solved by z3).
"""

from __future__ import annotations

import pytest
from np_support import by_id

from forethought.tasks.natural_plan.plans import instance_constraints
from forethought.tasks.natural_plan.simulated import recognise, simulated_task


@pytest.mark.parametrize(("domain", "ident"), [
    ("calendar", "calendar_scheduling_example_543"), ("meeting", "meeting_planning_example_389"),
    ("trip", "trip_planning_example_1088")])
def test_natural_plan_instances_know_their_plans(domain: str, ident: str) -> None:
    inst = by_id(domain, ident)  # type: ignore[arg-type]
    task = simulated_task(inst)
    cs = instance_constraints(inst)
    assert [c.id for c in task.constraints] == [c.id for c in cs]
    assert task.valid(task.answer) and len(task.decoys) >= 1 and len(task.plans) >= 20
    broken = [task.violated(p) & task.true_ids for p in task.plans]
    assert sum(bool(b) for b in broken) >= 0.8 * len(broken)  # mostly wrong plans
    assert recognise(inst.prompt_5shot) is task and recognise(inst.prompt_0shot) is task
    assert task.question in inst.prompt_5shot and task.question in inst.prompt_0shot


def test_a_new_prompt_is_solved_exactly_and_nonsense_is_not_recognised() -> None:
    prompt = ("You need to schedule a meeting for Ann and Bo for half an hour between the "
              "work hours of 9:00 to 17:00 on Monday.\n\nHere are the existing schedules for "
              "everyone during the days:\nAnn is busy on Monday during 9:00 to 12:00;\nBo has "
              "meetings on Monday during 12:30 to 13:00;\n\nFind a time that works for "
              "everyone's schedule and constraints.")
    task = recognise(prompt)
    assert task is not None and task.id.startswith("prompt:")
    assert task.answer == "Here is the proposed time: Monday, 12:00 - 12:30"
    assert recognise("What is the capital of France?") is None
    assert recognise("You need to schedule a meeting, somehow") is None  # does not parse
