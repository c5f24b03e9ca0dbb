"""The constraint agent: a constraint set through structured output, one repair turn, and no set
(with the reason) when the model cannot give a usable one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from forethought.agents.constraint_agent import ConstraintAgent, Extraction
from forethought.agents.constraints import RegisteredCheck, Z3Check
from forethought.exceptions import BudgetExceeded, ModelHTTPError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext

GOOD = {"constraints": [
    {"id": "length", "text": "The meeting lasts 30 minutes",
     "check": {"kind": "registered", "name": "natural_plan.calendar.length",
               "params": {"minutes": 30}}},
    {"id": "after_nine", "text": "It starts at 9:00 or later", "check": {
        "kind": "z3", "problem": '{"variables": {"s": "int"}, "constraints": ["s >= 540"]}',
        "bindings": [{"name": "s", "pattern": r"(\d+:\d\d) -", "type": "time"}]}},
    {"id": "polite", "text": "Say please", "kind": "soft"}]}


def extract(replies: list[Any], **kw: Any) -> tuple[Extraction, ScriptedModel]:
    model = ScriptedModel([r if isinstance(r, str) else json.dumps(r) for r in replies])
    ctx = RunContext(model=model, budget=BudgetTracker(budget=kw.pop("budget", Budget())))
    found = asyncio.run(ConstraintAgent().aextract(
        ctx, "Schedule 30 minutes on Monday.", instance_id="i1",
        family="natural_plan.calendar", **kw))
    return found, model


def test_a_valid_reply_becomes_the_instances_constraint_set() -> None:
    found, model = extract([GOOD])
    cs = found.constraint_set
    assert cs is not None and not found.repaired and found.error is None
    assert (cs.instance_id, cs.family, cs.source) == ("i1", "natural_plan.calendar",
                                                       "model:scripted")
    assert [c.id for c in cs] == ["length", "after_nine", "polite"]
    assert isinstance(cs.get("length").check, RegisteredCheck)
    assert isinstance(cs.get("after_nine").check, Z3Check) and cs.get("polite").check is None
    request = model.requests[0]
    assert request.purpose == "constraints" and request.output_schema is not None
    system = request.messages[0].content
    assert "- natural_plan.calendar.busy" in system and '"ConstraintSpec"' in system


def test_an_invalid_reply_is_repaired_once() -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["constraints"][1]["check"]["bindings"].append(
        {"name": "s", "pattern": "again (.*)", "type": "time"})  # a variable bound twice
    found, model = extract([bad, GOOD])
    assert found.constraint_set is not None and found.repaired
    assert "binds a variable twice" in model.requests[1].messages[-1].content
    assert found.usage.model_calls == 2


def test_two_invalid_replies_leave_the_instance_unguided_with_the_reason() -> None:
    found, _ = extract(["not json at all", {"constraints": [{"id": "x"}]}])
    assert found.constraint_set is None and found.repaired
    assert found.error is not None and found.error.startswith(
        "invalid constraint set after a repair turn: model 'scripted' gave no valid "
        "ConstraintSetReply after a repair turn: the JSON does not match the schema: "
        "constraints.0.text: Field required")


def test_no_constraints_and_a_failing_model_are_reported_not_raised() -> None:
    found, _ = extract([{"constraints": []}])
    assert found.constraint_set is None and found.error == "the model listed no constraints"

    def down(request: ModelRequest) -> str:
        raise ModelHTTPError("overloaded", status_code=529, model="scripted")

    ctx = RunContext(model=ScriptedModel(down))
    found = asyncio.run(ConstraintAgent().aextract(ctx, "q"))
    assert found.constraint_set is None
    assert found.error == ("the constraint agent's call failed: ModelHTTPError: scripted: "
                           "HTTP 529: overloaded")


def test_the_budget_is_not_swallowed() -> None:
    with pytest.raises(BudgetExceeded):
        extract([GOOD], budget=Budget(max_model_calls=0))


def test_the_sync_form_and_an_instance_id_from_the_text() -> None:
    found = ConstraintAgent(list_checkers=False).extract(
        "Schedule 30 minutes on Monday.", model=ScriptedModel([json.dumps(GOOD)]))
    assert found.constraint_set is not None
    assert len(found.constraint_set.instance_id) == 12  # a hash of the question
