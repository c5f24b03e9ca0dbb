"""Constraints as data: what an instance requires, how each requirement is checked exactly,
and the verdict on a candidate.

A :class:`ConstraintSet` holds one instance's :class:`Constraint` s. Each is ``hard`` (a
candidate that breaks it is wrong) or ``soft`` (a preference: breaking it costs score, not
validity), carries a weight, and optionally a formal check, one of (discriminated by ``kind``):

- :class:`Z3Check` (``"z3"``): an SMT-LIB 2 script or a JSON constraint problem, the ``smt``
  tool's two formats, over variables read from the candidate by regular expressions
  (:class:`Binding`). Satisfied when the problem is satisfiable with the variables fixed to the
  candidate's values, violated when it is not (the reason names the unsat core).
- :class:`PythonCheck` (``"python"``): a predicate ``check(candidate)`` run in the sandbox
  through the run's ``python`` tool (``ctx.call_tool``), never in this process.
- :class:`RegisteredCheck` (``"registered"``): a Python checker function registered by name
  (:func:`~forethought.agents.checks.register_checker`), given the candidate and ``params``.

:func:`check_constraints` runs every formal check of a set at once. A check that cannot give
an answer (it does not parse, times out, names an unknown checker, the candidate states no
value for a variable) is ``unknown`` with the reason, never ``violated``. A :class:`Verdict`
combines results into a score in -100..100, an ``accepted`` flag and feedback text for
refinement.

Constraint sets written by a model arrive as JSON and are validated by
:class:`~forethought.agents.constraint_spec.ConstraintSetSpec` (pydantic, extra fields
forbidden) before they become these dataclasses.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from forethought.exceptions import UserError

if TYPE_CHECKING:
    from forethought.runtime.context import RunContext

Status: TypeAlias = Literal["satisfied", "violated", "unknown"]
Hardness: TypeAlias = Literal["hard", "soft"]
BindingType: TypeAlias = Literal["int", "real", "bool", "time"]

_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
DEFAULT_TIMEOUT_S = 10.0


def _positive(what: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UserError(f"{what} must be a positive number of seconds, got {value!r}")


@dataclass(kw_only=True, frozen=True)
class Binding:
    """A variable of a :class:`Z3Check`, read from the candidate's text."""

    name: str
    """The variable's name in the problem (an identifier)."""
    pattern: str
    """A regular expression; its first group (the whole match when it has none) is the
    value. One that does not compile makes the check unknown when it runs."""
    type: BindingType = "int"
    """``int``, ``real``, ``bool`` (true/false/yes/no) or ``time`` (``H:MM``, optionally with
    ``AM``/``PM``, read as minutes after midnight, an integer)."""
    occurrence: int = 0
    """Which match to use: 0 the first, 1 the second, -1 the last."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise UserError(f"binding name {self.name!r} is not an identifier (letters, "
                            f"digits and '_', not starting with a digit)")
        if self.type not in ("int", "real", "bool", "time"):
            raise UserError(f"binding {self.name!r}: unknown type {self.type!r}; use 'int', "
                            f"'real', 'bool' or 'time'")
        if not self.pattern:
            raise UserError(f"binding {self.name!r} needs a pattern")


@dataclass(kw_only=True, frozen=True)
class Z3Check:
    """Satisfiable with the candidate's values? ``problem`` is an SMT-LIB 2 script or a JSON
    constraint problem (see the ``smt`` tool). Bound variables the problem does not declare
    are declared with their binding's type; variables that are not bound stay free (the
    check asks whether *some* values of them fit the candidate's).
    """

    kind: Literal["z3"] = "z3"
    problem: str
    bindings: tuple[Binding, ...] = ()
    timeout_s: float | None = None
    """Solver time limit; ``None``: the limit :func:`check_constraints` is given."""

    def __post_init__(self) -> None:
        if not self.problem.strip():
            raise UserError("a z3 check needs a problem (SMT-LIB 2 or JSON), got ''")
        names = [b.name for b in self.bindings]
        if len(set(names)) != len(names):
            raise UserError(f"a z3 check binds a variable twice: {names!r}")
        _positive("timeout_s", self.timeout_s)


@dataclass(kw_only=True, frozen=True)
class PythonCheck:
    """``code`` defines ``check(candidate)``, returning a bool or ``(bool, reason)``; it runs
    in the sandbox through the run's tool named ``tool``.
    """

    kind: Literal["python"] = "python"
    code: str
    tool: str = "python"
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not self.code.strip():
            raise UserError("a python check needs code defining check(candidate), got ''")
        _positive("timeout_s", self.timeout_s)


@dataclass(kw_only=True, frozen=True)
class RegisteredCheck:
    """The checker registered as ``name``, called with the candidate and ``params``."""

    kind: Literal["registered"] = "registered"
    name: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """JSON-like parameters (the instance data the checker needs)."""
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise UserError("a registered check needs the checker's name, got ''")
        _positive("timeout_s", self.timeout_s)


FormalCheck: TypeAlias = Z3Check | PythonCheck | RegisteredCheck


@dataclass(kw_only=True, frozen=True)
class Constraint:
    """One requirement of an instance."""

    id: str
    """Unique in its set; short and stable (``busy.Debra``), so feedback can name it."""
    text: str
    """The requirement in words, as the instance states it."""
    kind: Hardness = "hard"
    weight: float = 1.0
    """Relative importance among constraints of the same kind (positive)."""
    check: FormalCheck | None = None
    """How to check it exactly; ``None``: only a model can judge it."""

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise UserError(f"constraint id {self.id!r} must be 1-128 letters, digits or "
                            f"'_.:-', not starting with a punctuation mark")
        if not self.text.strip():
            raise UserError(f"constraint {self.id!r} has no text")
        if self.kind not in ("hard", "soft"):
            raise UserError(f"constraint {self.id!r}: kind must be 'hard' or 'soft', got "
                            f"{self.kind!r}")
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise UserError(f"constraint {self.id!r}: weight must be a positive number, got "
                            f"{self.weight!r}")


@dataclass(kw_only=True, frozen=True)
class ConstraintSet:
    """The constraints of one instance, and where they came from."""

    instance_id: str
    """The instance they belong to (a dataset id, or a hash of the question)."""
    family: str
    """The task family (``natural_plan.calendar``): selection statistics are kept per family."""
    constraints: tuple[Constraint, ...]
    source: str = ""
    """Who wrote them: ``parser`` (a task's deterministic parser), ``model:<name>``..."""

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for c in self.constraints:
            if c.id in seen:
                raise UserError(f"constraint set {self.instance_id!r}: two constraints have "
                                f"the id {c.id!r}")
            seen.add(c.id)

    def __iter__(self) -> Iterator[Constraint]:
        return iter(self.constraints)

    def __len__(self) -> int:
        return len(self.constraints)

    def get(self, constraint_id: str) -> Constraint:
        for c in self.constraints:
            if c.id == constraint_id:
                return c
        raise UserError(f"constraint set {self.instance_id!r} has no constraint "
                        f"{constraint_id!r}; its ids: {[c.id for c in self.constraints]!r}")

    @property
    def hard(self) -> tuple[Constraint, ...]:
        return tuple(c for c in self.constraints if c.kind == "hard")

    @property
    def soft(self) -> tuple[Constraint, ...]:
        return tuple(c for c in self.constraints if c.kind == "soft")

    @property
    def formal(self) -> tuple[Constraint, ...]:
        """The constraints with a formal check."""
        return tuple(c for c in self.constraints if c.check is not None)


@dataclass(kw_only=True, frozen=True)
class CheckOutcome:
    """What a checker found, before it is tied to a constraint."""

    status: Status
    reason: str = ""


def satisfied(reason: str = "") -> CheckOutcome:
    return CheckOutcome(status="satisfied", reason=reason)


def violated(reason: str) -> CheckOutcome:
    return CheckOutcome(status="violated", reason=reason)


def unknown(reason: str) -> CheckOutcome:
    return CheckOutcome(status="unknown", reason=reason)


@dataclass(kw_only=True, frozen=True)
class ConstraintResult:
    """One constraint judged on one candidate."""

    constraint: Constraint
    status: Status
    reason: str
    """Why: what was found (the overlap, the unsat core) or why no answer was possible."""
    method: str
    """Who judged: ``z3``, ``python``, ``registered:<name>``, ``model``, or ``none``."""

    @property
    def id(self) -> str:
        return self.constraint.id


@dataclass(kw_only=True, frozen=True)
class Verdict:
    """A candidate's standing against a constraint set.

    ``score`` (-100..100), hard constraints first:

    - if any hard constraint is violated, ``score = -100 * V / H``, where ``V`` is the weight
      of the violated hard constraints and ``H`` that of all hard ones: negative, -100 when
      every hard constraint fails;
    - otherwise ``score = 100 * S / W``, where ``S`` is the weight of the satisfied
      constraints (hard and soft) and ``W`` that of all: 100 only when everything is
      satisfied; a violated soft constraint and an unknown one earn nothing.

    So any candidate that breaks no hard constraint outranks every candidate that breaks one,
    and weights only trade constraints of the same standing. ``accepted``: at least one
    constraint, no hard constraint violated and none unknown (an unchecked hard constraint is
    not a verified one). An empty set scores 0 and is not accepted: nothing was verified.
    """

    results: tuple[ConstraintResult, ...]
    score: float
    accepted: bool
    feedback: str
    """For refinement: each violated constraint (hard first) with the reason, then those that
    could not be checked."""

    @classmethod
    def of(cls, constraint_set: ConstraintSet,
           results: Sequence[ConstraintResult]) -> Verdict:
        """The verdict from ``results``; a constraint of the set without one is ``unknown``
        (not checked).
        """
        by_id = {r.id: r for r in results}
        strays = [i for i in by_id if i not in {c.id for c in constraint_set}]
        if strays:
            raise UserError(f"results for constraints not in set "
                            f"{constraint_set.instance_id!r}: {strays!r}")
        full = tuple(by_id.get(c.id) or ConstraintResult(
            constraint=c, status="unknown", reason="not checked", method="none")
            for c in constraint_set)
        return cls(results=full, score=_score(full), accepted=_accepted(full),
                   feedback=_feedback(full))

    def by_status(self, status: Status) -> tuple[ConstraintResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    @property
    def violated_hard(self) -> tuple[ConstraintResult, ...]:
        return tuple(r for r in self.results
                     if r.status == "violated" and r.constraint.kind == "hard")

    @property
    def hard_satisfaction(self) -> float:
        """Weighted share of hard constraints satisfied (1.0 when there are none)."""
        hard = [r for r in self.results if r.constraint.kind == "hard"]
        total = sum(r.constraint.weight for r in hard)
        if total == 0:
            return 1.0
        return sum(r.constraint.weight for r in hard if r.status == "satisfied") / total


def _score(results: Sequence[ConstraintResult]) -> float:
    if not results:
        return 0.0
    hard = [r for r in results if r.constraint.kind == "hard"]
    broken = sum(r.constraint.weight for r in hard if r.status == "violated")
    if broken > 0:
        return -100.0 * (broken / sum(r.constraint.weight for r in hard))
    total = sum(r.constraint.weight for r in results)
    return 100.0 * (sum(r.constraint.weight for r in results if r.status == "satisfied") / total)


def _accepted(results: Sequence[ConstraintResult]) -> bool:
    return bool(results) and all(r.status == "satisfied" for r in results
                                 if r.constraint.kind == "hard")


def _feedback(results: Sequence[ConstraintResult]) -> str:
    if not results:
        return "There are no constraints to check."
    bad = sorted((r for r in results if r.status == "violated"),
                 key=lambda r: r.constraint.kind != "hard")
    unsure = [r for r in results if r.status == "unknown"]
    if not bad and not unsure:
        return f"All {len(results)} constraints are satisfied."
    lines = [f"{len(results) - len(bad) - len(unsure)} of {len(results)} constraints are "
             f"satisfied."]
    if bad:
        lines.append("Violated:")
        lines += [f"- [{r.constraint.kind}] {r.id}: {r.constraint.text} -- {r.reason}"
                  for r in bad]
    if unsure:
        lines.append("Could not be checked:")
        lines += [f"- [{r.constraint.kind}] {r.id}: {r.constraint.text} -- {r.reason}"
                  for r in unsure]
    return "\n".join(lines)


async def check_constraints(ctx: RunContext, constraint_set: ConstraintSet, candidate: str, *,
                            timeout_s: float = DEFAULT_TIMEOUT_S) -> list[ConstraintResult]:
    """Run the formal check of every constraint that has one, all at once.

    Returns one result per formally checked constraint, in the set's order; constraints
    without a check are left out (a model judges those; :meth:`Verdict.of` counts any left
    unjudged as unknown). No check raises: one that does not parse, times out (``timeout_s``
    unless the check sets its own), names an unknown checker or tool, or cannot read its
    variables from ``candidate`` is ``unknown`` with the reason.
    """
    from forethought.agents.checks import run_check

    _positive("timeout_s", timeout_s)
    formal = constraint_set.formal
    outcomes = await asyncio.gather(*(run_check(ctx, c.check, candidate, timeout_s)
                                      for c in formal if c.check is not None))
    return [ConstraintResult(constraint=c, status=o.status, reason=o.reason, method=method)
            for c, (o, method) in zip(formal, outcomes, strict=True)]


def check_constraints_sync(constraint_set: ConstraintSet, candidate: str, *,
                           ctx: RunContext | None = None,
                           timeout_s: float = DEFAULT_TIMEOUT_S) -> list[ConstraintResult]:
    """Synchronous :func:`check_constraints` (use that one inside an event loop). Without a
    ``ctx``, python checks are unknown (no sandbox to run them in).
    """
    from forethought._sync import run_sync
    from forethought.models.scripted import ScriptedModel
    from forethought.runtime.context import RunContext

    context = ctx or RunContext(model=ScriptedModel([]))
    return run_sync(check_constraints(context, constraint_set, candidate, timeout_s=timeout_s),
                    name="check_constraints_sync()", async_form="check_constraints(...)")


__all__ = ["Binding", "CheckOutcome", "Constraint", "ConstraintResult", "ConstraintSet",
           "FormalCheck", "Hardness", "PythonCheck", "RegisteredCheck", "Status", "Verdict",
           "Z3Check", "check_constraints", "check_constraints_sync", "satisfied", "unknown",
           "violated"]
