"""The logic and smt tools inside an Agent: an LLMCompiler plan calls them, errors go back to
the model, and the shipped recipe loads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from forethought import (
    Agent,
    RecipeError,
    ScriptedModel,
    UserError,
    build_agent,
    load_recipe,
    parse_recipe,
)
from forethought.tools.base import resolve_tool
from forethought.tools.logic import eprover_path

ROOT = Path(__file__).resolve().parents[2]

PLAN = (
    "Thought: decide the entailment and find the meeting slot in parallel.\n"
    '1. logic(premises=["∀x (Rabbit(x) → Cute(x))", "Rabbit(tom)"], conclusion="Cute(tom)")\n'
    '2. smt(problem={"variables": {"start": {"type": "int", "min": 540, "max": 960}}, '
    '"constraints": ["start % 30 == 0", "start >= 600"], "minimize": "start"})\n'
    "3. join()\n")


def test_a_plan_calls_logic_and_smt_through_the_agent() -> None:
    script = ScriptedModel([PLAN, "Thought: both tools answered.\nAction: Finish(True, 600)"])
    agent = Agent(script, tools=["logic", "smt"], store=None)
    result = agent.run("Is Tom cute, and when is the earliest half-hour slot from 10:00?")
    assert result.ok and result.answer == "True, 600"
    assert result.rounds[0].outputs == {
        "1": {"verdict": "True", "premises_used": {"1": "∀x (Rabbit(x) → Cute(x))",
                                                    "2": "Rabbit(tom)"}},
        "2": {"status": "sat", "model": {"start": 600},
              "objectives": [{"minimize": "start", "value": 600}]}}
    join_prompt = script.requests[1].messages[-1].content
    assert '-> {"verdict": "True"' in join_prompt


def test_a_malformed_formula_goes_back_to_the_model_with_its_position() -> None:
    bad_plan = '1. logic(premises=["∀x (Rabbit(x) → Cute(x)"], conclusion="Cute(tom)")\n2. join()'
    fixed_plan = ('3. logic(premises=["∀x (Rabbit(x) → Cute(x))", "Rabbit(tom)"], '
                  'conclusion="Cute(tom)")\n4. join()')
    script = ScriptedModel([bad_plan, "Action: Replan(fix the parentheses)", fixed_plan,
                            "Action: Finish($3)"])
    result = Agent(script, tools=["logic"], store=None).run("Is Tom cute?")
    assert result.ok
    join_prompt = script.requests[1].messages[-1].content
    assert "ERROR: premise 1: unbalanced parentheses: this '(' is never closed" in join_prompt
    assert "line 1, column 4" in join_prompt
    assert result.rounds[-1].outputs["3"]["verdict"] == "True"


def test_the_logic_recipe_loads_and_builds_its_tools() -> None:
    recipe = load_recipe(ROOT / "recipes" / "logic.yaml")
    assert [t.name for t in recipe.tool_configs()] == ["logic", "smt"]
    assert recipe.tool_configs()[0].options() == {"backend": "z3", "timeout_s": 10}
    agent = build_agent(recipe, model="simulated", store=None)
    assert isinstance(agent, Agent)
    assert {"logic", "smt"} <= set(agent.tools.names())
    assert agent.tools.get("logic").timeout_s == 15


def test_recipe_options_are_checked() -> None:
    with pytest.raises(RecipeError, match=r"^<recipe>:3: tools\.0\.backend: Input should be "
                                          r"'z3', 'eprover' or 'both', got 'vampire'$"):
        parse_recipe("tools:\n  - name: logic\n    backend: vampire\n")
    with pytest.raises(UserError, match="require_agreement needs backend 'both'"):
        resolve_tool("logic", {"require_agreement": True})


@pytest.mark.skipif(eprover_path() is None, reason="the E prover is not installed "
                    "(apt-get install eprover)")
def test_logic_tool_with_both_backends_reports_each() -> None:
    tool = resolve_tool("logic", {"backend": "both", "require_agreement": True})
    script = ScriptedModel(['1. logic(premises=["P(a)"], conclusion="¬P(a)")\n2. join()',
                            "Action: Finish($1)"])
    result = Agent(script, tools=[tool], store=None).run("?")  # type: ignore[list-item]
    assert result.rounds[0].outputs["1"] == {"verdict": "False", "premises_used": {"1": "P(a)"},
                                             "backends": {"z3": "False", "eprover": "False"}}
