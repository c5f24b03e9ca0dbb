"""The ``smt`` tool: satisfiability and optimisation with z3, from SMT-LIB 2 or JSON.

A problem is either an SMT-LIB 2 script (declarations, assertions, optionally ``(minimize
t)``/``(maximize t)``) or a :class:`~forethought.tools.smt_json.ConstraintProblem`. The answer
is ``sat`` with a model (and the optimum), ``unsat`` (with an unsat core naming the
constraints that conflict, when asked), or ``unknown`` with z3's reason, e.g. the timeout.

Every call gets its own ``Context`` and runs in a worker thread (z3 releases the GIL while
it searches), bounded by the z3 timeout and by a watchdog that interrupts the context if a
check overruns it. Mistakes in the input are reported as :class:`UserError` (by the tool: as
:class:`ModelRetry`) naming the line and column, the constraint or the unknown symbol.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, TypeAlias

import pydantic

from forethought._sync import run_sync
from forethought.exceptions import ModelRetry, UserError
from forethought.tools._z3 import Context, Expr, z3_module
from forethought.tools.base import FunctionTool, Tool, ToolFactory
from forethought.tools.smt_json import ConstraintProblem, compile_problem
from forethought.tools.smt_lib import Objective, compile_smtlib

Status: TypeAlias = Literal["sat", "unsat", "unknown"]
_GRACE_S = 1.0
_MAX_CORE_TEXT = 200


@dataclass(kw_only=True)
class SmtResult:
    """The answer to one problem."""

    status: Status
    model: dict[str, Any] | None = None
    """Variable (or declared symbol) -> value, for ``sat``. Integers and exact decimals are
    numbers, other rationals ``"p/q"``, irrational algebraic numbers decimals ending in ``?``,
    enumeration values their names, functions z3's ``[args -> value, else -> value]``."""
    objectives: list[dict[str, Any]] | None = None
    """For optimisation: ``{"minimize" | "maximize": expression, "value": optimum}``."""
    unsat_core: dict[str, str] | None = None
    """For ``unsat`` when asked: constraint key (number from 1, name, or ``x.min``) -> text."""
    reason: str | None = None
    """Why the status is ``unknown``."""
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        for key in ("model", "objectives", "unsat_core", "reason"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def python_value(v: Expr) -> Any:
    """A z3 value as JSON-friendly Python: int, float (exact decimals only), bool or str."""
    z3 = z3_module()

    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    if z3.is_int_value(v):
        return v.as_long()
    if z3.is_rational_value(v):
        q = Fraction(v.numerator_as_long(), v.denominator_as_long())
        if q.denominator == 1:
            return q.numerator
        as_float = float(q)
        return as_float if Fraction(repr(as_float)) == q else f"{q.numerator}/{q.denominator}"
    if z3.is_algebraic_value(v):
        return v.as_decimal(12)
    if z3.is_bv_value(v):
        return v.as_long()
    return str(v)


def _objective_value(v: Expr, sense: str) -> Any:
    """The optimum, or words for an objective without one (z3's ``oo`` and ``epsilon``)."""
    text = str(v)
    if "oo" in text:
        return "unbounded"
    if "epsilon" in text:
        bound = "supremum" if sense == "maximize" else "infimum"
        return f"not attained; the {bound} is {text}"
    return python_value(v)


def _solve(ctx: Context, items: list[tuple[str, str, Expr]],
           objectives: list[Objective], variables: dict[str, Expr] | None, *,
           unsat_core: bool, timeout_s: float, start: float,
           hidden: frozenset[str] = frozenset()) -> SmtResult:
    z3 = z3_module()

    solver: Any = z3.Optimize(ctx=ctx) if objectives else z3.Solver(ctx=ctx)
    remaining_s = start + timeout_s - time.perf_counter()
    solver.set("timeout", max(1, int(remaining_s * 1000)))
    guards: list[Expr] = []
    for i, (_, _, formula) in enumerate(items):
        if unsat_core:
            guard = z3.Bool(f"constraint!{i}", ctx)
            guards.append(guard)
            solver.add(z3.Implies(guard, formula))
        else:
            solver.add(formula)
    handles = [(o, solver.minimize(o.term) if o.sense == "minimize"
                else solver.maximize(o.term)) for o in objectives]
    result = solver.check(*guards)
    elapsed = time.perf_counter() - start
    if result == z3.sat:
        model = solver.model()
        if variables is not None:
            values = {name: python_value(model.eval(var, model_completion=True))
                      for name, var in variables.items()}
        else:
            values = {d.name(): python_value(model[d]) if d.arity() == 0 else str(model[d])
                      for d in sorted(model.decls(), key=lambda d: d.name())
                      if "!" not in d.name() and d.name() not in hidden}
        optima = [{o.sense: o.text, "value": _objective_value(h.value(), o.sense)}
                  for o, h in handles] or None
        return SmtResult(status="sat", model=values, objectives=optima, duration_s=elapsed)
    if result == z3.unsat:
        core: dict[str, str] | None = None
        if unsat_core:
            in_core = {c.get_id() for c in solver.unsat_core()}
            core = {key: text if len(text) <= _MAX_CORE_TEXT else text[:_MAX_CORE_TEXT] + "…"
                    for guard, (key, text, _) in zip(guards, items, strict=True)
                    if guard.get_id() in in_core}
        return SmtResult(status="unsat", unsat_core=core, duration_s=elapsed)
    reason = solver.reason_unknown()
    if reason in ("timeout", "canceled") or elapsed >= timeout_s:
        reason = f"timeout: no answer within {timeout_s:g} s"
    return SmtResult(status="unknown", reason=reason, duration_s=elapsed)


def solve_sync(problem: str | ConstraintProblem | dict[str, Any], *, unsat_core: bool = False,
               timeout_s: float = 10.0) -> SmtResult:
    """Blocking solve in a fresh context; see :func:`asolve_smt`."""
    z3 = z3_module()
    if isinstance(problem, dict):
        problem = parse_json_problem(problem)
    start = time.perf_counter()
    ctx = z3.Context()
    watchdog = threading.Timer(timeout_s + _GRACE_S, ctx.interrupt)
    watchdog.daemon = True
    watchdog.start()
    try:
        if isinstance(problem, ConstraintProblem):
            compiled = compile_problem(problem, ctx)
            return _solve(ctx, compiled.items, compiled.objectives, compiled.variables,
                          unsat_core=unsat_core, timeout_s=timeout_s, start=start)
        script = compile_smtlib(problem, ctx)
        return _solve(ctx, script.items, script.objectives, None, unsat_core=unsat_core,
                      timeout_s=timeout_s, start=start, hidden=frozenset(script.labels))
    finally:
        watchdog.cancel()


def parse_json_problem(data: str | dict[str, Any]) -> ConstraintProblem:
    """Validate a JSON constraint problem; the error names each bad field."""
    try:
        if isinstance(data, str):
            return ConstraintProblem.model_validate_json(data)
        return ConstraintProblem.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            ".".join(str(p) for p in e["loc"]) + ": " * bool(e["loc"])
            + str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise UserError(f"invalid constraint problem: {problems}") from None


async def asolve_smt(problem: str | ConstraintProblem | dict[str, Any], *,
                     unsat_core: bool = False, timeout_s: float = 10.0) -> SmtResult:
    """Solve an SMT-LIB 2 script (a string) or a JSON constraint problem (a
    :class:`ConstraintProblem`, a dict, or a string holding a JSON object) in a worker thread.

    Raises:
        UserError: the problem does not parse or type-check (the message names the place).
    """
    if timeout_s <= 0:
        raise UserError(f"timeout_s must be positive, got {timeout_s!r}")
    if isinstance(problem, str) and problem.lstrip().startswith("{"):
        problem = parse_json_problem(problem)
    return await asyncio.to_thread(solve_sync, problem, unsat_core=unsat_core,
                                   timeout_s=timeout_s)


def solve_smt(problem: str | ConstraintProblem | dict[str, Any], *, unsat_core: bool = False,
              timeout_s: float = 10.0) -> SmtResult:
    """Synchronous :func:`asolve_smt` (use that one inside an event loop)."""
    return run_sync(asolve_smt(problem, unsat_core=unsat_core, timeout_s=timeout_s),
                    name="solve_smt()", async_form="asolve_smt(...)")


_DESCRIPTION = """Check constraints with the z3 SMT solver: finds values satisfying all of \
them (optionally minimising or maximising an expression), or proves none exist.
`problem` is either an SMT-LIB 2 script (a string with declare-const/assert, optionally \
(minimize t)/(maximize t)) or a JSON object {"variables": {"x": "int", "y": "real", \
"b": "bool", "c": ["red", "green"], "s": {"type": "int", "min": 0, "max": 10}}, \
"constraints": ["x + y <= 10", "distinct(x, s)", "implies(b, x > 2)", "c != 'red'"], \
"minimize": "x"} with constraints in Python syntax (+ - * / // % **, comparisons, and or not, \
x in [1, 2], a if c else b, and distinct implies iff xor ite abs min max sum at_most at_least \
exactly). Returns status sat with a model, unsat (with unsat_core when asked), or unknown \
with the reason (e.g. the timeout)."""


class SmtOptions(pydantic.BaseModel):
    """Options of the ``smt`` tool in a recipe."""

    model_config = pydantic.ConfigDict(extra="forbid")
    timeout_s: float = pydantic.Field(default=10.0, gt=0, le=600,
                                      description="solver time limit when a call names none, "
                                                  "above 0 and at most 600 seconds")
    max_timeout_s: float = pydantic.Field(default=60.0, gt=0, le=3600,
                                          description="the largest time limit a call may ask, "
                                                      "above 0 and at most 3600 seconds")

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> SmtOptions:
        if self.timeout_s > self.max_timeout_s:
            raise ValueError(f"timeout_s={self.timeout_s:g} is more than "
                             f"max_timeout_s={self.max_timeout_s:g}")
        return self


class SmtToolFactory(ToolFactory):
    """Builds the ``smt`` tool (registered under that name)."""

    name = "smt"
    Options = SmtOptions

    def build(self, options: pydantic.BaseModel) -> Tool:
        assert isinstance(options, SmtOptions)
        default_s, max_s = options.timeout_s, options.max_timeout_s

        async def smt(problem: str | ConstraintProblem, unsat_core: bool = False,
                      timeout_s: float | None = None) -> dict[str, Any]:
            """Check constraints with z3.

            Args:
                problem: An SMT-LIB 2 script, or a JSON constraint problem object.
                unsat_core: When unsatisfiable, name the constraints that conflict.
                timeout_s: Solver time limit in seconds.
            """
            limit = default_s if timeout_s is None else timeout_s
            if not 0 < limit <= max_s:
                raise ModelRetry(f"timeout_s must be in (0, {max_s:g}], got {timeout_s!r}")
            try:
                result = await asolve_smt(problem, unsat_core=unsat_core, timeout_s=limit)
            except UserError as exc:
                raise ModelRetry(str(exc)) from None
            return result.to_dict()

        return FunctionTool(smt, name="smt", description=_DESCRIPTION,
                            timeout_s=max_s + 2 * _GRACE_S)


smt_tool = SmtToolFactory()
"""The registered ``smt`` tool factory (entry point ``smt``)."""

__all__ = ["ConstraintProblem", "SmtOptions", "SmtResult", "SmtToolFactory", "asolve_smt",
           "python_value", "smt_tool", "solve_smt"]
