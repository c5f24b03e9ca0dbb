"""The Atom-of-Thoughts planner against ScriptedModel: exact behaviour."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest

from forethought.exceptions import RecipeError, UserError
from forethought.models.messages import Message, ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.planners.aot import AoTOptions, AtomOfThoughtsPlanner, parse_contraction
from forethought.planners.aot_atoms import extract_answer
from forethought.planners.aot_decompose import Decomposition, SubQuestion, dag_problem
from forethought.planners.base import PlanOutcome, planner_class, planner_names
from forethought.recipes import build_agent, load_recipe, parse_recipe
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, PlannerEvent
from forethought.runtime.executor import NodeStatus
from forethought.search.base import Strategy, StrategyResult
from forethought.search.machine import Sample, StepMachine
from forethought.search.task import SearchTask

ROOT = Path(__file__).resolve().parents[2]
Q = "How many legs do 7 spiders and 11 ants have together?"


def dag(*subs: tuple[int, str, list[int]]) -> str:
    return json.dumps({"thought": "split", "subquestions": [
        {"id": i, "question": q, "depends_on": d} for i, q, d in subs]})


SPLIT = dag((1, "How many legs do 7 spiders have?", []),
            (2, "How many legs do 11 ants have?", []),
            (3, "What is #1 + #2?", [1, 2]))
ATOMIC = dag((1, "What is 56 + 66?", []))


def run(model: ScriptedModel, question: str = Q, *, budget: Budget | None = None,
        **options: Any) -> tuple[PlanOutcome, list[Event]]:
    events: list[Event] = []
    ctx = RunContext(model=model, budget=BudgetTracker(budget=budget or Budget()))
    ctx.events.subscribe(events.append)
    outcome = asyncio.run(AtomOfThoughtsPlanner(**options).solve(ctx, question))
    return outcome, events


def actions(events: list[Event]) -> list[str]:
    return [e.action for e in events if isinstance(e, PlannerEvent)]


def detail(events: list[Event], action: str) -> str:
    return next(e.detail for e in events if isinstance(e, PlannerEvent) and e.action == action)


def user_text(request: ModelRequest) -> str:
    return "\n".join(m.content for m in request.messages if m.role == "user")


def by_purpose(replies: dict[str, list[str]]) -> Callable[[ModelRequest], str]:
    """A script answering each purpose from its own queue."""
    queues = {k: list(v) for k, v in replies.items()}
    return lambda request: queues[str(request.purpose)].pop(0)


def test_independent_atoms_run_in_parallel_then_contract_then_answer() -> None:
    spans: dict[str, tuple[float, float]] = {}

    async def script(request: ModelRequest) -> str:
        if request.purpose == "decompose":
            return SPLIT if "spiders" in user_text(request) else ATOMIC
        if request.purpose == "contract":
            return "Thought: substitute.\nQuestion: What is 56 + 66?"
        question = request.metadata["question"]
        start = time.perf_counter()
        await asyncio.sleep(0.1)
        spans[question] = (start, time.perf_counter())
        return {"How many legs do 7 spiders have?": "8 legs each.\nAnswer: 56",
                "How many legs do 11 ants have?": "Answer: 66",
                "What is 56 + 66?": "Answer: 122"}[question]

    model = ScriptedModel(script)
    outcome, events = run(model)
    assert (outcome.answer, outcome.status, outcome.partial) == ("122", "ok", False)
    assert [r.purpose for r in model.requests] == [
        "decompose", "answer", "answer", "contract", "decompose", "answer"]
    spider, ant = spans["How many legs do 7 spiders have?"], spans["How many legs do 11 ants have?"]
    assert max(spider[0], ant[0]) < min(spider[1], ant[1]), "the two atoms did not overlap"
    contract = user_text(model.requests[3])
    assert contract == (f"Question: {Q}\n\nAnswered sub-questions:\n"
                        "#1. How many legs do 7 spiders have? -> 56\n"
                        "#2. How many legs do 11 ants have? -> 66\n\n"
                        "Open sub-questions:\n#3. What is #1 + #2? (needs #1, #2)")
    assert actions(events) == ["decompose", "contract", "decompose", "atomic"]
    assert detail(events, "decompose") == "step 1: 3 sub-questions, 2 independent, depth 2"
    assert detail(events, "contract") == "step 1: What is 56 + 66?"
    (graph,) = outcome.rounds
    assert {k: r.status for k, r in graph.nodes.items()} == {
        "1.1": NodeStatus.DONE, "1.2": NodeStatus.DONE, "1.contract": NodeStatus.DONE}
    started = [e.node_id for e in events if e.kind == "node_started"]
    assert started[-1] == "1.contract"


def test_each_step_sees_only_the_contracted_question() -> None:
    chain = {
        "Who is the rival of the mentor of Ada?": dag(
            (1, "Who is the mentor of Ada?", []), (2, "Who is the rival of #1?", [1])),
        "Who is the rival of Bea?": dag((1, "Who is the rival of Bea?", [])),
    }
    model = ScriptedModel(lambda r: {
        "decompose": lambda: chain[r.metadata["question"]],
        "answer": lambda: "Answer: Bea" if "mentor" in r.metadata["question"] else "Answer: Cy",
        "contract": lambda: "Question: Who is the rival of Bea?",
    }[str(r.purpose)]())
    outcome, _ = run(model, "Who is the rival of the mentor of Ada?")
    assert outcome.answer == "Cy"
    first_contract = [r.purpose for r in model.requests].index("contract")
    for request in model.requests[first_contract + 1:]:
        prompt = "\n".join(m.content for m in request.messages)
        assert "Ada" not in prompt and "mentor" not in prompt, prompt
        assert user_text(request) == "Question: Who is the rival of Bea?"


def test_a_cycle_is_reasked_once_then_answered_directly() -> None:
    cycle = dag((1, "a?", [2]), (2, "b?", [1]))
    model = ScriptedModel(by_purpose({"decompose": [cycle, cycle], "answer": ["Answer: 122"]}))
    outcome, events = run(model)
    assert outcome.answer == "122" and outcome.status == "ok"
    assert [r.purpose for r in model.requests] == ["decompose", "decompose", "answer"]
    repair = model.requests[1].messages[-1].content
    assert "the dependencies must not form a cycle" in repair
    assert "'1' needs '2', '2' needs '1'" in repair
    assert actions(events) == ["fallback"]
    assert "no valid decomposition after a repair turn" in detail(events, "fallback")
    assert "cycle" in detail(events, "fallback")
    assert user_text(model.requests[2]) == f"Question: {Q}"


def test_a_dangling_dependency_is_repaired_by_the_second_reply() -> None:
    dangling = dag((1, "a?", []), (2, "b?", [7]))
    model = ScriptedModel(by_purpose({
        "decompose": [dangling, SPLIT, ATOMIC], "answer": ["Answer: 56", "Answer: 66",
                                                           "Answer: 122"],
        "contract": ["Question: What is 56 + 66?"]}))
    outcome, events = run(model)
    assert outcome.answer == "122"
    assert "sub-question 2 depends on 7, which is not a sub-question id; valid ids: 1, 2" \
        in model.requests[1].messages[-1].content
    assert actions(events)[:2] == ["decompose_repaired", "decompose"]


def test_unparseable_json_gets_a_repair_turn_then_falls_back() -> None:
    model = ScriptedModel(by_purpose({"decompose": ["sure! here it is", "{not json"],
                                      "answer": ["Answer: 122"]}))
    outcome, events = run(model)
    assert outcome.answer == "122"
    assert "the reply is not valid JSON" in model.requests[1].messages[-1].content
    assert actions(events) == ["fallback"]


def test_budget_spent_mid_run_returns_the_latest_atom_answer_as_partial() -> None:
    model = ScriptedModel(by_purpose({"decompose": [SPLIT], "answer": ["Answer: 56",
                                                                       "Answer: 66"]}))
    outcome, events = run(model, budget=Budget(max_model_calls=3))
    assert outcome.status == "budget_exhausted" and outcome.partial
    assert outcome.answer == "66"
    assert "model calls 3 >= limit 3" in str(outcome.error)
    assert len(outcome.rounds) == 1
    assert outcome.rounds[0].nodes["1.contract"].status is NodeStatus.FAILED
    assert [e.kind for e in events].count("budget_exhausted") == 1


def test_budget_spent_before_any_answer_gives_no_answer() -> None:
    outcome, _ = run(ScriptedModel([]), budget=Budget(max_model_calls=0))
    assert (outcome.answer, outcome.status, outcome.partial) == (None, "budget_exhausted", True)


def test_a_failed_atom_falls_back_to_answering_the_question() -> None:
    model = ScriptedModel(by_purpose({"decompose": [SPLIT], "answer": ["Answer: 56", "",
                                                                       "Answer: 122"]}))
    outcome, events = run(model, max_concurrency=1)
    assert outcome.answer == "122"
    assert [r.purpose for r in model.requests] == ["decompose", "answer", "answer", "answer"]
    assert actions(events) == ["decompose", "fallback"]
    assert "step 1: 1.2 failed (no answer to the sub-question 'How many legs do 11 ants " \
           "have?')" in detail(events, "fallback")


def test_a_contraction_without_progress_falls_back() -> None:
    model = ScriptedModel(by_purpose({"decompose": [SPLIT], "answer": ["56", "66", "122"],
                                      "contract": [f"Question:  {Q}"]}))
    outcome, events = run(model)
    assert outcome.answer == "122"
    assert actions(events) == ["decompose", "fallback"]
    assert "made no progress" in detail(events, "fallback")


def test_depth_is_bounded_by_the_first_decomposition_and_by_max_depth() -> None:
    deep = dag((1, "a?", []), (2, "b #1?", [1]), (3, "c #2?", [2]))
    script = by_purpose({"decompose": [deep, deep], "answer": ["1", "2", "3"],
                         "contract": ["Question: next one?", "Question: last one?"]})
    model = ScriptedModel(script)
    outcome, events = run(model, max_depth=2)
    assert outcome.answer == "3"
    assert actions(events) == ["decompose", "contract", "decompose", "contract", "depth_limit"]
    assert user_text(model.requests[-1]) == "Question: last one?"

    two_deep = dag((1, "a?", []), (2, "b #1?", [1]))
    model = ScriptedModel(by_purpose({"decompose": [two_deep, deep], "answer": ["1", "2", "3"],
                                      "contract": ["Question: x?", "Question: y?"]}))
    outcome, events = run(model)  # max_depth 8, but the first DAG is 2 deep
    assert actions(events)[-1] == "depth_limit" and outcome.answer == "3"
    assert "2 steps taken" in detail(events, "depth_limit")


class FirstOfThree(Strategy):
    """A toy strategy: three samples, keep the most common extracted answer."""

    name = "first_of_three"
    Options = pydantic.create_model("FirstOfThreeOptions")

    def steps(self, task: SearchTask) -> StepMachine:
        request = ModelRequest(messages=(Message.user(f"Question: {task.question}"),),
                               purpose="sample")
        outcomes = yield [Sample(request=request, n=3)]
        answers = [extract_answer(t) for t in outcomes[0].texts]
        best = max(set(answers), key=answers.count) if answers else None
        return StrategyResult(answer=best, partial=outcomes[0].budget_exceeded)


def test_any_strategy_object_answers_the_atomic_questions() -> None:
    votes = iter(["Answer: 121", "Answer: 122", "Answer: 122"])
    model = ScriptedModel(lambda r: ATOMIC if r.purpose == "decompose" else next(votes))
    outcome, _ = run(model, strategy=FirstOfThree())
    assert outcome.answer == "122"
    assert [r.purpose for r in model.requests] == ["decompose", "sample", "sample", "sample"]
    assert model.requests[1].messages[0].content == f"Question: {Q}"


def test_a_strategy_cut_short_by_the_budget_gives_a_partial_answer() -> None:
    model = ScriptedModel(lambda r: ATOMIC if r.purpose == "decompose" else "Answer: 122")
    outcome, _ = run(model, strategy=FirstOfThree(), budget=Budget(max_model_calls=2))
    assert (outcome.answer, outcome.status, outcome.partial) == ("122", "budget_exhausted", True)
    assert outcome.error == f"budget spent while answering {Q!r}"


def test_a_registered_strategy_by_name_solves_each_atom_as_a_search_task() -> None:
    """Self-consistency over the generic ``chain`` task: every sub-question gets n rollouts."""
    def script(request: ModelRequest) -> str:
        if request.purpose == "decompose":
            return SPLIT if "spiders" in user_text(request) else ATOMIC
        if request.purpose == "contract":
            return "Question: What is 56 + 66?"
        assert request.purpose == "rollout"
        return {"How many legs do 7 spiders have?": "Step 1: 7 * 8.\nAnswer: 56",
                "How many legs do 11 ants have?": "Step 1: 11 * 6.\nAnswer: 66",
                "What is 56 + 66?": "Step 1: add.\nAnswer: 122"}[request.metadata["question"]]

    model = ScriptedModel(script)
    outcome, _ = run(model, strategy="self_consistency", strategy_options={"n": 3})
    assert outcome.answer == "122"
    assert [r.purpose for r in model.requests].count("rollout") == 9
    planner = AtomOfThoughtsPlanner.from_options({"strategy": "self_consistency",
                                                  "strategy_options": {"n": 2}})
    assert isinstance(planner, AtomOfThoughtsPlanner)


def test_options_name_valid_strategies_and_tasks() -> None:
    with pytest.raises(pydantic.ValidationError,
                       match=r"unknown strategy 'nope'; valid strategies \(or 'direct'\): "
                             r"'beam', 'best_of_n'"):
        AoTOptions(strategy="nope")
    with pytest.raises(pydantic.ValidationError, match="need a strategy other than 'direct'"):
        AoTOptions(strategy_options={"n": 3})
    with pytest.raises(pydantic.ValidationError, match=r"invalid options for strategy "
                                                       r"'self_consistency': n: "):
        AoTOptions(strategy="self_consistency", strategy_options={"n": 0})
    with pytest.raises(pydantic.ValidationError, match="unknown search task 'nope'"):
        AoTOptions(strategy="self_consistency", task="nope")
    with pytest.raises(pydantic.ValidationError, match="invalid options for search task 'chain'"):
        AoTOptions(strategy="self_consistency", task_options={"colour": "red"})
    with pytest.raises(UserError, match="strategy_options apply to a strategy given by name"):
        AtomOfThoughtsPlanner(strategy=FirstOfThree(), strategy_options={"n": 2})
    with pytest.raises(UserError, match="max_depth"):
        AtomOfThoughtsPlanner.from_options({"max_depth": 0})


def test_decomposition_validation_messages() -> None:
    def subs(*spec: tuple[int, list[int]]) -> list[SubQuestion]:
        return [SubQuestion(id=i, question=f"q{i}?", depends_on=d) for i, d in spec]

    assert dag_problem(subs((1, []), (2, [1]))) is None
    assert dag_problem(subs((1, []), (1, []))) == \
        "sub-question ids must be unique; 1 appear more than once"
    assert dag_problem(subs((1, [1]))) == "sub-question 1 depends on itself"
    assert "depends on 9, which is not a sub-question id" in str(dag_problem(subs((1, [9]))))
    assert dag_problem(subs((1, [3]), (2, [1]), (3, [2]))) == (
        "the dependencies must not form a cycle: cycle in decomposition at sub-question "
        "'1': '1' needs '3', '3' needs '2', '2' needs '1'")
    d = Decomposition.model_validate_json(SPLIT)
    assert (d.depth(), d.atomic, [s.id for s in d.independent()]) == (2, False, [1, 2])
    with pytest.raises(pydantic.ValidationError, match="extra"):
        Decomposition.model_validate({"subquestions": [{"id": 1, "question": "q", "x": 1}]})


def test_reply_parsers() -> None:
    assert parse_contraction("Thought: ok\nQuestion: What is\n 3 + 4?") == "What is 3 + 4?"
    assert parse_contraction("What is 3 + 4?") == "What is 3 + 4?"
    assert parse_contraction("Question:   ") is None
    assert extract_answer("Reasoning.\nAnswer: 42\n") == "42"
    assert extract_answer("  42 ") == "42"
    assert extract_answer("") is None


def test_registered_and_usable_from_a_recipe() -> None:
    assert {"aot", "react", "llmcompiler"} <= set(planner_names())
    assert planner_class("aot") is AtomOfThoughtsPlanner
    recipe = load_recipe(ROOT / "recipes" / "aot.yaml")
    agent = build_agent(recipe, store=None)
    assert isinstance(agent.planner, AtomOfThoughtsPlanner)
    result = agent.run(str(recipe.input))
    assert result.status == "ok" and result.answer is not None
    assert result.usage.model_calls >= 4
    with pytest.raises(RecipeError, match=r"^<recipe>:4: planner\.strategy: unknown strategy "
                                          r"'nope'; valid strategies \(or 'direct'\): 'beam'"):
        parse_recipe("model: simulated\nplanner:\n  kind: aot\n  strategy: nope\n")
