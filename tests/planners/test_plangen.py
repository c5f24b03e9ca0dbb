"""The plangen planner: constraints from the task or the constraint agent (else unguided, with
an event), constraint-guided strategies, the selection agent's decisions as events, Mixture of
Algorithms, budgets that run out mid-mixture, statistics learnt across runs, options and
recipe errors, and the three NATURAL PLAN recipes offline."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from forethought._options import OptionsError
from forethought.agents.agent import Agent, AgentResult
from forethought.cli import app
from forethought.exceptions import RecipeError, UnknownNameError, UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.models.simulated import SimulatedModel
from forethought.planners import base as planner_base
from forethought.planners.base import planner_class, planner_names, register_planner
from forethought.planners.plangen import PlanGENPlanner
from forethought.planners.search import SearchPlanner
from forethought.recipes import load_recipe, parse_recipe
from forethought.runtime.budget import Budget
from forethought.runtime.events import Event
from forethought.runtime.store import RunStore
from forethought.tasks.natural_plan.dataset import Instance, load_instances
from forethought.tasks.natural_plan.metrics import exact_match
from forethought.tasks.natural_plan.simulated import simulated_task

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = "Here is the proposed time: Monday, 13:30 - 14:30"


def calendar(n: int = 6) -> list[Instance]:
    return load_instances("calendar")[:n]


def cal_543() -> Instance:
    return next(i for i in load_instances("calendar") if i.id == "calendar_scheduling_example_543")


def run(planner: PlanGENPlanner, question: str, model: Any = None, **agent: Any
        ) -> tuple[AgentResult, list[Event]]:
    events: list[Event] = []
    a = Agent(model or SimulatedModel(seed=1), planner=planner, subscribers=[events.append],
              store=agent.pop("store", None), **agent)
    return a.run(question), events


def kinds(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.to_dict() for e in events if e.kind == kind]


def test_registered_through_entry_points_like_a_plugin() -> None:
    points = {ep.name: ep.value for ep in importlib.metadata.entry_points(
        group="forethought.planners")}
    assert points["plangen"] == "forethought.planners.plangen:PlanGENPlanner"
    assert {"aot", "llmcompiler", "plangen", "react", "search"} <= set(planner_names())
    assert planner_class("plangen") is PlanGENPlanner


def test_listing_planners_imports_none_of_them() -> None:
    code = ("import sys\nfrom forethought.planners.base import planner_names\n"
            "names = planner_names()\nprint('plangen' in names, "
            "'forethought.planners.plangen' in sys.modules, "
            "'forethought.planners.react' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "False", "False"]


def test_plugins_and_code_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planner_base, "_PLANNERS", {})
    monkeypatch.setattr(planner_base, "_entry_points_loaded", False)
    points = [SimpleNamespace(name="mine", value="plug:Mine", load=lambda: SearchPlanner),
              SimpleNamespace(name="broken", value="plug:nothing", load=lambda: len)]
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: points if group == "forethought.planners" else [])
    assert planner_names() == ["broken", "mine"]
    assert planner_class("mine") is SearchPlanner
    with pytest.raises(UserError, match=r"entry point 'broken' \(plug:nothing\) of group "
                                        r"'forethought.planners' is not a Planner subclass"):
        planner_class("broken")
    register_planner("mine", lambda: PlanGENPlanner)  # code takes precedence
    assert planner_class("mine") is PlanGENPlanner
    with pytest.raises(UnknownNameError, match="unknown planner 'nope'; valid planners: "
                                              "'broken', 'mine'"):
        planner_class("nope")


def test_a_natural_plan_instance_with_the_parsers_constraints() -> None:
    inst = cal_543()
    result, events = run(PlanGENPlanner(task="natural_plan_calendar"), inst.prompt_5shot)
    assert result.status == "ok" and result.verified is True and result.answer == GOLDEN
    (extracted,) = kinds(events, "constraints_extracted")
    assert (extracted["source"], extracted["count"], extracted["formal"],
            extracted["guided"]) == ("task", 6, 6, True)
    decision = kinds(events, "selection_decision")[0]
    assert decision["family"] == "natural_plan.calendar" and decision["round"] == 1
    assert decision["features"] == {"constraints": 6.0} and decision["rating"] is not None
    assert [a["arm"] for a in decision["arms"]] == ["formalise_solve", "zero_shot", "refine",
                                                     "best_of_n", "tot_bfs", "rebase"]
    assert set(decision["arms"][0]) == {"arm", "pulls", "mean_reward", "prior", "bonus",
                                        "ceiling", "score", "available"}
    assert all(a["score"] <= a["ceiling"] for a in decision["arms"])
    assert decision["arms"][0]["prior"] == 1.0  # z3 expresses every constraint here
    assert decision["chosen"] == max(decision["arms"], key=lambda a: a["score"])["arm"]
    finished = kinds(events, "arm_finished")
    assert finished[-1]["verified"] is True and finished[-1]["reward"] is not None


def test_the_constraint_agent_extracts_them_when_asked() -> None:
    inst = cal_543()
    model = SimulatedModel([simulated_task(inst)], seed=3, extract_omission=0.0,
                           extract_hallucination=0.0, extract_invalid=0.0)
    result, events = run(PlanGENPlanner(task="natural_plan_calendar", constraints="extract"),
                         inst.prompt_5shot, model)
    (extracted,) = kinds(events, "constraints_extracted")
    assert extracted["source"] == "model:simulated" and extracted["count"] == 6
    assert result.verified is True and result.answer == GOLDEN


def test_an_invalid_constraint_set_twice_runs_the_instance_unguided() -> None:
    def reply(request: ModelRequest) -> str:
        if request.purpose == "constraints":
            return '{"constraints": [{"id": "x", "text": "t", "check": {"kind": "prolog"}}]}'
        if request.purpose == "judge":
            return "Yes"
        return "Step 1: think\nAnswer: 4"

    planner = PlanGENPlanner(task="chain", selection={"rate": False})
    result, events = run(planner, "What is 2 + 2?", ScriptedModel(reply))
    (extracted,) = kinds(events, "constraints_extracted")
    assert extracted["guided"] is False and extracted["count"] == 0
    assert extracted["source"] == "model:scripted (unusable)"
    assert "invalid constraint set after a repair turn" in extracted["error"]
    assert "Input tag 'prolog' found using 'kind'" in extracted["error"]
    decision = kinds(events, "selection_decision")[0]
    assert decision["bin"] == "unguided.mid"
    assert "formalise_solve" not in [a["arm"] for a in decision["arms"]]
    assert result.answer == "4" and result.verified is True  # the judge said yes


def test_constraints_from_the_task_only_when_it_has_them() -> None:
    result, _ = run(PlanGENPlanner(task="chain", constraints="task"), "What is 2 + 2?",
                    ScriptedModel([]))
    assert result.status == "failed" and result.answer is None
    assert result.error == ("task 'chain' supplies no constraint set; use `constraints: "
                            "extract` or `auto`")


def test_constraints_none_runs_unguided_on_purpose() -> None:
    def reply(request: ModelRequest) -> str:
        return "Yes" if request.purpose == "judge" else GOLDEN

    planner = PlanGENPlanner(task="natural_plan_calendar", constraints="none",
                             strategy={"kind": "best_of_n", "n": 2})
    result, events = run(planner, cal_543().prompt_5shot, ScriptedModel(reply))
    (extracted,) = kinds(events, "constraints_extracted")
    assert (extracted["source"], extracted["guided"]) == ("none", False)
    assert extracted["error"] == "unguided by configuration (`constraints: none`)"
    assert result.answer == GOLDEN and result.verified is True
    assert result.usage.model_calls == 4  # two plans, each judged (a judge is a sample)


def test_mixture_of_algorithms_switches_until_an_answer_is_verified() -> None:
    def reply(request: ModelRequest) -> str:
        return "Here is the proposed time: Monday, 9:00 - 10:00"  # a wrong slot

    planner = PlanGENPlanner(task="natural_plan_calendar", selection={"rate": False},
                             arms=[{"kind": "best_of_n", "name": "sample", "n": 2, "prior": 1.0},
                                   {"kind": "formalise_solve", "prior": 0.0}])
    result, events = run(planner, cal_543().prompt_5shot, ScriptedModel(reply))
    decisions = kinds(events, "selection_decision")
    assert [(d["round"], d["chosen"]) for d in decisions] == [(1, "sample"),
                                                              (2, "formalise_solve")]
    assert decisions[1]["reason"].startswith("switch: best verified score so far 0.")
    assert [a["available"] for a in decisions[1]["arms"]] == [False, True]
    finished = kinds(events, "arm_finished")
    assert [(f["arm"], f["verified"], f["model_calls"]) for f in finished] == [
        ("sample", False, 2), ("formalise_solve", True, 0)]
    assert result.answer == GOLDEN and result.status == "ok" and result.verified is True


def test_without_mixture_one_arm_decides() -> None:
    planner = PlanGENPlanner(task="natural_plan_calendar", selection={"rate": False},
                             mixture={"enabled": False},
                             arms=[{"kind": "best_of_n", "n": 1, "prior": 1.0},
                                   {"kind": "formalise_solve", "prior": 0.0}])
    result, events = run(planner, cal_543().prompt_5shot,
                         ScriptedModel(["Here is the proposed time: Monday, 9:00 - 10:00"]))
    assert len(kinds(events, "selection_decision")) == 1
    assert result.status == "unverified" and result.verified is False
    assert result.error is not None and "the verifier rejected every candidate" in result.error


def test_a_budget_spent_mid_mixture_returns_the_best_so_far_partial() -> None:
    replies = iter(["Here is the proposed time: Monday, 9:00 - 10:00",
                    "Here is the proposed time: Monday, 11:00 - 12:00"] * 10)
    # exploration 0: the arms are taken in the order of their priors
    planner = PlanGENPlanner(task="natural_plan_calendar",
                             selection={"rate": False, "exploration": 0},
                             arms=[{"kind": "best_of_n", "name": "one", "n": 1, "prior": 1.0},
                                   {"kind": "best_of_n", "name": "many", "n": 8, "prior": 0.5},
                                   {"kind": "formalise_solve", "prior": 0.0}])
    result, events = run(planner, cal_543().prompt_5shot,
                         ScriptedModel(lambda request: next(replies)),
                         budget=Budget(max_model_calls=3))
    assert result.status == "budget_exhausted" and result.partial
    assert result.answer is not None and result.answer.startswith("Here is the proposed time")
    assert [f["arm"] for f in kinds(events, "arm_finished")] == ["one", "many"]
    assert len(kinds(events, "selection_decision")) == 2  # formalise_solve never came


def test_a_budget_spent_exactly_between_arms_stops_the_mixture() -> None:
    # exploration 0: the arms are taken in the order of their priors
    planner = PlanGENPlanner(task="natural_plan_calendar",
                             selection={"rate": False, "exploration": 0},
                             arms=[{"kind": "best_of_n", "name": "one", "n": 1, "prior": 1.0},
                                   {"kind": "formalise_solve", "prior": 0.0}])
    result, events = run(planner, cal_543().prompt_5shot,
                         ScriptedModel(["Here is the proposed time: Monday, 9:00 - 10:00"]),
                         budget=Budget(max_model_calls=1))
    assert len(kinds(events, "selection_decision")) == 1
    assert result.status == "budget_exhausted" and result.partial
    assert result.verified is False and result.answer is not None


def test_a_fixed_strategy_with_refinement() -> None:
    replies = iter(["Here is the proposed time: Monday, 9:00 - 10:00", GOLDEN])
    prompts: list[ModelRequest] = []

    def reply(request: ModelRequest) -> str:
        prompts.append(request)
        return next(replies)

    planner = PlanGENPlanner(task="natural_plan_calendar", strategy={"kind": "best_of_n", "n": 1},
                             refine=2)
    result, events = run(planner, cal_543().prompt_5shot, ScriptedModel(reply))
    assert result.answer == GOLDEN and result.verified is True
    assert [p.purpose for p in prompts] == ["rollout", "refine"]
    assert "busy.Ryan" in prompts[1].messages[-1].content or "Violated:" in \
        prompts[1].messages[-1].content
    assert kinds(events, "selection_decision") == []


def test_a_second_run_starts_from_what_the_first_learnt(tmp_path: Path) -> None:
    instances = calendar(8)
    model = SimulatedModel([simulated_task(i) for i in instances], seed=2)

    def one_pass() -> tuple[int, list[int]]:
        store = RunStore(tmp_path / "runs.sqlite")
        events: list[Event] = []
        agent = Agent(model, planner=PlanGENPlanner(task="natural_plan_calendar"),
                      store=store, subscribers=[events.append])
        calls = sum(agent.run(i.prompt_5shot).usage.model_calls for i in instances)
        store.close()
        first = [d for d in kinds(events, "selection_decision") if d["round"] == 1]
        return calls, [sum(a["pulls"] for a in d["arms"]) for d in first]

    _, pulls_1 = one_pass()
    _, pulls_2 = one_pass()  # a new planner: only the store remembers
    # Each instance falls in the same bin both times (the rating is greedy), so each decision
    # of the second pass sees at least what the same decision saw before, plus its own pull.
    assert pulls_1[0] == 0 and pulls_2[0] > 0
    assert all(b > a for a, b in zip(pulls_1, pulls_2, strict=True))


def test_statistics_stay_in_memory_without_a_store_or_when_asked(tmp_path: Path) -> None:
    planner = PlanGENPlanner(task="natural_plan_calendar", selection={"statistics": "memory"})
    store = RunStore(tmp_path / "runs.sqlite")
    run(planner, cal_543().prompt_5shot, store=store)
    store.close()
    assert planner.memory.get("natural_plan.calendar", "low") != {} or \
        planner.memory.get("natural_plan.calendar", "mid") != {}
    import sqlite3

    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "selection_stats" not in tables


# --- options and recipes ----------------------------------------------------------------------

@pytest.mark.parametrize(("options", "field", "message"), [
    ({"arms": [{"kind": "beem"}]}, "arms.0.kind",
     "unknown strategy 'beem'; valid strategies: 'beam', 'best_of_n', 'formalise_solve', "
     "'mcts'"),
    ({"arms": [{"kind": "best_of_n", "n": 0}]}, "arms.0.n",
     "Input should be greater than or equal to 1, got 0"),
    ({"arms": [{"kind": "best_of_n"}, {"kind": "best_of_n"}]}, "arms.1.name",
     "two arms are named 'best_of_n'; give each a distinct `name`"),
    ({"arms": [{"kind": "rebase", "prior": 1.5}]}, "arms.0.prior",
     "a prior is a number in [0, 1] or a non-empty list of them, got 1.5"),
    ({"arms": []}, "arms", "List should have at least 1 item"),
    ({"strategy": {"kind": "tot", "breadth": 2}}, "strategy.kind", "unknown strategy 'tot'"),
    ({"task": "natural_plan_chess"}, "task", "unknown search task 'natural_plan_chess'"),
    ({"selection": {"bins": 9}}, "selection.bins",
     "Input should be less than or equal to 4, got 9"),
    ({"constraints": "parse"}, "constraints",
     "Input should be 'auto', 'task', 'extract' or 'none', got 'parse'"),
])
def test_bad_options_are_refused_where_they_are(options: dict[str, Any], field: str,
                                                message: str) -> None:
    with pytest.raises(OptionsError) as info:
        PlanGENPlanner.from_options(options)
    problem = info.value.problems[0]
    assert problem.field == field and message in problem.message, problem
    assert str(info.value).startswith("invalid options for planner 'plangen': ")


def test_an_unregistered_arm_fails_when_the_recipe_is_checked() -> None:
    text = ("planner:\n  kind: plangen\n  task: natural_plan_calendar\n  arms:\n"
            "    - {kind: best_of_n, n: 2}\n    - kind: tree_search\n      width: 3\n")
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, path="r.yaml")
    err = info.value
    assert (err.line, err.field) == (6, "planner.arms.1.kind")
    assert "unknown strategy 'tree_search'; valid strategies: 'beam'" in str(err)


@pytest.mark.parametrize("domain", ["calendar", "meeting", "trip"])
def test_the_natural_plan_recipes_run_offline(domain: str, tmp_path: Path) -> None:
    path = ROOT / "recipes" / f"natural_plan_{domain}.yaml"
    recipe = load_recipe(path)
    assert recipe.planner_config().kind == "plangen"
    result = CliRunner().invoke(app, ["run", str(path), "--json", "--store",
                                      str(tmp_path / "runs.sqlite")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["status"] == "ok" and out["verified"] is True and out["answer"]


def test_dataset_instances_through_agent_run_are_mostly_exact() -> None:
    instances = calendar(10)
    model = SimulatedModel([simulated_task(i) for i in instances], seed=4)
    agent = Agent(model, planner=PlanGENPlanner(task="natural_plan_calendar"), store=None)
    scores = [exact_match(agent.run(i.prompt_5shot).answer or "", i) for i in instances]
    assert sum(scores) >= 9


def test_the_trace_shows_why_each_arm_was_chosen(tmp_path: Path) -> None:
    from forethought.trace.html import page_data
    from forethought.trace.model import build_trace

    def reply(request: ModelRequest) -> str:
        return "Here is the proposed time: Monday, 9:00 - 10:00"  # a wrong slot

    planner = PlanGENPlanner(task="natural_plan_calendar", selection={"rate": False},
                             arms=[{"kind": "best_of_n", "name": "sample", "n": 2, "prior": 1.0},
                                   {"kind": "formalise_solve", "prior": 0.0}])
    with RunStore(tmp_path / "runs.sqlite") as store:
        result, _ = run(planner, cal_543().prompt_5shot, ScriptedModel(reply), store=store)
        trace = build_trace(result.run_id, store.events(result.run_id, content=True),
                            store.get_run(result.run_id))
    decisions = trace.decisions
    assert [d["kind"] for d in decisions] == ["selection_decision", "arm_finished",
                                              "selection_decision", "arm_finished"]
    assert [d["chosen"] for d in decisions if d["kind"] == "selection_decision"] == [
        "sample", "formalise_solve"]
    assert [a["arm"] for a in decisions[0]["arms"]] == ["sample", "formalise_solve"]
    # The page embeds the same events for its Decisions tab, under their own kinds.
    notes = page_data(trace)["notes"]
    assert [n["k"] for n in notes if n["k"] in ("selection_decision", "arm_finished")] == [
        d["kind"] for d in decisions]
