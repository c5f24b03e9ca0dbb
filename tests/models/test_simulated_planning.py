"""The simulator on planning instances: plans whose error rate rises with the constraint count,
refinement that helps as far as the feedback is right, extraction with omissions and
hallucinations, a verifier with false positives and negatives, complexity ratings that follow
difficulty; seeded and independent of call order.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics

import pytest

from forethought.agents.constraint_agent import ConstraintAgent
from forethought.exceptions import UserError
from forethought.models.messages import Message, ModelRequest, ModelSettings
from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.planning import (
    PlanConstraint,
    SimulatedPlanTask,
    choose_plan,
    named_in_feedback,
)
from forethought.runtime.context import RunContext


def _oracle(plan: str) -> frozenset[str]:
    """Plans are written ``P|a,b``: they violate exactly a and b."""
    body = plan.split("P|", 1)[1] if "P|" in plan else "c0,c1,c2"
    return frozenset(x for x in body.split(",") if x)


def toy(constraints: int, *, ident: str = "toy", decoys: int = 0) -> SimulatedPlanTask:
    ids = [f"c{i}" for i in range(constraints)]
    plans = [f"P|{i}" for i in ids] + [f"P|{a},{b}" for a in ids for b in ids if a < b]
    plans += [f"P|d{j}" for j in range(decoys)]
    return SimulatedPlanTask(
        id=ident, question=f"Plan {ident} with {constraints} constraints.", answer="P|",
        difficulty=0.5, plans=tuple(plans), oracle=_oracle,
        constraints=tuple(PlanConstraint(id=i, spec=json.dumps({
            "id": i, "text": f"requirement {i}", "check": {"kind": "registered",
                                                           "name": "toy.check"}}))
                          for i in ids),
        decoys=tuple(PlanConstraint(id=f"d{j}", spec=json.dumps({
            "id": f"d{j}", "text": f"decoy {j}"})) for j in range(decoys)))


def ask(model: SimulatedModel, task: SimulatedPlanTask, purpose: str, n: int = 1,
        user: str = "", **metadata: str) -> list[str]:
    request = ModelRequest(messages=(Message.user(user or task.question),), purpose=purpose,
                           settings=ModelSettings(temperature=0.7, n=n),
                           metadata={"instance_id": task.id, **metadata})
    return [c.text for c in asyncio.run(model.request(request)).choices]


def plan_of(text: str) -> str:
    return text.strip().splitlines()[-1]


def within(observed: float, expected: float, n: int) -> bool:
    """Within four standard errors of a binomial proportion."""
    return abs(observed - expected) <= 4 * math.sqrt(expected * (1 - expected) / n) + 1e-9


@pytest.mark.parametrize("constraints", [4, 12, 24])
def test_a_plan_is_valid_with_probability_falling_with_the_constraint_count(
        constraints: int) -> None:
    task = toy(constraints)
    model = SimulatedModel([task], seed=3)
    replies = ask(model, task, "rollout", n=1500)
    valid = sum(task.valid(plan_of(r)) for r in replies) / len(replies)
    assert within(valid, (1 - 0.075) ** constraints, len(replies)), valid
    assert all(plan_of(r) == "P|" for r in replies if task.valid(plan_of(r)))


def test_wrong_plans_break_what_was_neglected() -> None:
    import random

    task = toy(6)
    rng = random.Random(0)
    assert choose_plan(task, frozenset(), frozenset(), rng) == "P|"
    assert choose_plan(task, frozenset({"c2"}), frozenset(), rng) == "P|c2"
    assert choose_plan(task, frozenset({"c1", "c4"}), frozenset(), rng) == "P|c1,c4"
    # three neglected, no such plan: the closest (distance 1), never the valid one
    got = choose_plan(task, frozenset({"c0", "c1", "c2"}), frozenset(), rng)
    assert _oracle(got) < {"c0", "c1", "c2"} and len(_oracle(got)) == 2


def test_feedback_makes_the_named_constraint_fixed_and_only_that_one() -> None:
    task = toy(4)
    model = SimulatedModel([task], seed=1, plan_error=0.5, repair_rate=1.0)
    feedback = ("1 of 4 constraints are satisfied.\nViolated:\n- [hard] c2: requirement c2 -- "
                "broken\nCould not be checked:\n- [hard] c3: requirement c3 -- no answer")
    assert named_in_feedback(feedback) == {"c2"}
    fresh = [_oracle(plan_of(r)) for r in ask(model, task, "rollout", n=800)]
    refined = [_oracle(plan_of(r)) for r in ask(model, task, "refine", n=800, user=feedback)]
    assert 0.4 < sum("c2" in v for v in fresh) / 800 < 0.6
    assert not any("c2" in v for v in refined)  # repair rate 1: never neglected again
    assert 0.4 < sum("c3" in v for v in refined) / 800 < 0.6  # not named: as before


def test_a_named_decoy_is_avoided_when_a_plan_allows_it() -> None:
    import random

    task = toy(3, decoys=1)
    golden_breaks_decoy = SimulatedPlanTask(**{**vars(task), "answer": "P|d0",
                                               "plans": ("P|", *task.plans)})
    rng = random.Random(0)
    assert choose_plan(golden_breaks_decoy, frozenset(), frozenset({"d0"}), rng) == "P|"


def test_extraction_omits_adds_and_formalises_at_its_rates() -> None:
    task = toy(20, decoys=3)
    model = SimulatedModel([task], seed=2, extract_omission=0.1, extract_hallucination=0.5,
                           extract_formal=0.7, extract_invalid=0.2)
    replies = ask(model, task, "constraints", n=600)
    sets = [json.loads(r)["constraints"] for r in replies]
    invalid = [s for s in sets if any((c.get("check") or {}).get("kind") == "prolog"
                                      for c in s)]
    valid = [s for s in sets if s not in invalid]
    assert within(len(invalid) / 600, 0.2, 600)
    true = [c for s in valid for c in s if c["id"].startswith("c")]
    assert within(1 - len(true) / (20 * len(valid)), 0.1, 20 * len(valid))
    assert within(sum(any(c["id"].startswith("d") for c in s) for s in valid) / len(valid),
                  0.5, len(valid))
    assert within(sum("check" in c for c in true) / len(true), 0.7, len(true))


def test_an_invalid_extraction_is_repaired_by_an_independent_draw() -> None:
    tasks = [toy(5, ident=f"t{i}") for i in range(200)]  # extraction is greedy: one draw each
    model = SimulatedModel(tasks, seed=0, extract_invalid=0.5)
    agent = ConstraintAgent()
    results = [asyncio.run(agent.aextract(RunContext(model=model), task.question,
                                          instance_id=task.id, family="toy"))
               for task in tasks]
    repaired = sum(r.repaired and r.constraint_set is not None for r in results)
    failed = sum(r.constraint_set is None for r in results)
    assert within(failed / 200, 0.25, 200) and within(repaired / 200, 0.25, 200)
    assert all("prolog" in (r.error or "") for r in results if r.constraint_set is None)


def test_the_verifier_errs_at_the_judges_rates() -> None:
    task = toy(2)
    model = SimulatedModel([task], seed=4, judge_fpr=0.2, judge_fnr=0.05)
    bad = ask(model, task, "verify", n=1000, candidate="P|c0", constraints="c0,c1,zz")
    assert within(sum(r.startswith("c0: satisfied") for r in bad) / 1000, 0.2, 1000)
    assert within(sum("c1: violated" in r for r in bad) / 1000, 0.05, 1000)
    assert all("zz: unknown" in r for r in bad)


def test_ratings_follow_the_true_difficulty() -> None:
    easy, hard = toy(3, ident="easy"), toy(30, ident="hard")
    model = SimulatedModel([easy, hard], seed=5)

    def mean_rating(task: SimulatedPlanTask) -> float:
        texts = ask(model, task, "complexity", n=300)
        return statistics.mean(int(t.split("Complexity:")[1].split()[0]) for t in texts)

    e, h = mean_rating(easy), mean_rating(hard)
    assert 1 <= e < 4 < 8 < h <= 10, (e, h)  # 1 + 9 * (1 - 0.925 ** C)


def test_replies_do_not_depend_on_the_order_of_calls() -> None:
    task = toy(8, decoys=2)
    purposes = [("rollout", {}), ("constraints", {}), ("complexity", {}),
                ("verify", {"candidate": "P|c1", "constraints": "c0,c1"}), ("judge", {})]

    def replies(order: list[int]) -> dict[int, str]:
        model = SimulatedModel([task], seed=9)
        return {i: ask(model, task, purposes[i][0], **purposes[i][1])[0] for i in order}

    assert replies([0, 1, 2, 3, 4]) == replies([4, 2, 0, 3, 1])


def test_a_plan_task_needs_an_oracle_and_distinct_ids() -> None:
    with pytest.raises(UserError, match="needs an oracle"):
        SimulatedPlanTask(id="x", question="q", answer="a", difficulty=0.1)
    with pytest.raises(UserError, match="must be distinct"):
        SimulatedPlanTask(id="x", question="q", answer="a", difficulty=0.1, oracle=_oracle,
                          constraints=(PlanConstraint(id="c", spec="{}"),),
                          decoys=(PlanConstraint(id="c", spec="{}"),))
    with pytest.raises(UserError, match="plan_error must be in"):
        SimulatedModel(plan_error=1.5)


def test_other_instances_get_no_constraints_and_unknown_judgements() -> None:
    model = SimulatedModel(seed=0)
    request = ModelRequest(messages=(Message.user("What is 2 + 3?"),), purpose="constraints")
    assert json.loads(asyncio.run(model.request(request)).text) == {"constraints": []}
    verify = ModelRequest(messages=(Message.user("What is 2 + 3?"),), purpose="verify",
                          metadata={"constraints": "a,b"})
    assert asyncio.run(model.request(verify)).text == ("a: unknown - I cannot check this\n"
                                                       "b: unknown - I cannot check this")


def test_the_planning_rates_are_spec_keys() -> None:
    model = SimulatedModel.from_spec("simulated:plan_error=0.1,repair_rate=0.5,"
                                     "extract_omission=0,extract_hallucination=1,"
                                     "extract_formal=0.5,extract_invalid=0,rating_noise=0")
    p = model.policy
    assert (p.plan_error, p.repair_rate, p.extract_omission, p.extract_hallucination,
            p.extract_formal, p.extract_invalid, p.rating_noise) == (0.1, 0.5, 0, 1, 0.5, 0, 0)
    with pytest.raises(UserError, match="extract_formal must be in"):
        SimulatedModel.from_spec("simulated:extract_formal=1.5")
