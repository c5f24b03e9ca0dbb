"""The search planner: any strategy from code and from a recipe, the Game of 24 recipe with
each strategy, options errors, budgets and events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from forethought.agents.agent import Agent
from forethought.cli import app
from forethought.exceptions import RecipeError, UserError
from forethought.models.scripted import ScriptedModel
from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.multistep import SimulatedMultiStepTask
from forethought.planners.base import planner_class
from forethought.planners.search import SearchPlanner
from forethought.recipes import build_agent, load_recipe, parse_recipe
from forethought.runtime.budget import Budget
from forethought.runtime.events import Event, PlannerEvent
from forethought.search.base import strategy_names
from forethought.search.beam import BeamSearch
from forethought.search.game24 import check_answer
from forethought.search.scorers import JudgeScorer, RewardScorer, Staged, VerifierScorer

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "game24.yaml"
TASK = SimulatedMultiStepTask(id="capital", question="What is the capital of Australia?",
                              answer="Canberra", difficulty=0.4, steps=3,
                              distractors=("Sydney", "Melbourne"))

# the recipe's strategy line, swapped for each strategy (settings close to the papers')
GAME24_STRATEGIES: dict[str, dict[str, Any]] = {
    "tot_bfs": {"breadth": 5, "proposals": 8},
    "tot_dfs": {"proposals": 8, "accept": 1.0},
    "beam": {"width": 5, "expansion": 3},
    "mcts": {"simulations": 30, "width": 8, "accept": 1.0},
    "rebase": {"width": 16},
    "particle_filter": {"particles": 16},
    "best_of_n": {"n": 100},
    "self_consistency": {"n": 20},
    "refine": {"strategy": {"kind": "best_of_n", "n": 50}, "rounds": 10},
}


def test_the_planner_is_registered_and_runs_any_strategy_from_code() -> None:
    assert planner_class("search") is SearchPlanner
    for name in strategy_names():
        agent = Agent(SimulatedModel([TASK], seed=1),
                      planner=SearchPlanner(strategy={"kind": name}), store=None)
        result = agent.run(TASK.question)
        assert result.status == "ok" and result.answer in {"Canberra", "Sydney", "Melbourne"}
        assert result.usage.model_calls > 1
    agent = Agent(SimulatedModel([TASK], seed=1), store=None,
                  planner=SearchPlanner(strategy=BeamSearch(width=2, expansion=2)))
    assert agent.run(TASK.question).answer == "Canberra"


def test_game24_recipe_solves_with_every_strategy(tmp_path: Path) -> None:
    assert set(GAME24_STRATEGIES) == set(strategy_names())
    base = yaml.safe_load(RECIPE.read_text())
    assert base["planner"]["task"] == "game24"
    puzzles = [(1, 1, 4, 6), (2, 9, 10, 12), (4, 9, 10, 13)]
    for name, options in GAME24_STRATEGIES.items():
        data = {**base, "planner": {**base["planner"], "strategy": {"kind": name, **options}}}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        agent = build_agent(load_recipe(path), store=None)
        solved = 0
        for numbers in puzzles:
            result = agent.run(" ".join(map(str, numbers)))
            assert result.answer, (name, result.error)
            assert result.usage.model_calls <= 300
            correct = check_answer(numbers, result.answer)
            # The recipe's final scorer is the exact verifier: "ok" only for a verified
            # (hence correct) answer; a wrong one is "unverified", never "ok".
            if result.status == "ok":
                assert result.verified is True and correct, (name, numbers, result.answer)
            else:
                assert result.status == "unverified" and result.verified is False, name
                assert not correct and result.error and "rejected" in result.error
            solved += correct
        if name != "self_consistency":  # a vote over distinct expressions proves little
            assert solved >= 2, name


def test_game24_recipe_runs_from_the_command_line() -> None:
    result = CliRunner().invoke(app, ["run", str(RECIPE), "-i", "1 5 5 5", "--json"])
    assert result.exit_code == 0, result.output
    assert '"status": "ok"' in result.output
    assert check_answer((1, 5, 5, 5), result.output.split('"answer": "')[1].split('"')[0])


def test_scorers_from_options() -> None:
    planner = SearchPlanner(task="game24", scorer={"kind": "reward"})
    task = planner.task_for("4 9 10 13")
    assert task.scorer == Staged(partial=RewardScorer(), final=VerifierScorer())
    planner = SearchPlanner(task={"kind": "chain", "max_depth": 3}, scorer="judge")
    task = planner.task_for("Why?")
    assert task.scorer == JudgeScorer() and task.max_depth == 3
    planner = SearchPlanner(scorer="reward", final_scorer={"kind": "judge", "samples": 3})
    assert planner.task_for("Why?").scorer == Staged(partial=RewardScorer(),
                                                     final=JudgeScorer(samples=3))
    assert SearchPlanner().task_for("Why?").scorer is None  # the task's default


@pytest.mark.parametrize(("planner", "message"), [
    ("{kind: search, strategy: bfs}",
     "planner.strategy: unknown strategy 'bfs'; valid strategies: 'beam', 'best_of_n'"),
    ("{kind: search, strategy: {kind: beam, widht: 2}}",
     "planner.strategy.widht: unknown option of strategy 'beam'; valid options: width, "
     "expansion, aggregation"),
    ("{kind: search, strategy: {width: 2}}",
     "planner.strategy: strategy {'width': 2} needs a `kind`"),
    ("{kind: search, strategy: {kind: bfs}}",
     "planner.strategy.kind: unknown strategy 'bfs'; valid strategies: 'beam', 'best_of_n'"),
    ("{kind: search, task: sudoku}",
     "planner.task: unknown search task 'sudoku'; valid search tasks: 'chain', 'game24'"),
    ("{kind: search, task: {kind: chain, depth: 3}}",
     "planner.task.depth: unknown option of search task 'chain'; valid options: max_depth, "
     "temperature"),
    ("{kind: search, scorer: oracle}",
     "planner.scorer: unknown scorer 'oracle'; valid scorers: 'judge'"),
    ("{kind: search, final_scorer: {kind: tool}}",
     "planner.final_scorer: scorer {'kind': 'tool'}: kind 'tool' needs "
     "`tool: <registered tool name>`"),
    ("{kind: search, strategies: [beam]}",
     "planner.strategies: unknown option of planner 'search'; valid options: strategy, task, "
     "scorer, final_scorer"),
])
def test_bad_options_fail_at_recipe_load(planner: str, message: str) -> None:
    with pytest.raises(RecipeError, match="planner") as info:
        parse_recipe(f"planner: {planner}\n", path="r.yaml")
    assert str(info.value).startswith(f"r.yaml:1: {message}")


def test_a_scorer_tool_must_be_one_of_the_recipe_tools() -> None:
    text = ("tools: [calculator]\nplanner:\n  kind: search\n"
            "  final_scorer: {kind: tool, tool: calculater}\n")
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, path="r.yaml")
    assert str(info.value) == (
        "r.yaml:4: planner.final_scorer.tool: tool 'calculater' is not one of the recipe's "
        "tools ('calculator'); add it to `tools:`; did you mean 'calculator'?")
    parse_recipe(text.replace("calculater", "calculator"))


def test_budget_exhaustion_is_partial_with_the_best_answer_so_far() -> None:
    agent = Agent(SimulatedModel([TASK], seed=3), store=None, budget=Budget(max_model_calls=5),
                  planner=SearchPlanner(strategy={"kind": "best_of_n", "n": 4}))
    result = agent.run(TASK.question)
    assert result.status == "budget_exhausted" and result.partial
    assert result.answer is not None and result.usage.model_calls == 5
    assert result.error is not None and "budget spent during the search" in result.error


def test_no_answer_fails_with_the_counters() -> None:
    events: list[Event] = []
    agent = Agent(ScriptedModel(lambda r: "I refuse."), store=None, subscribers=[events.append],
                  planner=SearchPlanner(strategy={"kind": "self_consistency", "n": 3}))
    result = agent.run("Why?")
    assert result.status == "failed" and result.answer is None
    assert result.error == ("the search found no answer; candidates=0, distinct_answers=0, "
                            "rollouts=3, unparseable=3")
    actions = [e.action for e in events if isinstance(e, PlannerEvent)]
    assert actions == ["search_started", "search_finished"]


def test_unknown_task_kind_from_code() -> None:
    with pytest.raises(UserError, match="unknown search task 'sudoku'"):
        SearchPlanner(task="sudoku")


def test_no_answer_carries_the_first_provider_error_verbatim() -> None:
    from forethought.models.litellm_import import import_now
    from forethought.models.litellm_model import LiteLLMModel
    from tests.fake_openai import API_KEY, MODEL, FakeOpenAI

    import_now()
    reason = "max_tokens is too large: 999999. This model supports at most 4096 tokens."
    with FakeOpenAI() as server:
        server.error(400, reason)
        server.error(400, reason)
        model = LiteLLMModel(MODEL, api_base=server.base_url, api_key=API_KEY, max_retries=0)
        agent = Agent(model, store=None, cache=False,
                      planner=SearchPlanner(strategy={"kind": "self_consistency", "n": 2}))
        result = agent.run("What is 2 + 2?")
        assert len(server.requests) == 2  # a 400 is not retried
    assert result.status == "failed" and result.answer is None
    assert result.error is not None
    stats, first_failure = result.error.split("; first failure: ")
    assert stats == ("the search found no answer; candidates=0, distinct_answers=0, "
                     "failed_calls=1, rollouts=0")
    assert first_failure.startswith("openai/test-model: HTTP 400: ")
    assert first_failure.endswith(reason)


def test_a_scorer_tool_missing_from_the_run_fails_before_any_call() -> None:
    script = ScriptedModel(["Answer: 4"] * 4)
    agent = Agent(script, store=None, tools=["calculator"],
                  planner=SearchPlanner(final_scorer={"kind": "tool", "tool": "checker"}))
    result = agent.run("What is 2 + 2?")
    assert result.status == "failed" and script.requests == []
    assert result.error == ("the scorer's tool 'checker' is not among the run's tools "
                            "('calculator')")
