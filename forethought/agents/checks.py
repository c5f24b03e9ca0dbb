"""Running formal checks: the registry of checker functions and one runner per check kind.

Checkers are registered like tools: by code (:func:`register_checker`) or through the
``forethought.checkers`` entry-point group, built-ins and plugins alike. An entry point names
either one checker (registered under the entry point's name) or a mapping of names to
checkers (registered as ``<entry point name>.<key>``), so a task pack lists its family once.

Every runner turns what went wrong into ``unknown`` with the reason; only the check's own
answer can make a constraint ``violated``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from forethought.agents.constraints import (
    Binding,
    CheckOutcome,
    FormalCheck,
    PythonCheck,
    RegisteredCheck,
    Z3Check,
    satisfied,
    unknown,
    violated,
)
from forethought.exceptions import ToolError, UnknownNameError, UserError

if TYPE_CHECKING:
    from forethought.runtime.context import RunContext

CheckerResult: TypeAlias = CheckOutcome | bool
Checker: TypeAlias = Callable[[str, Mapping[str, Any]],
                              CheckerResult | Awaitable[CheckerResult]]
"""``checker(candidate, params)``: a bool (satisfied or not) or a :class:`CheckOutcome` with
the reason; sync checkers run in a worker thread, async ones on the loop."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
_CHECKERS: dict[str, Checker] = {}
_entry_points_loaded = False


def register_checker(name: str, fn: Checker, *, replace: bool = False) -> Checker:
    """Register ``fn`` as the checker ``name`` (returns it, so it works as a decorator body).

    Registering the same function twice is harmless; another function under a taken name is
    an error unless ``replace``.
    """
    if not _NAME.match(name):
        raise UserError(f"invalid checker name {name!r}: use letters, digits, '_', '.', '-', "
                        f"starting with a letter or '_'")
    if not callable(fn):
        raise UserError(f"checker {name!r} must be callable, got {fn!r}")
    current = _CHECKERS.get(name)
    if current is not None and current is not fn and not replace:
        raise UserError(f"a different checker is already registered as {name!r}; pass "
                        f"replace=True to replace it")
    _CHECKERS[name] = fn
    return fn


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    from importlib.metadata import entry_points

    for ep in entry_points(group="forethought.checkers"):
        obj: object = ep.load()
        if isinstance(obj, Mapping):
            for key, fn in cast(Mapping[object, object], obj).items():
                register_checker(f"{ep.name}.{key}", cast(Checker, fn))
        elif callable(obj):
            register_checker(ep.name, cast(Checker, obj))
        else:
            raise UserError(f"entry point {ep.name!r} ({ep.value}) is neither a checker "
                            f"function nor a mapping of names to checkers")
    # Only once all loaded: a bad plugin fails every lookup, not just the first.
    _entry_points_loaded = True


def checker_names() -> list[str]:
    _load_entry_points()
    return sorted(_CHECKERS)


def get_checker(name: str) -> Checker:
    _load_entry_points()
    try:
        return _CHECKERS[name]
    except KeyError:
        raise UnknownNameError("checker", name, _CHECKERS) from None


# --- registered checkers -------------------------------------------------------------------

def _as_outcome(name: str, value: object) -> CheckOutcome:
    if isinstance(value, CheckOutcome):
        return value
    if isinstance(value, bool):
        return satisfied("the checker accepts it") if value else violated(
            f"checker {name!r} rejects it")
    return unknown(f"checker {name!r} returned {value!r}; a checker returns a bool or a "
                   f"CheckOutcome")


def run_registered_sync(check: RegisteredCheck, candidate: str) -> CheckOutcome:
    """A registered checker run here and now (sync checkers only; async ones are unknown)."""
    try:
        fn = get_checker(check.name)
    except UnknownNameError as exc:
        return unknown(str(exc))
    if inspect.iscoroutinefunction(fn):
        return unknown(f"checker {check.name!r} is async; run it with check_constraints")
    return _call_sync(check.name, fn, candidate, check.params)


def _call_sync(name: str, fn: Checker, candidate: str,
               params: Mapping[str, Any]) -> CheckOutcome:
    try:
        return _as_outcome(name, fn(candidate, params))
    except Exception as exc:  # noqa: BLE001 - a failing checker gives no answer, not a crash
        return unknown(f"checker {name!r} raised {type(exc).__name__}: {exc}")


async def _run_registered(check: RegisteredCheck, candidate: str,
                          timeout_s: float) -> CheckOutcome:
    try:
        fn = get_checker(check.name)
    except UnknownNameError as exc:
        return unknown(str(exc))
    try:
        async with asyncio.timeout(timeout_s):
            if inspect.iscoroutinefunction(fn):
                return _as_outcome(check.name, await fn(candidate, check.params))
            return await asyncio.to_thread(_call_sync, check.name, fn, candidate, check.params)
    except TimeoutError:
        return unknown(f"checker {check.name!r} gave no answer within {timeout_s:g} s")
    except Exception as exc:  # noqa: BLE001 - a failing checker gives no answer, not a crash
        return unknown(f"checker {check.name!r} raised {type(exc).__name__}: {exc}")


# --- z3 checks ------------------------------------------------------------------------------

_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([AaPp][Mm])?\s*$")
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}
Value: TypeAlias = int | Fraction | bool


def _read(binding: Binding, text: str) -> Value:
    """The value of ``binding`` in ``text``; ``ValueError`` says why there is none."""
    try:
        matches = list(re.finditer(binding.pattern, text))
    except re.error as exc:
        raise ValueError(f"{binding.name!r}: the pattern {binding.pattern!r} does not "
                         f"compile: {exc}") from None
    if not matches:
        raise ValueError(f"the candidate states no value for {binding.name!r} (pattern "
                         f"{binding.pattern!r} matches nothing)")
    try:
        m = matches[binding.occurrence]
    except IndexError:
        raise ValueError(f"{binding.name!r}: the pattern matches {len(matches)} times, so "
                         f"there is no occurrence {binding.occurrence}") from None
    raw = (m.group(1) if m.re.groups else m.group(0)) or ""
    if binding.type in ("int", "real"):
        number = raw.strip().replace(",", "")
        try:
            return int(number) if binding.type == "int" else Fraction(number)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{binding.name!r}: {raw!r} is not a number of type "
                             f"{binding.type}") from None
    if binding.type == "bool":
        word = raw.strip().casefold()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise ValueError(f"{binding.name!r}: {raw!r} is not a truth value")
    t = _TIME.match(raw)
    if t is None:
        raise ValueError(f"{binding.name!r}: {raw!r} is not a time such as 9:30 or 2:45PM")
    hour, minute = int(t.group(1)), int(t.group(2))
    if t.group(3):
        hour = hour % 12 + (12 if t.group(3).upper() == "PM" else 0)
    return hour * 60 + minute


def _smt_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    q = Fraction(value)
    num = f"(- {-q.numerator})" if q.numerator < 0 else str(q.numerator)
    return num if q.denominator == 1 else f"(/ {num} {q.denominator})"


def _py_value(value: Value) -> str:
    if isinstance(value, bool):
        return repr(value)
    q = Fraction(value)
    return str(q.numerator) if q.denominator == 1 else f"({q.numerator} / {q.denominator})"


_SMT_SORT = {"int": "Int", "time": "Int", "real": "Real", "bool": "Bool"}
_JSON_TYPE = {"int": "int", "time": "int", "real": "real", "bool": "bool"}


def _bind_smtlib(problem: str, values: dict[Binding, Value]) -> str:
    # Declarations go on the script's first line, so z3's line numbers in errors still
    # point into the script as written.
    head: list[str] = []
    tail: list[str] = []
    for b, v in values.items():
        declared = re.search(rf"\(\s*declare-(?:const|fun)\s+\|?{re.escape(b.name)}\|?[\s)(]",
                             problem)
        if declared is None:
            head.append(f"(declare-const {b.name} {_SMT_SORT[b.type]}) ")
        tail.append(f"(assert (! (= {b.name} {_smt_value(v)}) :named candidate.{b.name}))")
    return "".join(head) + problem + "\n" + "\n".join(tail)


def _bind_json(problem: str, values: dict[Binding, Value]) -> dict[str, Any]:
    data: object = json.loads(problem)
    if not isinstance(data, dict):
        raise UserError(f"a JSON problem must be an object, got {type(data).__name__}")
    spec = dict(cast(dict[str, Any], data))
    variables = dict(cast(dict[str, Any], spec.get("variables") or {}))
    constraints = list(cast(list[Any], spec.get("constraints") or []))
    for b, v in values.items():
        variables.setdefault(b.name, _JSON_TYPE[b.type])
        constraints.append(f"{b.name} == {_py_value(v)}")
    spec.update(variables=variables, constraints=constraints)
    spec.pop("minimize", None)  # a check asks "does it fit", not "what is best"
    spec.pop("maximize", None)
    return spec


async def _run_z3(check: Z3Check, candidate: str, timeout_s: float) -> CheckOutcome:
    from forethought.tools.smt import asolve_smt

    try:
        values = {b: _read(b, candidate) for b in check.bindings}
    except ValueError as exc:
        return unknown(str(exc))
    shown = ", ".join(f"{b.name} = {v}" for b, v in values.items())
    try:
        if check.problem.lstrip().startswith("{"):
            result = await asolve_smt(_bind_json(check.problem, values), unsat_core=True,
                                      timeout_s=timeout_s)
        else:
            result = await asolve_smt(_bind_smtlib(check.problem, values), unsat_core=True,
                                      timeout_s=timeout_s)
    except (UserError, json.JSONDecodeError) as exc:
        return unknown(f"the z3 check does not parse: {exc}")
    if result.status == "sat":
        return satisfied(f"z3: satisfiable with {shown}" if shown else "z3: satisfiable")
    if result.status == "unsat":
        core = "; ".join((result.unsat_core or {}).values())
        where = f" with {shown}" if shown else ""
        return violated(f"z3: unsatisfiable{where}" + (f" (conflict: {core})" if core else ""))
    return unknown(f"z3 gave no answer: {result.reason}")


# --- python checks --------------------------------------------------------------------------

_HARNESS = """
import json as _ft_json
_ft_out = check(_ft_json.loads({candidate!r}))
if isinstance(_ft_out, tuple) and len(_ft_out) == 2 and isinstance(_ft_out[0], bool):
    _ft_out = {{"ok": _ft_out[0], "reason": str(_ft_out[1])}}
elif isinstance(_ft_out, bool):
    _ft_out = {{"ok": _ft_out}}
else:
    _ft_out = {{"bad": repr(_ft_out)[:200]}}
print({tag!r} + _ft_json.dumps(_ft_out))
"""


async def _run_python(ctx: RunContext, check: PythonCheck, candidate: str,
                      timeout_s: float) -> CheckOutcome:
    # A per-call tag marks the verdict line, so nothing the predicate prints is mistaken
    # for it.
    tag = f"<<check-{secrets.token_hex(8)}>>"
    code = check.code + "\n" + _HARNESS.format(candidate=json.dumps(candidate), tag=tag)
    try:
        async with asyncio.timeout(timeout_s):
            output = await ctx.call_tool(check.tool, {"code": code})
    except TimeoutError:
        return unknown(f"the python check gave no answer within {timeout_s:g} s")
    except UnknownNameError as exc:
        return unknown(f"the python check needs a tool: {exc}")
    except ToolError as exc:
        return unknown(f"the python check failed: {exc}")
    text = str(output)
    lines = [ln for ln in text.splitlines() if ln.startswith(tag)]
    if not lines:
        return unknown(f"the python check printed no verdict: {text[:200]!r}")
    try:
        verdict: object = json.loads(lines[-1][len(tag):])
    except json.JSONDecodeError:
        return unknown(f"the python check's verdict is unreadable: {lines[-1][:200]!r}")
    fields = cast(dict[str, Any], verdict) if isinstance(verdict, dict) else {}
    ok = fields.get("ok")
    if not isinstance(ok, bool):
        return unknown(f"check(candidate) returned {fields.get('bad', verdict)}; it must "
                       f"return a bool or (bool, reason)")
    reason = str(fields.get("reason") or ("the predicate holds" if ok else
                                          "the predicate does not hold"))
    return satisfied(reason) if ok else violated(reason)


async def run_check(ctx: RunContext, check: FormalCheck, candidate: str,
                    timeout_s: float) -> tuple[CheckOutcome, str]:
    """The outcome of one formal check and who gave it (``z3``, ``python``,
    ``registered:<name>``).
    """
    limit = check.timeout_s or timeout_s
    if isinstance(check, Z3Check):
        return await _run_z3(check, candidate, limit), "z3"
    if isinstance(check, PythonCheck):
        return await _run_python(ctx, check, candidate, limit), "python"
    return await _run_registered(check, candidate, limit), f"registered:{check.name}"


__all__ = ["Checker", "CheckerResult", "checker_names", "get_checker", "register_checker",
           "run_check", "run_registered_sync"]
