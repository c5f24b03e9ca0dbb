"""Recipes: the schema, every malformed input, and the round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from forethought import Agent, RecipeError, build_agent, load_recipe, parse_recipe
from forethought.recipes import Recipe, recipe_json_schema

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_recipes_are_valid() -> None:
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    assert recipe.tools == ["calculator", "clock"]
    agent = build_agent(recipe, store=None)
    assert isinstance(agent, Agent)
    assert agent.model.name == "simulated"
    assert agent.budget.max_model_calls == 12


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    ("name: x\nmodle: simulated\n", 2, "modle",
     "unknown field; valid fields here: version, name, description, model, tools, planner, "
     "budget, input, eval"),
    ("name: x\nbudget:\n  max_calls: 3\n", 3, "budget.max_calls",
     "unknown field; valid fields here: max_tokens, max_cost_usd, max_seconds, max_model_calls"),
    ("budget:\n  max_model_calls: lots\n", 2, "budget.max_model_calls",
     "Input should be a valid integer"),
    ("tools: [calculator, serch]\n", 1, "tools.1",
     "unknown tool 'serch'; valid tools: 'calculator', 'clock'"),
    ("tools: calculator\n", 1, "tools", "Input should be a valid list"),
    ("planner: treeofthought\n", 1, "planner",
     "unknown planner 'treeofthought'; valid planners: 'aot', 'llmcompiler', 'plangen', "
     "'react', 'search'"),
    ("planner:\n  kind: llmcompiler\n  max_replans: -1\n", 3, "planner.max_replans",
     "Input should be greater than or equal to 0, got -1"),
    ("planner:\n  kind: llmcompiler\n  replans: 2\n", 3, "planner.replans",
     "unknown option of planner 'llmcompiler'; valid options: max_replans, max_tasks, "
     "max_concurrency"),
    ("model:\n  name: openai/x\n  temprature: 0\n", 3, "model.temprature", "unknown field"),
    ("version: 2\n", 1, "version", "Input should be 1"),
])
def test_malformed_recipes_name_file_line_field(text: str, line: int, field: str,
                                                message: str) -> None:
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, path="r.yaml")
    err = info.value
    assert (err.path, err.line, err.field) == ("r.yaml", line, field)
    assert str(err).startswith(f"r.yaml:{line}: {field}: ")
    assert message in str(err)


@pytest.mark.parametrize(("text", "message"), [
    ("", "r.yaml:1: the recipe is empty"),
    ("- a\n- b\n", "r.yaml:1: a recipe is a mapping of fields, got list"),
    ("name: [unclosed\n", "r.yaml:2: not valid YAML"),
])
def test_unusable_files(text: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        parse_recipe(text, path="r.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"nope\.yaml: no such file"):
        load_recipe(tmp_path / "nope.yaml")


def test_model_override_and_schema_export() -> None:
    recipe = parse_recipe("model: simulated:seed=4\ntools: [calculator]\n")
    assert build_agent(recipe, model="simulated:seed=5", store=None).model.name == "simulated"
    schema = recipe_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(Recipe.model_fields)


names = st.text(alphabet="abcdefghij_", min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(name=names, tools=st.lists(st.sampled_from(["calculator", "clock"]), unique=True),
       max_calls=st.none() | st.integers(1, 100), replans=st.integers(0, 10),
       question=st.none() | st.text(min_size=1, max_size=40))
def test_recipes_round_trip_through_yaml(name: str, tools: list[str], max_calls: int | None,
                                         replans: int, question: str | None) -> None:
    recipe = Recipe.model_validate({
        "name": name, "tools": tools, "budget": {"max_model_calls": max_calls},
        "planner": {"kind": "llmcompiler", "max_replans": replans}, "input": question})
    text = yaml.safe_dump(recipe.model_dump(mode="json", exclude_none=True))
    assert parse_recipe(text) == recipe


def test_tool_entries_with_options_are_checked() -> None:
    with pytest.raises(RecipeError, match=r"r\.yaml:2: tools\.0: tool 'calculator' takes no "
                                          r"options, got precision"):
        parse_recipe("tools:\n  - name: calculator\n    precision: 3\n", path="r.yaml")
    with pytest.raises(RecipeError, match=r"r\.yaml:2: tools\.0\.name: unknown tool 'nope'"):
        parse_recipe("tools:\n  - name: nope\n", path="r.yaml")
    recipe = parse_recipe("tools:\n  - name: calculator\n  - clock\n")
    assert [t.name for t in recipe.tool_configs()] == ["calculator", "clock"]


def test_the_json_schema_knows_every_components_options() -> None:
    import jsonschema

    schema = recipe_json_schema()
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)
    python = schema["properties"]["tools"]["items"]["anyOf"]
    (variant,) = [v for v in python if v.get("title") == "name: python"]
    assert variant["properties"]["memory_mb"]["maximum"] == 262_144
    for bad in ({"tools": [{"name": "python", "memory_mb": 10**9}]},
                {"tools": ["serch"]},
                {"planner": {"kind": "search", "strategy": {"kind": "beam", "widht": 2}}},
                {"planner": {"kind": "search", "strategy": {"kind": "best_of_n", "n": 0}}},
                {"planner": {"kind": "plangen", "arms": [{"kind": "beam", "widht": 2}]}},
                {"planner": {"kind": "plangen", "arms": [{"kind": "rebase", "refine": 99}]}},
                {"model": {"name": "openai/x", "top_p": 2}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
