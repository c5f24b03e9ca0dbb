"""Formalise and solve: hand an instance's constraint set to z3 and read a plan from the model,
instead of asking a language model for one.

A *formaliser* turns a :class:`ConstraintSet` into a z3 problem (the ``smt`` tool's JSON
format or SMT-LIB 2) and says how to write an answer from z3's model. Formalisers are found by
the set's family, registered in code (:func:`register_formaliser`) or through the
``forethought.formalisers`` entry-point group (NATURAL PLAN registers its three domains there,
the same way a plugin would). Without one, a set whose hard constraints carry z3 checks is
formalised generically (:func:`formalise_z3`): their problems are conjoined (a JSON problem's
variables and constraints merged, SMT-LIB declarations merged), and the answer states each
bound variable as ``name = value``.

That is sound, not magic: whatever a formaliser cannot express (a constraint without a check,
a Python check, a soft preference) is listed as skipped, and the plan is always verified by
the task's scorer like any other candidate (with the verification agent: every constraint,
formal or not). So z3 can only propose; it never certifies its own answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar, Protocol, cast

import pydantic

from forethought.agents.constraints import Binding, ConstraintSet, Z3Check
from forethought.exceptions import UnknownNameError, UserError
from forethought.search.base import StrategyResult
from forethought.search.machine import Compute
from forethought.search.ops import (
    Block,
    SearchLog,
    SearchStrategy,
    budget_error,
    read_final,
    score,
)
from forethought.search.scorers import Staged
from forethought.search.task import SearchTask


class Formalisation(Protocol):
    """What a formaliser returns."""

    @property
    def problem(self) -> Any:
        """A JSON constraint problem (a mapping) or an SMT-LIB 2 script."""
        ...

    @property
    def skipped(self) -> list[str]:
        """Ids of the constraints the problem does not express."""
        ...

    def decode(self, model: Mapping[str, Any]) -> str:
        """The answer that z3's ``model`` describes."""
        ...


Formaliser = Callable[[ConstraintSet], Formalisation]

_FORMALISERS: dict[str, Formaliser] = {}
_entry_points_loaded = False


def register_formaliser(family: str, fn: Formaliser, *, replace: bool = False) -> Formaliser:
    """Register ``fn`` as the formaliser of constraint sets of ``family``."""
    if not family.strip():
        raise UserError("a formaliser needs the family it formalises, got ''")
    if not callable(fn):
        raise UserError(f"formaliser {family!r} must be callable, got {fn!r}")
    current = _FORMALISERS.get(family)
    if current is not None and current is not fn and not replace:
        raise UserError(f"a different formaliser is already registered for {family!r}; pass "
                        f"replace=True to replace it")
    _FORMALISERS[family] = fn
    return fn


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    from importlib.metadata import entry_points

    for ep in entry_points(group="forethought.formalisers"):
        obj: object = ep.load()
        if isinstance(obj, Mapping):
            for family, fn in cast(Mapping[str, object], obj).items():
                register_formaliser(family, cast(Formaliser, fn), replace=True)
        elif callable(obj):
            register_formaliser(ep.name, cast(Formaliser, obj), replace=True)
        else:
            raise UserError(f"entry point {ep.name!r} ({ep.value}) is neither a formaliser "
                            f"nor a mapping of families to formalisers")
    _entry_points_loaded = True


def formaliser_names() -> list[str]:
    _load_entry_points()
    return sorted(_FORMALISERS)


def formaliser_for(family: str) -> Formaliser:
    """The formaliser registered for ``family``; :class:`UnknownNameError` lists the known."""
    _load_entry_points()
    try:
        return _FORMALISERS[family]
    except KeyError:
        raise UnknownNameError("formaliser", family, _FORMALISERS) from None


def formalise(cs: ConstraintSet) -> Formalisation:
    """The z3 problem of ``cs``: its family's formaliser, else :func:`formalise_z3`.

    Raises:
        UserError: the set cannot be formalised (the message says why).
    """
    _load_entry_points()
    if cs.family in _FORMALISERS:
        return _FORMALISERS[cs.family](cs)
    return formalise_z3(cs)


# --- the generic formaliser: conjoin the z3 checks -----------------------------------------

@dataclass(kw_only=True)
class Z3Formalisation:
    """Conjoined z3 checks; the answer lists the bound variables as ``name = value``."""

    problem: Any
    bindings: dict[str, Binding]
    skipped: list[str] = field(default_factory=list[str])

    def decode(self, model: Mapping[str, Any]) -> str:
        lines: list[str] = []
        for name, b in self.bindings.items():
            if name not in model:
                continue
            value = model[name]
            if b.type == "time" and isinstance(value, int):
                value = f"{value // 60}:{value % 60:02d}"
            elif b.type == "bool":
                value = "true" if value else "false"
            lines.append(f"{name} = {value}")
        return "\n".join(lines)


_SMT_SORT = {"int": "Int", "time": "Int", "real": "Real", "bool": "Bool"}
_JSON_TYPE = {"int": "int", "time": "int", "real": "real", "bool": "bool"}
_SMT_DROP = frozenset({"check-sat", "get-model", "get-value", "exit", "set-logic", "minimize",
                       "maximize", "set-option", "get-unsat-core", "get-objectives"})


def _bindings(checks: list[tuple[str, Z3Check]]) -> dict[str, Binding]:
    out: dict[str, Binding] = {}
    for cid, check in checks:
        for b in check.bindings:
            known = out.get(b.name)
            if known is not None and known.type != b.type:
                raise UserError(f"constraint {cid!r} binds {b.name!r} as {b.type}, another "
                                f"as {known.type}: the checks do not describe one answer")
            out.setdefault(b.name, b)
    return out


def _merge_json(checks: list[tuple[str, Z3Check]], bound: dict[str, Binding]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    constraints: list[str] = []
    for cid, check in checks:
        try:
            data: object = json.loads(check.problem)
        except json.JSONDecodeError as exc:
            raise UserError(f"constraint {cid!r}: its z3 problem is not valid JSON: "
                            f"{exc}") from None
        if not isinstance(data, dict):
            raise UserError(f"constraint {cid!r}: its z3 problem is not a JSON object")
        spec = cast(dict[str, Any], data)
        for name, decl in cast(dict[str, Any], spec.get("variables") or {}).items():
            if name in variables and variables[name] != decl:
                raise UserError(f"variable {name!r} is declared differently by constraint "
                                f"{cid!r} ({decl!r}) and an earlier one ({variables[name]!r})")
            variables[name] = decl
        constraints += [str(c) for c in cast(list[Any], spec.get("constraints") or [])]
    for name, b in bound.items():
        variables.setdefault(name, _JSON_TYPE[b.type])
    return {"variables": variables, "constraints": constraints}


def _merge_smtlib(checks: list[tuple[str, Z3Check]], bound: dict[str, Binding]) -> str:
    from forethought.tools.smt_lib import commands

    declared: dict[str, str] = {}
    body: list[str] = []
    for cid, check in checks:
        for command in commands(check.problem):
            if command.head in _SMT_DROP:
                continue
            if command.head in ("declare-const", "declare-fun"):
                name = command.text.split(None, 2)[1].strip("|()")
                text = " ".join(command.text.split())
                if name in declared and declared[name] != text:
                    raise UserError(f"{name!r} is declared differently by constraint {cid!r} "
                                    f"and an earlier one")
                if name in declared:
                    continue
                declared[name] = text
            body.append(command.text)
    head = [f"(declare-const {n} {_SMT_SORT[b.type]})" for n, b in bound.items()
            if n not in declared]
    return "\n".join(head + body)


def formalise_z3(cs: ConstraintSet) -> Z3Formalisation:
    """Conjoin the z3 checks of ``cs``'s hard constraints (see the module docstring).

    Raises:
        UserError: no hard constraint has a z3 check, the checks mix JSON and SMT-LIB, or
            they declare a variable differently.
    """
    checks = [(c.id, c.check) for c in cs.hard if isinstance(c.check, Z3Check)]
    if not checks:
        raise UserError(f"constraint set {cs.instance_id!r} ({cs.family!r}) has no "
                        f"formaliser and no hard constraint with a z3 check")
    skipped = [c.id for c in cs if not (c.kind == "hard" and isinstance(c.check, Z3Check))]
    bound = _bindings(checks)
    kinds = {check.problem.lstrip().startswith("{") for _, check in checks}
    if len(kinds) > 1:
        raise UserError(f"constraint set {cs.instance_id!r}: its z3 checks mix JSON problems "
                        f"and SMT-LIB scripts, which cannot be conjoined")
    problem: Any = _merge_json(checks, bound) if kinds == {True} else _merge_smtlib(checks,
                                                                                     bound)
    return Z3Formalisation(problem=problem, bindings=bound, skipped=skipped)


# --- the strategy ---------------------------------------------------------------------------

def constraint_set_of(task: SearchTask) -> ConstraintSet | None:
    """The constraint set a task is verified against: its constraint scorer's, else the set
    the task supplies (``task.constraint_set``), else ``None``.
    """
    from forethought.agents.verification import ConstraintScorer

    scorer = task.effective_scorer()
    final = scorer.final if isinstance(scorer, Staged) else scorer
    if isinstance(final, ConstraintScorer):
        return final.constraint_set
    supplied = getattr(task, "constraint_set", None)
    return supplied if isinstance(supplied, ConstraintSet) else None


def _solve(problem: Any, timeout_s: float) -> Any:
    from forethought.tools.smt import solve_sync

    return solve_sync(problem, timeout_s=timeout_s)


class FormaliseSolveOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    timeout_s: float = pydantic.Field(default=30.0, gt=0, le=600)
    """z3's time limit."""


class FormaliseSolve(SearchStrategy[FormaliseSolveOptions]):
    """Formalise the task's constraint set, solve it with z3, and score the plan it gives
    like any candidate (so the verification agent checks every constraint, including those
    the formalisation skipped).

    Calls: none to write the plan; the scorer's to verify it (none when every constraint has
    a formal check). No answer when the task has no constraint set, the set cannot be
    formalised, or z3 finds it unsatisfiable (``first_error`` says which).
    """

    name: ClassVar[str] = "formalise_solve"
    Options: ClassVar[type[pydantic.BaseModel]] = FormaliseSolveOptions

    def _search(self, task: SearchTask, log: SearchLog) -> Block[StrategyResult]:
        cs = constraint_set_of(task)
        if cs is None:
            log.stats["no_constraints"] = 1
            log.first_error = "formalise_solve: the task has no constraint set to formalise"
            return log.result()
        try:
            formal = formalise(cs)
        except UserError as exc:
            log.stats["not_formalisable"] = 1
            log.first_error = f"formalise_solve: {exc}"
            return log.result()
        log.stats["skipped_constraints"] = len(formal.skipped)
        outcomes = yield [Compute(fn=partial(_solve, formal.problem, self.options.timeout_s),
                                  tag="solve")]
        outcome = outcomes[0]
        if outcome.budget_exceeded:
            raise budget_error(outcomes)
        if not outcome.ok:
            log.failed(outcomes)
            log.stats["not_formalisable"] = 1
            return log.result()
        result = outcome.value
        if result.status != "sat" or result.model is None:
            log.stats[f"z3_{result.status}"] = 1
            log.first_error = (f"formalise_solve: z3 says {result.status}"
                               + (f" ({result.reason})" if result.reason else ""))
            return log.result()
        plan = formal.decode(result.model)
        # A task that reads answers from an "Answer:" line gets the plan on one.
        state = read_final(task, log, task.root(), plan) or read_final(
            task, log, task.root(),
            "Answer: " + ", ".join(ln for ln in plan.splitlines() if ln.strip()))
        if state is None:
            log.stats["unparseable"] += 1
            log.first_error = f"formalise_solve: the task cannot read the plan {plan[:80]!r}"
            return log.result()
        yield from score(task, log, [state])
        return log.result()


__all__ = [
    "Formalisation",
    "FormaliseSolve",
    "Formaliser",
    "Z3Formalisation",
    "constraint_set_of",
    "formalise",
    "formalise_z3",
    "formaliser_for",
    "formaliser_names",
    "register_formaliser",
]
