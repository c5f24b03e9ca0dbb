"""Constraints as data: validation, the verdict's score and feedback, the JSON boundary."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forethought.agents.constraint_spec import ConstraintSetSpec, parse_constraint_set
from forethought.agents.constraints import (
    Binding,
    Constraint,
    ConstraintResult,
    ConstraintSet,
    PythonCheck,
    RegisteredCheck,
    Status,
    Verdict,
    Z3Check,
)
from forethought.exceptions import UserError


def _set(*constraints: Constraint) -> ConstraintSet:
    return ConstraintSet(instance_id="i1", family="demo", constraints=constraints)


def _result(c: Constraint, status: Status) -> ConstraintResult:
    return ConstraintResult(constraint=c, status=status, reason=f"{c.id} {status}",
                            method="registered:demo")


H1 = Constraint(id="h1", text="hard one", weight=1.0)
H2 = Constraint(id="h2", text="hard two", weight=3.0)
S1 = Constraint(id="s1", text="soft one", kind="soft", weight=2.0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"id": "", "text": "x"}, "constraint id ''"),
    ({"id": ".x", "text": "x"}, "constraint id '.x'"),
    ({"id": "a", "text": "  "}, "constraint 'a' has no text"),
    ({"id": "a", "text": "x", "kind": "firm"}, "kind must be 'hard' or 'soft', got 'firm'"),
    ({"id": "a", "text": "x", "weight": 0.0}, "weight must be a positive number, got 0.0"),
    ({"id": "a", "text": "x", "weight": float("nan")}, "weight must be a positive number"),
])
def test_a_bad_constraint_names_what_is_wrong(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Constraint(**kwargs)


def test_checks_reject_empty_content_and_bad_bindings() -> None:
    with pytest.raises(UserError, match="needs a problem"):
        Z3Check(problem=" ")
    with pytest.raises(UserError, match="binds a variable twice"):
        Z3Check(problem="(assert true)", bindings=(Binding(name="x", pattern="a"),
                                                   Binding(name="x", pattern="b")))
    with pytest.raises(UserError, match="binding name '1x' is not an identifier"):
        Binding(name="1x", pattern="a")
    with pytest.raises(UserError, match="unknown type 'float'"):
        Binding(name="x", pattern="a", type="float")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="timeout_s must be a positive number"):
        PythonCheck(code="def check(c): return True", timeout_s=-1)
    with pytest.raises(UserError, match="needs the checker's name"):
        RegisteredCheck(name="")


def test_a_set_rejects_duplicate_ids_and_lists_its_ids_on_a_bad_lookup() -> None:
    with pytest.raises(UserError, match="two constraints have the id 'h1'"):
        _set(H1, H1)
    cs = _set(H1, S1)
    assert cs.get("s1") is S1 and cs.hard == (H1,) and cs.soft == (S1,) and len(cs) == 2
    with pytest.raises(UserError, match=r"no constraint 'x'; its ids: \['h1', 's1'\]"):
        cs.get("x")


def test_the_score_puts_hard_constraints_first() -> None:
    cs = _set(H1, H2, S1)
    everything = Verdict.of(cs, [_result(H1, "satisfied"), _result(H2, "satisfied"),
                                 _result(S1, "satisfied")])
    assert (everything.score, everything.accepted) == (100.0, True)
    assert everything.feedback == "All 3 constraints are satisfied."
    soft_broken = Verdict.of(cs, [_result(H1, "satisfied"), _result(H2, "satisfied"),
                                  _result(S1, "violated")])
    assert soft_broken.score == pytest.approx(100 * 4 / 6) and soft_broken.accepted
    one_hard_broken = Verdict.of(cs, [_result(H1, "violated"), _result(H2, "satisfied"),
                                      _result(S1, "satisfied")])
    assert one_hard_broken.score == pytest.approx(-25.0) and not one_hard_broken.accepted
    all_hard_broken = Verdict.of(cs, [_result(H1, "violated"), _result(H2, "violated"),
                                      _result(S1, "satisfied")])
    assert all_hard_broken.score == -100.0
    # Any candidate that keeps every hard constraint outranks any that breaks one.
    assert soft_broken.score > 0 > one_hard_broken.score > all_hard_broken.score


def test_unknown_hard_constraints_are_not_accepted_and_unjudged_ones_count_as_unknown() -> None:
    cs = _set(H1, H2, S1)
    verdict = Verdict.of(cs, [_result(H1, "satisfied")])
    assert [r.status for r in verdict.results] == ["satisfied", "unknown", "unknown"]
    assert [r.method for r in verdict.results] == ["registered:demo", "none", "none"]
    assert verdict.score == pytest.approx(100 * 1 / 6) and not verdict.accepted
    assert verdict.feedback == (
        "1 of 3 constraints are satisfied.\nCould not be checked:\n"
        "- [hard] h2: hard two -- not checked\n- [soft] s1: soft one -- not checked")


def test_feedback_lists_hard_violations_before_soft_ones() -> None:
    cs = _set(S1, H1, H2)
    verdict = Verdict.of(cs, [_result(S1, "violated"), _result(H1, "satisfied"),
                              _result(H2, "violated")])
    assert verdict.feedback == (
        "1 of 3 constraints are satisfied.\nViolated:\n"
        "- [hard] h2: hard two -- h2 violated\n- [soft] s1: soft one -- s1 violated")
    assert [r.id for r in verdict.violated_hard] == ["h2"]
    assert verdict.hard_satisfaction == pytest.approx(0.25)


def test_an_empty_set_verifies_nothing() -> None:
    verdict = Verdict.of(_set(), [])
    assert (verdict.score, verdict.accepted) == (0.0, False)
    assert verdict.feedback == "There are no constraints to check."
    assert verdict.hard_satisfaction == 1.0


def test_results_for_foreign_constraints_are_refused() -> None:
    with pytest.raises(UserError, match=r"not in set 'i1': \['h2'\]"):
        Verdict.of(_set(H1), [_result(H2, "satisfied")])


@given(st.lists(st.tuples(st.sampled_from(["hard", "soft"]), st.floats(0.01, 100),
                          st.sampled_from(["satisfied", "violated", "unknown"])),
                min_size=1, max_size=12))
def test_the_score_stays_in_range_and_its_sign_tells_hard_violations(
        rows: list[tuple[str, float, str]]) -> None:
    constraints = [Constraint(id=f"c{i}", text="t", kind=k, weight=w)  # type: ignore[arg-type]
                   for i, (k, w, _) in enumerate(rows)]
    verdict = Verdict.of(_set(*constraints), [_result(c, s)  # type: ignore[arg-type]
                                              for c, (_, _, s) in zip(constraints, rows,
                                                                      strict=True)])
    hard_broken = any(k == "hard" and s == "violated" for k, _, s in rows)
    assert -100.0 <= verdict.score <= 100.0
    assert (verdict.score < 0) == hard_broken
    assert verdict.accepted == all(s == "satisfied" for k, _, s in rows if k == "hard")
    assert (verdict.score == 100.0) == all(s == "satisfied" for _, _, s in rows)


# --- the JSON boundary ----------------------------------------------------------------------

GOOD: dict[str, Any] = {"constraints": [
    {"id": "slot", "text": "The meeting starts at 9:00 or later", "kind": "hard",
     "check": {"kind": "z3", "problem": "(assert (>= start 540))",
               "bindings": [{"name": "start", "pattern": r"(\d+:\d\d) -", "type": "time"}]}},
    {"id": "short", "text": "Short answer", "kind": "soft", "weight": 0.5,
     "check": {"kind": "python", "code": "def check(c):\n    return len(c) < 80"}},
    {"id": "busy", "text": "Not while Debra is busy",
     "check": {"kind": "registered", "name": "natural_plan.calendar.busy",
               "params": {"participant": "Debra", "busy": [["Monday", 600, 630]]}}},
    {"id": "polite", "text": "The tone is polite", "kind": "soft"},
]}


def test_a_valid_spec_becomes_a_set_and_round_trips() -> None:
    cs = parse_constraint_set(json.dumps(GOOD), instance_id="x", family="demo", source="model")
    assert [c.id for c in cs] == ["slot", "short", "busy", "polite"]
    assert cs.get("slot").check == Z3Check(problem="(assert (>= start 540))", bindings=(
        Binding(name="start", pattern=r"(\d+:\d\d) -", type="time"),))
    assert cs.get("short").kind == "soft" and cs.get("short").weight == 0.5
    assert cs.get("polite").check is None and cs.source == "model"
    again = ConstraintSetSpec.from_set(cs).to_set(instance_id="x", family="demo",
                                                  source="model")
    assert again == cs
    assert parse_constraint_set(GOOD, instance_id="x", family="demo", source="model") == cs


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["constraints"][0]["check"].update(kind="prolog"),
     "constraints.0.check: Input tag 'prolog' found using 'kind' does not match any of the "
     "expected tags: 'z3', 'python', 'registered'"),
    (lambda d: d["constraints"][1].update(weight=-1),
     "constraints.1.weight: Input should be greater than 0"),
    (lambda d: d["constraints"][2].update(kind="firm"),
     "constraints.2.kind: Input should be 'hard' or 'soft'"),
    (lambda d: d["constraints"][3].update(colour="red"),
     "constraints.3.colour: Extra inputs are not permitted"),
    (lambda d: d["constraints"].append(dict(d["constraints"][0])),
     "constraints: two constraints have the id 'slot'; ids must be unique"),
    (lambda d: d["constraints"][0]["check"]["bindings"][0].update(name="1st"),
     "constraints.0.check.z3.bindings.0.name: String should match pattern"),
    (lambda d: d["constraints"][1]["check"].pop("code"),
     "constraints.1.check.python.code: Field required"),
])
def test_a_bad_spec_names_each_bad_field(mutate: Any, message: str) -> None:
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    with pytest.raises(UserError) as info:
        parse_constraint_set(data, instance_id="x", family="demo")
    assert str(info.value).startswith("invalid constraint set for 'x': ")
    assert message in str(info.value)


def test_invalid_json_text_is_a_clear_error() -> None:
    with pytest.raises(UserError, match=r"invalid constraint set for 'x': .*Invalid JSON"):
        parse_constraint_set("{not json", instance_id="x", family="demo")


def test_the_spec_has_a_json_schema_for_structured_output() -> None:
    schema = ConstraintSetSpec.model_json_schema()
    check = schema["$defs"]["ConstraintSpec"]["properties"]["check"]
    assert check["anyOf"][0]["discriminator"]["propertyName"] == "kind"


async def test_a_model_writes_a_spec_through_structured_output_with_one_repair() -> None:
    from forethought.models.messages import Message, ModelRequest
    from forethought.models.scripted import ScriptedModel
    from forethought.runtime.context import RunContext

    bad = json.loads(json.dumps(GOOD))
    bad["constraints"][0]["check"]["kind"] = "prolog"
    model = ScriptedModel([json.dumps(bad), json.dumps(GOOD)])
    parsed = await RunContext(model=model).parse(
        ModelRequest(messages=(Message.user("List the constraints."),)), ConstraintSetSpec)
    assert len(parsed.responses) == 2  # the first reply was repaired
    assert "Input tag 'prolog' found using 'kind'" in model.requests[1].messages[-1].content
    cs = parsed.value.to_set(instance_id="x", family="demo", source="model:scripted")
    assert [c.id for c in cs] == ["slot", "short", "busy", "polite"]
