"""Atom of Thoughts and ReAct on SimulatedModel: the simulator's multi-hop questions and its
decompose / contract / react replies (exact), and the statistical shape (seeded, tolerant):
AoT's prompt per step stays flat as the reasoning gets deeper, ReAct's grows linearly."""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections.abc import Sequence

import pytest

from forethought.exceptions import UserError
from forethought.models.messages import Message, ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.answers import same_answer
from forethought.models.simulated.arithmetic import find_arithmetic
from forethought.models.simulated.multihop import (
    HopWorld,
    MultiHopQuestion,
    arithmetic_question,
    render_expr,
)
from forethought.planners.aot import AtomOfThoughtsPlanner, open_line, parse_contraction
from forethought.planners.aot_atoms import DirectAnswer
from forethought.planners.aot_decompose import Decomposition
from forethought.planners.base import Planner
from forethought.planners.react import ReActPlanner
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, ModelCallFinished
from forethought.runtime.executor import NodeStatus
from forethought.tools.base import Tool, ToolRegistry, tool


def question_for(family: str, depth: int, seed: int) -> tuple[MultiHopQuestion, list[Tool | str]]:
    if family == "hops":
        world = HopWorld(seed=seed)
        return world.question(depth, seed=seed), [tool(world.lookup)]
    return arithmetic_question(depth, seed=seed), ["calculator"]


def solve(planner: Planner, question: MultiHopQuestion, tools: Sequence[Tool | str],
          seed: int) -> tuple[str | None, list[ModelCallFinished]]:
    ctx = RunContext(model=SimulatedModel(question.tasks, seed=seed), tools=ToolRegistry(tools))
    calls: list[ModelCallFinished] = []

    def record(event: Event) -> None:
        if isinstance(event, ModelCallFinished):
            calls.append(event)

    ctx.events.subscribe(record)
    outcome = asyncio.run(planner.solve(ctx, question.question))
    return outcome.answer, calls


def step_of(node_id: str | None) -> int:
    return int(str(node_id).removeprefix("step-").split(".", 1)[0])


def slope(ys: Sequence[float]) -> float:
    xs = range(1, len(ys) + 1)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / \
        sum((x - mx) ** 2 for x in xs)


# --- the statistical shape -------------------------------------------------------------------


@pytest.mark.parametrize("family", ["hops", "arithmetic"])
def test_prompt_per_step_is_flat_for_aot_and_grows_linearly_for_react(family: str) -> None:
    by_step: dict[str, dict[int, list[int]]] = {"aot": {}, "react": {}}
    for seed in range(4):
        question, tools = question_for(family, 8, seed)
        for name, planner in (("aot", AtomOfThoughtsPlanner()), ("react", ReActPlanner())):
            _, calls = solve(planner, question, tools, seed)
            largest: dict[int, int] = {}
            for call in calls:
                k = step_of(call.node_id)
                largest[k] = max(largest.get(k, 0), call.usage.prompt_tokens)
            for k, tokens in largest.items():
                by_step[name].setdefault(k, []).append(tokens)
    profile = {name: [statistics.fmean(v) for _, v in sorted(steps.items())]
               for name, steps in by_step.items()}
    aot, react = slope(profile["aot"]), slope(profile["react"])
    assert len(profile["react"]) == 9  # eight lookups or operations, then Finish
    assert react > 15, profile["react"]  # tokens per step: one more Thought/Action/Observation
    assert all(b > a for a, b in itertools.pairwise(profile["react"]))
    assert aot <= 0.1 * react, profile["aot"]
    assert max(profile["aot"]) <= 1.1 * profile["aot"][0], "a later AoT step saw a longer prompt"


@pytest.mark.parametrize("family", ["hops", "arithmetic"])
def test_prompt_per_call_grows_much_slower_with_depth_for_aot(family: str) -> None:
    means: dict[str, list[float]] = {"aot": [], "react": []}
    depths = (1, 4, 8)
    for depth in depths:
        for name, planner in (("aot", AtomOfThoughtsPlanner()), ("react", ReActPlanner())):
            per_run: list[float] = []
            for seed in range(3):
                question, tools = question_for(family, depth, seed)
                _, calls = solve(planner, question, tools, seed)
                per_run.append(statistics.fmean(c.usage.prompt_tokens for c in calls))
            means[name].append(statistics.fmean(per_run))
    growth = {name: (m[-1] - m[0]) / (depths[-1] - depths[0]) for name, m in means.items()}
    assert growth["react"] > 8, means
    assert growth["aot"] <= growth["react"] / 3, means


def test_aot_beats_one_direct_answer_on_deep_questions() -> None:
    """Each atom is easy, so decomposing beats answering an 8-operation question at once."""
    aot_right = direct_right = 0
    trials = 25
    for seed in range(trials):
        question = arithmetic_question(6, seed=seed)
        answer, _ = solve(AtomOfThoughtsPlanner(), question, [], seed)
        aot_right += answer is not None and same_answer(answer, question.answer)
        ctx = RunContext(model=SimulatedModel(seed=seed))
        direct = asyncio.run(DirectAnswer().solve(ctx, question.question))
        direct_right += direct.answer is not None and same_answer(direct.answer, question.answer)
    assert aot_right / trials >= 0.5
    assert direct_right / trials <= 0.35
    assert aot_right > direct_right + 5


# --- the simulator's replies, exactly ------------------------------------------------------


def decompose(model: SimulatedModel, question: str) -> Decomposition:
    request = ModelRequest(messages=(Message.user(f"Question: {question}"),),
                           purpose="decompose", metadata={"question": question})
    return Decomposition.model_validate_json(asyncio.run(model.request(request)).text)


@pytest.mark.parametrize("question", [
    arithmetic_question(5, seed=3), arithmetic_question(3, seed=1, branching=True),
    HopWorld(seed=2).question(4, seed=5)], ids=["chain", "branching", "hops"])
def test_the_simulator_decomposes_into_the_known_structure(question: MultiHopQuestion) -> None:
    model = SimulatedModel(question.tasks)
    d = decompose(model, question.question)
    assert [(s.id, s.question, tuple(s.depends_on)) for s in d.subquestions] == \
        [(n.id, n.question, n.depends_on) for n in question.nodes]
    assert d.depth() == question.depth
    answers = {n.id: n.answer for n in question.nodes}
    solved = "\n".join(f"#{s.id}. {s.question} -> {answers[s.id]}" for s in d.independent())
    still_open = "\n".join(open_line(s) for s in d.dependent())
    request = ModelRequest(
        messages=(Message.user(f"Question: {question.question}\n\nAnswered sub-questions:\n"
                               f"{solved}\n\nOpen sub-questions:\n{still_open}"),),
        purpose="contract", metadata={"question": question.question}, )
    replies = {parse_contraction(t) for t in asyncio.run(model.request(
        ModelRequest(messages=request.messages, purpose="contract",
                     metadata=request.metadata))).texts}
    (contracted,) = replies
    assert contracted is not None and contracted != question.question
    reference = model.reference(ModelRequest(messages=(Message.user(contracted),),
                                             metadata={"question": contracted}))
    assert reference is not None and same_answer(reference.answer, question.answer)
    assert len(decompose(model, contracted).subquestions) < len(question.nodes)


def test_contraction_with_a_wrong_answer_leads_to_an_unknown_question() -> None:
    world = HopWorld(seed=0)
    question = world.question(3, seed=0)
    wrong = next(p for p in world.people if p != question.nodes[0].answer)
    model = SimulatedModel(question.tasks)
    request = ModelRequest(
        messages=(Message.user(f"Question: {question.question}\n\nAnswered sub-questions:\n"
                               f"#1. {question.nodes[0].question} -> {wrong}"),),
        purpose="contract", metadata={"question": question.question})
    contracted = parse_contraction(asyncio.run(model.request(request)).text)
    assert contracted is not None and wrong in contracted
    assert model.reference(ModelRequest(messages=(Message.user(contracted),))) is None


def test_independent_sub_questions_run_as_one_parallel_round() -> None:
    question = arithmetic_question(3, seed=1, branching=True)
    ctx = RunContext(model=SimulatedModel(seed=0))
    outcome = asyncio.run(AtomOfThoughtsPlanner().solve(ctx, question.question))
    first = outcome.rounds[0]
    atoms = [k for k in first.nodes if not k.endswith("contract")]
    assert len(atoms) == 3
    assert all(first.nodes[k].status is NodeStatus.DONE for k in first.nodes)


def test_generated_questions_are_deterministic_and_checked() -> None:
    assert arithmetic_question(4, seed=7) == arithmetic_question(4, seed=7)
    assert HopWorld(seed=1).question(5, seed=2) == HopWorld(seed=1).question(5, seed=2)
    q = arithmetic_question(8, seed=0)
    found = find_arithmetic(q.question)
    assert found is not None and found.answer == q.answer and q.depth == 8
    assert render_expr(found.expr) in q.question
    hops = HopWorld(seed=0).question(8, seed=0)
    # every sub-chain of the eight hops (36), once each (a walk may repeat one)
    assert hops.depth == 8 and 8 < len({t.id for t in hops.tasks}) == len(hops.tasks) <= 36
    with pytest.raises(UserError, match="depth must be >= 1, got 0"):
        arithmetic_question(0)
    with pytest.raises(UserError, match="people must be in"):
        HopWorld(people=1)


def test_react_on_the_world_sees_lookup_errors_as_observations() -> None:
    world = HopWorld(seed=0)
    model = ScriptedModel(['Action: lookup(person="Nobody Here", relation="mentor")',
                           'Action: lookup(person="Nobody", relation="cousin")',
                           "Action: Finish(unknown)"])
    ctx = RunContext(model=model, tools=ToolRegistry([tool(world.lookup)]))
    outcome = asyncio.run(ReActPlanner().solve(ctx, "Who?"))
    assert outcome.answer == "unknown"
    observations = [m.content for m in model.requests[-1].messages if m.role == "user"][1:]
    assert observations[0] == "Observation: Error: no person named 'Nobody Here' in the records"
    assert observations[1].startswith("Observation: Error: unknown relation 'cousin'; valid "
                                      "relations: mentor, rival")


def test_react_on_the_simulator_follows_the_chain() -> None:
    world = HopWorld(seed=3)
    question = world.question(4, seed=1)
    answer, calls = solve(ReActPlanner(), question, [tool(world.lookup)], seed=11)
    assert len(calls) == 5
    assert answer is not None


def test_a_voting_strategy_on_the_atoms_is_at_least_as_accurate_as_one_answer() -> None:
    right = {"direct": 0, "self_consistency": 0}
    trials = 16
    for seed in range(trials):
        question = arithmetic_question(5, seed=seed)
        for name in right:
            options = {} if name == "direct" else {"strategy": name,
                                                   "strategy_options": {"n": 5}}
            answer, _ = solve(AtomOfThoughtsPlanner(**options), question, [], seed)
            right[name] += answer is not None and same_answer(answer, question.answer)
    assert right["self_consistency"] >= right["direct"]
    assert right["self_consistency"] / trials >= 0.7
