"""Verification on typed outputs: a constraint set's formal checks and any Verifier act as
output validators whose rejections go back to the model with their feedback."""

from __future__ import annotations

import pydantic
import pytest

from forethought import (
    Agent,
    JudgeScorer,
    ModelRequest,
    ScriptedModel,
    UnexpectedModelBehavior,
    UserError,
    check_output,
    verify_output,
)
from forethought.agents.constraints import Binding, Constraint, ConstraintSet, Z3Check


class Stay(pydantic.BaseModel):
    city: str
    nights: int


AT_MOST_FIVE = ConstraintSet(instance_id="trip-1", family="trips", constraints=(
    Constraint(id="nights.max", text="At most five nights.", check=Z3Check(
        problem="(assert (<= nights 5))",
        bindings=(Binding(name="nights", pattern=r'"nights":\s*(\d+)'),))),
    Constraint(id="tone", text="Friendly.", kind="soft"),  # no formal check: left to a model
))


def stays(*outputs: str) -> ScriptedModel:
    return ScriptedModel(["1. join()", "Action: Finish(Lisbon, a week)", *outputs])


def test_constraints_reject_a_typed_output_with_their_feedback() -> None:
    model = stays('{"city": "Lisbon", "nights": 7}', '{"city": "Lisbon", "nights": 5}')
    agent = Agent(model, output_type=Stay, store=None)
    agent.output_validator(check_output(AT_MOST_FIVE))
    assert agent.run("Plan a stay in Lisbon.").output == Stay(city="Lisbon", nights=5)
    repair = model.requests[-1].messages[-1].content
    assert "the answer was rejected:" in repair and "nights.max" in repair


def test_constraints_that_are_never_met_end_in_unexpected_model_behavior() -> None:
    agent = Agent(stays('{"city": "Lisbon", "nights": 7}', '{"city": "Lisbon", "nights": 8}'),
                  output_type=Stay, store=None)
    agent.output_validator(check_output(AT_MOST_FIVE))
    with pytest.raises(UnexpectedModelBehavior, match=r"(?s)last errors: the answer was rejected: "
                                                      r".*nights.max"):
        agent.run("Plan a stay in Lisbon.")


def test_a_constraint_set_without_formal_checks_is_refused() -> None:
    informal = ConstraintSet(instance_id="x", family="f", constraints=(
        Constraint(id="tone", text="Friendly."),))
    with pytest.raises(UserError, match="constraint set 'x' has no formally checked "
                                        "constraint"):
        check_output(informal)


def judged(request: ModelRequest) -> str:
    if request.purpose == "plan":
        return "1. join()"
    if request.purpose == "join":
        return "Action: Finish(Sydney)"
    if request.purpose == "judge":  # the judge sees the candidate and the question
        return "Yes" if "Canberra" in request.messages[-1].content else "No, Sydney is wrong."
    return "Canberra"  # the revision


def test_a_verifier_judges_the_output_and_its_feedback_reaches_the_model() -> None:
    model = ScriptedModel(judged)
    agent = Agent(model, store=None)
    agent.output_validator(verify_output(JudgeScorer(samples=1)))
    assert agent.run("What is the capital of Australia?").output == "Canberra"
    judge = next(r for r in model.requests if r.purpose == "judge")
    assert "What is the capital of Australia?" in judge.messages[-1].content
    revision = next(r for r in model.requests if r.purpose == "output")
    assert "the verifier rejected it (score 0.00): No, Sydney is wrong." in \
        revision.messages[-1].content
