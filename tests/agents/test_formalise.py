"""Formalise and solve: a constraint set handed to z3 (its family's formaliser, or the z3 checks
conjoined), the plan verified like any candidate; and every way it can decline."""

from __future__ import annotations

import asyncio

import pytest

from forethought.agents import formalise as formalise_module
from forethought.agents.constraints import Binding, Constraint, ConstraintSet, Z3Check
from forethought.agents.formalise import (
    FormaliseSolve,
    formalise,
    formalise_z3,
    formaliser_for,
    formaliser_names,
    register_formaliser,
)
from forethought.agents.verification import ConstraintScorer
from forethought.exceptions import UnknownNameError, UserError
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.search.chain import ChainTask
from forethought.search.scorers import RewardScorer, Staged
from forethought.tasks.natural_plan.dataset import Domain, Instance, load_instances
from forethought.tasks.natural_plan.metrics import exact_match
from forethought.tasks.natural_plan.plans import instance_constraints
from forethought.tasks.natural_plan.task import CalendarTask, TripTask

X = Binding(name="x", pattern=r"x\s*=\s*(-?\d+)")
Y = Binding(name="y", pattern=r"y\s*=\s*(-?\d+)")


def z3(cid: str, problem: str, *bindings: Binding, kind: str = "hard") -> Constraint:
    return Constraint(id=cid, text=cid, kind=kind,  # type: ignore[arg-type]
                      check=Z3Check(problem=problem, bindings=bindings))


def by_id(domain: Domain, ident: str) -> Instance:
    return next(i for i in load_instances(domain) if i.id == ident)


def cset(*constraints: Constraint) -> ConstraintSet:
    return ConstraintSet(instance_id="i", family="demo", constraints=constraints)


def solve(cs: ConstraintSet, model: ScriptedModel | None = None) -> object:
    task = ChainTask(question="Find x and y.", scorer=Staged(
        partial=RewardScorer(), final=ConstraintScorer(constraint_set=cs)))
    ctx = RunContext(model=model or ScriptedModel([]))
    return asyncio.run(FormaliseSolve().arun(ctx, task))


def test_natural_plan_registers_its_formalisers_by_entry_point() -> None:
    assert {"natural_plan.calendar", "natural_plan.meeting",
            "natural_plan.trip"} <= set(formaliser_names())
    with pytest.raises(UnknownNameError, match="unknown formaliser 'chess'"):
        formaliser_for("chess")


@pytest.mark.parametrize(("task_kind", "domain", "ident"), [
    (CalendarTask, "calendar", "calendar_scheduling_example_543"),
    (TripTask, "trip", "trip_planning_example_1088")])
def test_a_natural_plan_instance_is_solved_and_verified_without_a_model_call(
        task_kind: type[CalendarTask] | type[TripTask], domain: str, ident: str) -> None:
    inst = by_id(domain, ident)  # type: ignore[arg-type]
    task = task_kind.for_instance(inst)
    task.scorer = ConstraintScorer(constraint_set=instance_constraints(inst))
    ctx = RunContext(model=ScriptedModel([]))
    result = asyncio.run(FormaliseSolve().arun(ctx, task))
    assert result.verified is True and result.status == "ok" and result.score == 1.0
    assert exact_match(result.answer or "", inst) == 1.0
    assert ctx.budget.started_calls == 0 and result.stats["skipped_constraints"] == 0


def test_json_checks_are_conjoined_and_the_answer_states_the_bound_values() -> None:
    cs = cset(z3("big", '{"variables": {"x": "int"}, "constraints": ["x >= 10"]}', X),
              z3("sum", '{"variables": {"x": "int", "y": "int"}, "constraints": '
                        '["x + y == 15", "y >= 2"], "minimize": "y"}', X, Y),
              Constraint(id="note", text="be nice"))
    formal = formalise(cs)
    assert formal.skipped == ["note"]
    assert formal.problem == {"variables": {"x": "int", "y": "int"},
                              "constraints": ["x >= 10", "x + y == 15", "y >= 2"]}
    assert formal.decode({"x": 11, "y": 4}) == "x = 11\ny = 4"
    result = solve(cs, ScriptedModel(["note: satisfied"]))
    assert result.answer is not None and result.verified is True  # type: ignore[attr-defined]


def test_smtlib_checks_are_merged_with_shared_declarations() -> None:
    cs = cset(z3("a", "(declare-const x Int)\n(assert (>= x 3))\n(check-sat)", X),
              z3("b", "(declare-const x Int)(assert (< x 5))(assert (= (mod x 2) 0))", X))
    problem = formalise_z3(cs).problem
    assert problem.count("declare-const x") == 1 and "check-sat" not in problem
    result = solve(cs)
    assert result.answer == "x = 4" and result.verified is True  # type: ignore[attr-defined]


def test_what_cannot_be_formalised_is_refused_with_the_reason() -> None:
    with pytest.raises(UserError, match="has no formaliser and no hard constraint with a z3"):
        formalise(cset(Constraint(id="n", text="nice")))
    with pytest.raises(UserError, match="mix JSON problems and SMT-LIB scripts"):
        formalise(cset(z3("a", "(assert (> x 1))", X),
                       z3("b", '{"variables": {"x": "int"}, "constraints": ["x < 4"]}', X)))
    with pytest.raises(UserError, match="variable 'x' is declared differently"):
        formalise(cset(z3("a", '{"variables": {"x": "int"}, "constraints": []}'),
                       z3("b", '{"variables": {"x": "real"}, "constraints": []}')))
    with pytest.raises(UserError, match="binds 'x' as real, another as int"):
        formalise(cset(z3("a", '{"variables": {}, "constraints": []}', X),
                       z3("b", '{"variables": {}, "constraints": []}',
                          Binding(name="x", pattern="x=(.*)", type="real"))))


def test_the_strategy_explains_why_it_has_no_answer() -> None:
    unsat = cset(z3("a", '{"variables": {"x": "int"}, "constraints": ["x > 5", "x < 2"]}', X))
    result = solve(unsat)
    assert result.answer is None and result.status == "failed"  # type: ignore[attr-defined]
    assert result.first_error == "formalise_solve: z3 says unsat"  # type: ignore[attr-defined]
    result = solve(cset(Constraint(id="n", text="nice")))
    assert "no hard constraint with a z3 check" in (result.first_error or "")  # type: ignore[attr-defined]
    plain = ChainTask(question="q")
    bare = asyncio.run(FormaliseSolve().arun(RunContext(model=ScriptedModel([])), plain))
    assert bare.first_error == "formalise_solve: the task has no constraint set to formalise"


def test_registered_formalisers_take_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formalise_module, "_FORMALISERS", dict(formalise_module._FORMALISERS))  # pyright: ignore[reportPrivateUsage]
    cs = cset(z3("a", '{"variables": {"x": "int"}, "constraints": ["x > 5"]}', X))

    def fixed(cs: ConstraintSet) -> formalise_module.Z3Formalisation:
        return formalise_module.Z3Formalisation(
            problem={"variables": {"x": "int"}, "constraints": ["x == 42"]},
            bindings={"x": X})

    register_formaliser("demo", fixed)
    assert solve(cs).answer == "x = 42"  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="a different formaliser is already registered"):
        register_formaliser("demo", formalise_z3)
    with pytest.raises(UserError, match="needs the family"):
        register_formaliser(" ", fixed)
