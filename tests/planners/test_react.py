"""The ReAct planner against ScriptedModel: exact behaviour."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from forethought.exceptions import UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.planners.base import PlanOutcome, planner_class
from forethought.planners.react import ReActPlanner
from forethought.planners.react_actions import Finish, InvalidAction, ToolAction, parse_action
from forethought.recipes import build_agent, load_recipe
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, PlannerEvent
from forethought.tools.base import ToolRegistry, tool

ROOT = Path(__file__).resolve().parents[2]


@tool
def lookup(person: str, relation: str) -> str:
    """Look up a relation.

    Args:
        person: Full name.
        relation: The relation.
    """
    return {("Ada", "mentor"): "Bea", ("Bea", "rival"): "Cy"}[(person, relation)]


@tool
def broken(x: int) -> str:
    """Always fails."""
    raise RuntimeError(f"disk on fire ({x})")


TOOLS = ToolRegistry(["calculator", lookup, broken])


def run(script: list[str], *, budget: Budget | None = None, max_steps: int = 10
        ) -> tuple[PlanOutcome, list[Event], ScriptedModel]:
    model = ScriptedModel(script)
    events: list[Event] = []
    ctx = RunContext(model=model, tools=TOOLS, budget=BudgetTracker(budget=budget or Budget()))
    ctx.events.subscribe(events.append)
    outcome = asyncio.run(ReActPlanner(max_steps=max_steps).solve(ctx, "Who is the rival of "
                                                                        "Ada's mentor?"))
    return outcome, events, model


def actions(events: list[Event]) -> list[str]:
    return [e.action for e in events if isinstance(e, PlannerEvent)]


def transcript(request: ModelRequest) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in request.messages[1:]]


def test_thought_action_observation_until_finish() -> None:
    outcome, events, model = run([
        'Thought: first the mentor.\nAction: lookup(person="Ada", relation="mentor")',
        'Thought: now the rival.\nAction: lookup("Bea", "rival")\nObservation: made up',
        "Thought: done.\nAction: Finish(Cy)",
    ])
    assert (outcome.answer, outcome.status, outcome.partial) == ("Cy", "ok", False)
    assert transcript(model.requests[2]) == [
        ("user", "Question: Who is the rival of Ada's mentor?"),
        ("assistant",
         'Thought: first the mentor.\nAction: lookup(person="Ada", relation="mentor")'),
        ("user", "Observation: Bea"),
        ("assistant", 'Thought: now the rival.\nAction: lookup("Bea", "rival")'),
        ("user", "Observation: Cy"),
    ]
    assert all(r.purpose == "react" and r.settings.stop == ("\nObservation:",)
               for r in model.requests)
    assert "lookup(person, relation): Look up a relation." in model.requests[0].messages[0].content
    assert actions(events) == ["act", "act", "finish"]
    assert [e.kind for e in events].count("tool_call_finished") == 2
    assert outcome.rounds == []


def test_tool_errors_and_bad_actions_become_observations() -> None:
    outcome, events, model = run([
        "Action: broken(x=3)",
        'Action: calculator(expression="1 / 0")',
        'Action: search[Ada]',
        "I think the answer is Cy.",
        "Action: calculator(expression=oops)",
        "Action: Finish[Cy]",
    ])
    assert outcome.answer == "Cy"
    observations = [m.content for m in model.requests[-1].messages if m.role == "user"][1:]
    assert observations == [
        "Observation: Error: tool 'broken' raised RuntimeError: disk on fire (3)",
        "Observation: Error: division by zero",
        "Observation: Invalid action: unknown tool 'search'; available tools: 'broken', "
        "'calculator', 'lookup'; or Finish(<answer>)",
        "Observation: Invalid action: the reply has no `Action:` line; write "
        '`Action: tool_name(argument="value")` or `Action: Finish(<answer>)`',
        "Observation: Invalid action: cannot read the arguments of calculator: 'oops' is not "
        'a literal value (quote strings); write `Action: tool_name(argument="value")` or '
        "`Action: Finish(<answer>)`",
    ]
    assert actions(events) == ["act", "tool_error", "act", "tool_error", "invalid_action",
                               "invalid_action", "invalid_action", "finish"]


def test_max_steps_keeps_the_last_observation_as_a_partial_answer() -> None:
    outcome, events, _ = run(['Action: lookup(person="Ada", relation="mentor")',
                              "Action: broken(x=1)"], max_steps=2)
    assert (outcome.answer, outcome.status, outcome.partial) == ("Bea", "failed", True)
    assert outcome.error == "ReAct reached max_steps=2 without Action: Finish(...)"
    assert actions(events)[-1] == "max_steps"


def test_budget_spent_mid_run_returns_the_last_observation() -> None:
    outcome, events, model = run(['Action: lookup(person="Ada", relation="mentor")'] * 5,
                                 budget=Budget(max_model_calls=2))
    assert (outcome.answer, outcome.status, outcome.partial) == ("Bea", "budget_exhausted", True)
    assert len(model.requests) == 2
    assert "model calls 2 >= limit 2" in str(outcome.error)
    assert [e.kind for e in events].count("budget_exhausted") == 1


def test_every_step_carries_the_whole_history() -> None:
    _, _, model = run(['Action: lookup(person="Ada", relation="mentor")'] * 4 + ["Action: "
                                                                                 "Finish(x)"])
    sizes = [len(r.messages) for r in model.requests]
    assert sizes == [2, 4, 6, 8, 10]
    chars = [r.prompt_chars() for r in model.requests]
    assert all(b > a for a, b in itertools.pairwise(chars))


def test_long_observations_are_cut() -> None:
    @tool
    def big() -> str:
        """Returns a lot."""
        return "x" * 500

    model = ScriptedModel(["Action: big()", "Action: Finish(done)"])
    ctx = RunContext(model=model, tools=ToolRegistry([big]))
    asyncio.run(ReActPlanner(max_observation_chars=60).solve(ctx, "q"))
    assert model.requests[1].messages[-1].content == "Observation: " + "x" * 60 + " ...(cut)"


@pytest.mark.parametrize(("reply", "expected"), [
    ('Action: calculator(expression="3 + 4")', ToolAction(tool="calculator",
                                                          args={"expression": "3 + 4"})),
    ('Action: calculator("3 + 4")', ToolAction(tool="calculator", args={"expression": "3 + 4"})),
    ('Action: calculator({"expression": "3 + 4"})',
     ToolAction(tool="calculator", args={"expression": "3 + 4"})),
    ("Action: calculator[3 + 4]", ToolAction(tool="calculator", args={"expression": "3 + 4"})),
    ("Thought: x\nAction 2: lookup('Ada', relation='mentor')",
     ToolAction(tool="lookup", args={"person": "Ada", "relation": "mentor"})),
    ("Action: Finish(The answer is 7.)", Finish(answer="The answer is 7.")),
    ('Action: finish["Cy"]', Finish(answer="Cy")),
    ("Action: Finish: 12", Finish(answer="12")),
    ("Action: Finish()", InvalidAction(message="Finish() needs the answer inside the "
                                               "parentheses")),
    ('Action: lookup("a", "b", "c")', InvalidAction(
        message="cannot read the arguments of lookup: lookup takes 2 argument(s) (person, "
                'relation), got 3; write `Action: tool_name(argument="value")` or '
                "`Action: Finish(<answer>)`")),
    ("Action: lookup(person='a', person='b')", InvalidAction(
        message="cannot read the arguments of lookup: argument 'person' is given twice; write "
                '`Action: tool_name(argument="value")` or `Action: Finish(<answer>)`')),
    ("Action: do something clever", InvalidAction(
        message="cannot read the action 'do something clever'; write "
                '`Action: tool_name(argument="value")` or `Action: Finish(<answer>)`')),
])
def test_action_forms(reply: str, expected: object) -> None:
    parsed = parse_action(reply, TOOLS)
    if isinstance(parsed, ToolAction):
        parsed = ToolAction(tool=parsed.tool, args=parsed.args)
    assert parsed == expected


def test_registered_and_usable_from_a_recipe() -> None:
    assert planner_class("react") is ReActPlanner
    recipe = load_recipe(ROOT / "recipes" / "react.yaml")
    agent = build_agent(recipe, store=None)
    result = agent.run(str(recipe.input))
    assert result.status == "ok"
    assert result.answer == "222"
    with pytest.raises(UserError, match="max_steps"):
        ReActPlanner.from_options({"max_steps": 0})
