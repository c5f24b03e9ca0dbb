"""A recipe's model settings reach every request, against the in-repo OpenAI-compatible server:
model defaults fill what a request leaves unset, and planners' own settings override them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forethought.cli import app
from forethought.exceptions import RecipeError, UserError
from forethought.models.litellm_import import import_now
from forethought.models.litellm_model import LiteLLMModel
from forethought.models.simulated import SimulatedModel
from forethought.recipes import build_agent, effective_model, load_recipe, parse_recipe
from forethought.search import prompts
from tests.fake_openai import FakeOpenAI, Reply

KEY_VAR = "FORETHOUGHT_TEST_KEY"


@pytest.fixture(scope="module", autouse=True)
def _litellm_imported() -> None:
    import_now()  # the one-off import, outside the tests' timings


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


def recipe_text(server: FakeOpenAI, **settings: object) -> str:
    lines = "".join(f"  {k}: {v}\n" for k, v in settings.items())
    return (f"model:\n  name: openai/test-model\n  api_base: {server.base_url}\n"
            f"  api_key_env: {KEY_VAR}\n{lines}"
            "planner:\n  kind: search\n  strategy: {kind: best_of_n, n: 2}\n"
            "  scorer: judge\n"
            "budget: {max_model_calls: 10}\n")


def test_settings_reach_every_request_and_requests_override_them(
        server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VAR, "sk-from-the-environment")
    server.default = Reply(texts=("Yes\nReasoning: 2 + 2 = 4.\nAnswer: 4",))
    recipe = parse_recipe(recipe_text(server, temperature=0.3, max_tokens=50, seed=7,
                                      top_p=0.9, timeout_s=5, call_timeout_s=20,
                                      max_concurrency=3, max_retries=1, cache="false"))
    agent = build_agent(recipe, store=None)
    model = agent.model
    assert isinstance(model, LiteLLMModel)  # cache: false, so not wrapped
    assert (model.max_concurrency, model.max_retries, model.call_timeout_s) == (3, 1, 20)
    assert model.settings.timeout_s == 5
    result = agent.run("What is 2 + 2?")
    assert result.status == "ok" and result.answer == "4"
    bodies = server.bodies
    judges = [b for b in bodies if b["messages"][0]["content"] == prompts.JUDGE_SYSTEM]
    rollouts = [b for b in bodies if b not in judges]
    assert len(rollouts) == 2 and len(judges) == 2
    for body in bodies:  # every request: the recipe's settings
        assert (body["max_tokens"], body["seed"], body["top_p"]) == (50, 7, 0.9)
    # The search task samples rollouts at its own temperature; judges leave it unset and get
    # the recipe's.
    assert {b["temperature"] for b in rollouts} == {0.7}
    assert {b["temperature"] for b in judges} == {0.3}
    assert {r.headers["authorization"] for r in server.requests} == {
        "Bearer sk-from-the-environment"}


def test_the_key_variable_is_read_when_the_agent_is_built(
        server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(recipe_text(server))
    with pytest.raises(RecipeError, match=rf"r\.yaml:4: model\.api_key_env: environment "
                                          rf"variable '{KEY_VAR}' is not set"):
        load_recipe(path)
    monkeypatch.setenv(KEY_VAR, "sk-1")
    recipe = load_recipe(path)
    monkeypatch.delenv(KEY_VAR)
    with pytest.raises(RecipeError) as info:  # unset again between check and build
        build_agent(recipe, store=None)
    assert str(info.value) == (f"{path}: model.api_key_env: environment variable "
                               f"'{KEY_VAR}' is not set (it should hold the API key for "
                               f"'openai/test-model')")
    assert server.requests == []


def test_cli_api_base_and_key_variable_override_the_recipe(
        server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OTHER_KEY", "sk-other")
    server.push(Reply(texts=('1. calculator(expression="6 * 7")\n2. join()\n',)),
                Reply(texts=("Action: Finish(42)",)))
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model:\n  name: openai/test-model\n  api_base: http://127.0.0.1:9/v1\n"
                      "  temperature: 0.5\n  max_tokens: 64\n  cache: false\n"
                      "tools: [calculator]\ninput: What is 6 * 7?\n")
    result = CliRunner().invoke(app, ["run", str(recipe), "--api-base", server.base_url,
                                      "--api-key-env", "OTHER_KEY", "--store",
                                      str(tmp_path / "runs.sqlite")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "42"
    # LLMCompiler plans and joins at temperature 0, overriding the recipe's 0.5.
    assert [b["temperature"] for b in server.bodies] == [0.0, 0.0]
    assert [b["max_tokens"] for b in server.bodies] == [64, 64]
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer sk-other"}


def test_cli_override_errors_name_the_flag(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: openai/test-model\ninput: hi\n")
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(recipe), "--api-base", "localhost:8000"])
    assert result.exit_code == 2
    assert result.output == ("error: --api-base: must be an http:// or https:// URL, such as "
                             "http://127.0.0.1:8000/v1, got 'localhost:8000'\n")
    result = runner.invoke(app, ["run", str(recipe), "--api-key-env", "sk-123"])
    assert result.exit_code == 2 and result.output.startswith(
        "error: --api-key-env: must be the NAME of an environment variable")
    assert "sk-123" not in result.output
    result = runner.invoke(app, ["run", str(recipe), "--model", "simulated",
                                 "--api-base", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 2 and result.output.startswith(
        "error: --api-base: the simulated model does not apply 'api_base'")


def test_switching_to_the_simulator_drops_and_names_litellm_settings(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model:\n  name: openai/gpt-4o-mini\n  temperature: 0.2\n  seed: 5\n"
                      "  api_base: http://127.0.0.1:9/v1\ntools: [calculator]\n"
                      "input: What is 6 * 7?\n")
    spec = load_recipe(recipe)
    cfg, dropped = effective_model(spec, model="simulated")
    assert dropped == ["temperature", "api_base"] and cfg.seed == 5
    agent = build_agent(spec, model="simulated", store=None)
    assert isinstance(agent.model, SimulatedModel) and agent.model.seed == 5
    result = CliRunner().invoke(app, ["run", str(recipe), "--model", "simulated", "--store",
                                      str(tmp_path / "runs.sqlite")])
    assert result.exit_code == 0, result.output
    assert ("note: --model simulated does not apply the recipe's model settings temperature, "
            "api_base (the simulator applies only `seed`)") in result.output
    assert "42" in result.output.splitlines()


def test_the_simulator_applies_its_seed_and_refuses_it_twice() -> None:
    agent = build_agent(parse_recipe("model: {name: simulated, seed: 11}\n"), store=None)
    assert isinstance(agent.model, SimulatedModel) and agent.model.seed == 11
    with pytest.raises(RecipeError, match=r"^<recipe>:1: model\.seed: the seed is also given in "
                                          r"the name 'simulated:seed=3'; give it once$"):
        parse_recipe("model: {name: 'simulated:seed=3', seed: 4}\n")
    with pytest.raises(UserError, match=r"^--model: model 'gpt': name a provider"):
        effective_model(parse_recipe("model: simulated\n"), model="gpt")
