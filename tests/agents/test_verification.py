"""The verification agent: formal checks first and exact, the model only for the rest (in one
call), the verdict combined; as a scorer it guides every strategy, and a model call that
fails leaves the candidate unscored and counted.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import pytest

from forethought.agents import checks
from forethought.agents.checks import register_checker
from forethought.agents.constraints import (
    Binding,
    Constraint,
    ConstraintResult,
    ConstraintSet,
    RegisteredCheck,
    Verdict,
    Z3Check,
)
from forethought.agents.verification import (
    ConstraintScorer,
    VerificationAgent,
    parse_judgements,
    verdict_value,
)
from forethought.exceptions import BudgetExceeded, ModelHTTPError, UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.base import strategy_class
from forethought.search.chain import ChainTask
from forethought.search.scorers import RewardScorer, Staged

X = Binding(name="x", pattern=r"x\s*=\s*(-?\d+)")
BIG = Constraint(id="big", text="x is at least 10", check=Z3Check(
    problem='{"variables": {"x": "int"}, "constraints": ["x >= 10"]}', bindings=(X,)))
EVEN = Constraint(id="even", text="x is even", check=RegisteredCheck(name="demo.even"))
POLITE = Constraint(id="polite", text="the answer says please")
BROKEN = Constraint(id="broken", text="x is small", check=Z3Check(
    problem='{"variables": {"x": "int"}, "constraints": ["x <<< 3"]}', bindings=(X,)))
STYLE = Constraint(id="style", text="the answer is short", kind="soft")


def _even(candidate: str, params: Mapping[str, Any]) -> bool:
    m = re.search(r"x\s*=\s*(-?\d+)", candidate)
    return m is not None and int(m.group(1)) % 2 == 0


@pytest.fixture(autouse=True)
def _checkers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "_CHECKERS", dict(checks._CHECKERS))  # pyright: ignore[reportPrivateUsage]
    register_checker("demo.even", _even)


def cset(*constraints: Constraint) -> ConstraintSet:
    return ConstraintSet(instance_id="i", family="demo", constraints=constraints)


class Judge:
    """Says ``satisfied`` to every constraint it is asked about, except those in ``no``;
    records what it was asked."""

    def __init__(self, no: frozenset[str] = frozenset(), fail: bool = False) -> None:
        self.no, self.fail = no, fail
        self.asked: list[list[str]] = []

    def __call__(self, request: ModelRequest) -> str:
        if request.purpose == "verify":
            ids = request.metadata["constraints"].split(",")
            self.asked.append(ids)
            if self.fail:
                raise ModelHTTPError("judge is down", status_code=503, model="scripted")
            return "\n".join(f"- {i}: violated - nope" if i in self.no else f"`{i}`: satisfied"
                             for i in ids)
        m = re.search(r"x = (\d+)", request.messages[-1].content)
        return f"Step 1: pick\nAnswer: x = {m.group(1) if m else 12}"


def verify(cs: ConstraintSet, candidate: str, judge: Judge, **agent: Any) -> Any:
    ctx = RunContext(model=ScriptedModel(judge))
    return asyncio.run(VerificationAgent(**agent).averify(ctx, cs, candidate, question="q"))


def statuses(verdict: Verdict) -> dict[str, str]:
    return {r.id: f"{r.status}/{r.method}" for r in verdict.results}


def test_formal_checks_alone_need_no_model_call() -> None:
    judge = Judge()
    got = verify(cset(BIG, EVEN), "x = 12", judge)
    assert judge.asked == [] and got.model_calls == 0 and got.scored
    assert statuses(got.verdict) == {"big": "satisfied/z3",
                                     "even": "satisfied/registered:demo.even"}
    assert got.verdict.accepted and got.value == 1.0


def test_the_model_is_asked_only_about_constraints_without_a_check() -> None:
    judge = Judge()
    got = verify(cset(BIG, POLITE, EVEN, STYLE), "x = 12", judge)
    assert judge.asked == [["polite", "style"]] and got.model_calls == 1
    assert statuses(got.verdict)["polite"] == "satisfied/model"
    assert got.verdict.accepted


def test_a_formal_rejection_spares_the_model_call_unless_asked_always() -> None:
    judge = Judge()
    got = verify(cset(BIG, POLITE), "x = 4", judge)
    assert judge.asked == [] and not got.verdict.accepted
    assert statuses(got.verdict)["polite"] == "unknown/none"
    got = verify(cset(BIG, POLITE), "x = 4", judge, ask_model="always")
    assert judge.asked == [["polite"]] and statuses(got.verdict)["polite"] == "satisfied/model"
    got = verify(cset(BIG, POLITE), "x = 40", judge, ask_model="never")
    assert not got.verdict.accepted  # an unchecked hard constraint is not a verified one


def test_a_check_that_does_not_parse_is_unknown_and_goes_to_the_model() -> None:
    judge = Judge(no=frozenset({"broken"}))
    got = verify(cset(BIG, BROKEN), "x = 12", judge, fallback_to_model=False)
    assert statuses(got.verdict)["broken"] == "unknown/z3" and judge.asked == []
    assert "does not parse" in got.verdict.results[1].reason
    got = verify(cset(BIG, BROKEN), "x = 12", judge)
    assert judge.asked == [["broken"]]
    assert statuses(got.verdict)["broken"] == "violated/model"


def test_a_failed_judge_call_leaves_the_candidate_unscored() -> None:
    got = verify(cset(BIG, POLITE), "x = 12", Judge(fail=True))
    assert not got.scored and got.value is None and "judge is down" in (got.error or "")
    assert statuses(got.verdict) == {"big": "satisfied/z3", "polite": "unknown/none"}


def test_the_budget_stops_the_judge_call() -> None:
    ctx = RunContext(model=ScriptedModel(Judge()),
                     budget=BudgetTracker(budget=Budget(max_model_calls=0)))
    with pytest.raises(BudgetExceeded):
        asyncio.run(VerificationAgent().averify(ctx, cset(POLITE), "x = 1"))


def test_judgements_are_read_leniently_and_missing_ones_are_unknown() -> None:
    cs = [POLITE, STYLE, EVEN, Constraint(id="a:b", text="odd id")]
    text = ("Here is my review.\n* **polite**: yes\nstyle = VIOLATED: too long\n"
            "polite: violated (a second line about it is ignored)\na:b: satisfied")
    got = {r.id: (r.status, r.reason) for r in parse_judgements(text, cs)}
    assert got == {"polite": ("satisfied", "the model judged it satisfied"),
                   "style": ("violated", "too long"),
                   "even": ("unknown", "the model gave no judgement of it"),
                   "a:b": ("satisfied", "the model judged it satisfied")}


def test_bad_agent_options_are_refused() -> None:
    with pytest.raises(UserError, match="ask_model must be 'always', 'unless_rejected' or "
                                        "'never', got 'sometimes'"):
        VerificationAgent(ask_model="sometimes")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="timeout_s must be a positive number"):
        VerificationAgent(timeout_s=0)


def _verdict(*pairs: tuple[Constraint, str]) -> Verdict:
    cs = cset(*(c for c, _ in pairs))
    return Verdict.of(cs, [ConstraintResult(constraint=c, status=s, reason="", method="z3")  # type: ignore[arg-type]
                           for c, s in pairs])


def test_values_keep_the_verdicts_order_and_accepted_ones_come_first() -> None:
    all_ok = _verdict((BIG, "satisfied"), (STYLE, "satisfied"))
    soft_broken = _verdict((BIG, "satisfied"), (STYLE, "violated"))
    unsure = _verdict((BIG, "unknown"), (STYLE, "satisfied"))
    half_broken = _verdict((BIG, "violated"), (EVEN, "satisfied"))
    all_broken = _verdict((BIG, "violated"), (EVEN, "violated"))
    values = [verdict_value(v) for v in (all_ok, soft_broken, unsure, half_broken, all_broken)]
    assert values == [1.0, 0.75, 0.375, 0.125, 0.0]
    assert [v >= 0.5 for v in values] == [v.accepted for v in (all_ok, soft_broken, unsure,
                                                               half_broken, all_broken)]


def test_as_a_scorer_it_verifies_caches_exact_verdicts_and_writes_feedback() -> None:
    scorer = ConstraintScorer(constraint_set=cset(BIG, EVEN))
    task = ChainTask(question="Pick x.", scorer=scorer)
    ctx = RunContext(model=ScriptedModel(Judge()))
    first = asyncio.run(strategy_class("best_of_n").from_options({"n": 1}).arun(ctx, task))
    assert first.answer == "x = 12" and first.verified is True and first.score == 1.0
    assert scorer.stats == {"verified": 1, "formal_only": 1}
    again = asyncio.run(strategy_class("best_of_n").from_options({"n": 3}).arun(ctx, task))
    assert again.verified is True and scorer.stats["verified"] == 1  # exact: not repeated
    bad = task.parse_rollout(task.root(), "Answer: x = 7")
    assert bad is not None
    assert scorer.read(task, bad, []) is None and scorer.last_feedback(task, bad) is None
    verdict = asyncio.run(VerificationAgent().averify(ctx, cset(BIG, EVEN), "x = 7"))
    scorer.verifications["x = 7"] = verdict
    assert scorer.last_feedback(task, bad) == verdict.verdict.feedback
    assert "- [hard] big: x is at least 10 -- z3: unsatisfiable with x = 7" in (
        scorer.last_feedback(task, bad) or "")


@pytest.mark.parametrize(("name", "options"), [
    ("best_of_n", {"n": 4}), ("self_consistency", {"n": 4}),
    ("tot_bfs", {"breadth": 2, "proposals": 2, "evaluation": "scorer"}),
    ("tot_dfs", {"breadth": 2, "proposals": 2, "evaluation": "scorer", "max_expansions": 6}),
    ("beam", {"width": 2, "expansion": 2}), ("rebase", {"width": 4}),
    ("particle_filter", {"particles": 4}),
    ("mcts", {"simulations": 4, "width": 2}),
    ("refine", {"strategy": {"kind": "best_of_n", "n": 2}, "rounds": 2})])
def test_every_strategy_can_be_constraint_guided(name: str, options: dict[str, Any]) -> None:
    # Proposals cycle through x = 7, 12, 11 (only 12 satisfies both constraints).
    values = iter([7, 12, 11] * 100)

    def reply(request: ModelRequest) -> str:
        if request.purpose == "step":
            return "Score: 0.5"
        if request.purpose == "propose":
            return f"Step {request.messages[-1].content.count('Step ') + 1}: try\nAnswer: " \
                   f"x = {next(values)}"
        return f"Step 1: try\nAnswer: x = {next(values)}"

    scorer = ConstraintScorer(constraint_set=cset(BIG, EVEN))
    task = ChainTask(question="Pick x.", max_depth=2,
                     scorer=Staged(partial=RewardScorer(), final=scorer))
    result = asyncio.run(strategy_class(name).from_options(options).arun(
        RunContext(model=ScriptedModel(reply)), task))
    assert result.answer == "x = 12" and result.verified is True and result.status == "ok", \
        (name, result)
    assert scorer.stats["verified"] >= 1
