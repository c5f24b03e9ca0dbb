"""Running formal checks: z3 over values read from the candidate, Python predicates in the
sandbox, registered checkers; every failure to answer is unknown, never violated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio

from forethought.agents import checks
from forethought.agents.checks import (
    checker_names,
    get_checker,
    register_checker,
    run_registered_sync,
)
from forethought.agents.constraints import (
    Binding,
    CheckOutcome,
    Constraint,
    ConstraintSet,
    PythonCheck,
    RegisteredCheck,
    Verdict,
    Z3Check,
    check_constraints,
    check_constraints_sync,
    violated,
)
from forethought.exceptions import UnknownNameError, UserError
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.sandbox import Limits, PoolConfig, ProcessSandbox
from forethought.tools.base import ToolRegistry
from forethought.tools.python_tool import PythonTool

CANDIDATE = "Here is the proposed time: Monday, 13:30 - 14:30 in room 12"
START = Binding(name="start", pattern=r"(\d+:\d\d) -", type="time")
END = Binding(name="end", pattern=r"- (\d+:\d\d)", type="time")


def _set(*checks_: Any, kind: str = "hard") -> ConstraintSet:
    return ConstraintSet(instance_id="t", family="demo", constraints=tuple(
        Constraint(id=f"c{i}", text=f"constraint {i}", kind=kind, check=c)  # type: ignore[arg-type]
        for i, c in enumerate(checks_)))


def _run(cs: ConstraintSet, candidate: str = CANDIDATE, **kw: Any) -> list[tuple[str, str]]:
    return [(r.status, r.reason) for r in check_constraints_sync(cs, candidate, **kw)]


@pytest.fixture
def scratch_checkers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkers registered (or entry points loaded) by a test are forgotten afterwards."""
    monkeypatch.setattr(checks, "_CHECKERS", dict(checks._CHECKERS))  # pyright: ignore[reportPrivateUsage]
    monkeypatch.setattr(checks, "_entry_points_loaded", checks._entry_points_loaded)  # pyright: ignore[reportPrivateUsage]


# --- z3 -------------------------------------------------------------------------------------

def test_z3_checks_fix_the_candidates_values_in_smtlib_and_json() -> None:
    cs = _set(Z3Check(problem="(assert (= (- end start) 60))", bindings=(START, END)),
              Z3Check(problem='{"variables": {}, "constraints": ["end <= 14 * 60"]}',
                      bindings=(START, END)),
              Z3Check(problem="(declare-const room Int)\n(assert (< room 10))",
                      bindings=(Binding(name="room", pattern=r"room (\d+)"),)))
    assert _run(cs) == [
        ("satisfied", "z3: satisfiable with start = 810, end = 870"),
        ("violated", "z3: unsatisfiable with start = 810, end = 870 (conflict: end <= 14 * 60; "
                     "end == 870)"),
        ("violated", "z3: unsatisfiable with room = 12 (conflict: (assert (< room 10)); "
                     "(assert (! (= room 12) :named candidate.room)))"),
    ]


def test_z3_variables_not_bound_stay_free() -> None:
    problem = ("(declare-const lunch Int)\n(assert (and (>= lunch 720) (<= (+ lunch 30) 780)))"
               "\n(assert (or (<= (+ lunch 30) start) (>= lunch end)))")
    assert _run(_set(Z3Check(problem=problem, bindings=(START, END))))[0][0] == "satisfied"
    late = "Here is the proposed time: Monday, 12:00 - 13:00"
    assert _run(_set(Z3Check(problem=problem, bindings=(START, END))), late)[0][0] == "violated"


@pytest.mark.parametrize(("check", "reason"), [
    (Z3Check(problem="(assert (>= start", bindings=(START,)),
     "the z3 check does not parse: SMT-LIB error at line 1"),
    (Z3Check(problem="(assert (> start undeclared))", bindings=(START,)),
     "unknown constant undeclared"),
    (Z3Check(problem='{"variables": {"x": "complex"}}', bindings=(START,)),
     "the z3 check does not parse: invalid constraint problem: variable 'x': "
     "unknown type 'complex'"),
    (Z3Check(problem="{not json", bindings=(START,)), "the z3 check does not parse"),
    (Z3Check(problem="(assert (> start 0))",
             bindings=(Binding(name="start", pattern=r"at (\d+)"),)),
     "the candidate states no value for 'start' (pattern 'at (\\\\d+)' matches nothing)"),
    (Z3Check(problem="(assert (> start 0))",
             bindings=(Binding(name="start", pattern=r"(\d+:\d\d) -", occurrence=3),)),
     "'start': the pattern matches 1 times, so there is no occurrence 3"),
    (Z3Check(problem="(assert (> start 0))", bindings=(Binding(name="start", pattern="(x"),)),
     "'start': the pattern '(x' does not compile"),
    (Z3Check(problem="(assert (> start 0))", bindings=(Binding(name="start", pattern="(Monday)"),)),
     "'start': 'Monday' is not a number of type int"),
    (Z3Check(problem="(assert start)",
             bindings=(Binding(name="start", pattern="(Monday)", type="bool"),)),
     "'start': 'Monday' is not a truth value"),
    (Z3Check(problem="(assert (> start 0))",
             bindings=(Binding(name="start", pattern="(Monday)", type="time"),)),
     "'start': 'Monday' is not a time such as 9:30 or 2:45PM"),
])
def test_a_z3_check_that_cannot_answer_is_unknown_with_the_reason(check: Z3Check,
                                                                   reason: str) -> None:
    [(status, why)] = _run(_set(check))
    assert status == "unknown"
    assert reason in why


def test_a_z3_check_that_times_out_is_unknown() -> None:
    hard = ("(declare-const x Int)\n(declare-const y Int)\n(assert (> x 1))\n(assert (> y 1))\n"
            "(assert (= (* x y start) 1000000016000000063))")
    start = time.perf_counter()
    [(status, why)] = _run(_set(Z3Check(problem=hard, bindings=(START,), timeout_s=0.2)))
    assert (status, why) == ("unknown", "z3 gave no answer: timeout: no answer within 0.2 s")
    assert time.perf_counter() - start < 3


def test_real_bool_and_pm_times_are_read() -> None:
    text = "ratio 2.5, urgent: yes, meet 2:45PM, then 12:15AM"
    cs = _set(Z3Check(problem="(assert (= (* 2 r) 5))",
                      bindings=(Binding(name="r", pattern=r"ratio ([\d.]+)", type="real"),)),
              Z3Check(problem="(assert u)",
                      bindings=(Binding(name="u", pattern=r"urgent: (\w+)", type="bool"),)),
              Z3Check(problem='{"variables": {}, "constraints": ["t == 14 * 60 + 45", '
                              '"m == 15"]}',
                      bindings=(Binding(name="t", pattern=r"(\d+:\d\d[AP]M)", type="time"),
                                Binding(name="m", pattern=r"(\d+:\d\d[AP]M)", type="time",
                                        occurrence=-1))))
    assert [s for s, _ in _run(cs, text)] == ["satisfied", "satisfied", "satisfied"]


# --- registered checkers ---------------------------------------------------------------------

def _even_room(candidate: str, params: Mapping[str, Any]) -> bool:
    return int(candidate.split()[-1]) % params["modulus"] == 0


def _explains(candidate: str, params: Mapping[str, Any]) -> CheckOutcome:
    del params
    return violated(f"{len(candidate)} characters is too long")


def test_registered_checkers_get_the_candidate_and_params(scratch_checkers: None) -> None:
    register_checker("demo.modulo", _even_room)
    register_checker("demo.explains", _explains)
    register_checker("demo.explains", _explains)  # the same function again: harmless
    cs = _set(RegisteredCheck(name="demo.modulo", params={"modulus": 2}),
              RegisteredCheck(name="demo.modulo", params={"modulus": 5}),
              RegisteredCheck(name="demo.explains"))
    assert _run(cs) == [("satisfied", "the checker accepts it"),
                        ("violated", "checker 'demo.modulo' rejects it"),
                        ("violated", "59 characters is too long")]
    assert run_registered_sync(RegisteredCheck(name="demo.explains"), "ab") == violated(
        "2 characters is too long")
    assert {"demo.modulo", "demo.explains"} <= set(checker_names())


def test_registering_checkers_refuses_bad_names_and_silent_replacement(
        scratch_checkers: None) -> None:
    with pytest.raises(UserError, match="invalid checker name '9lives'"):
        register_checker("9lives", _even_room)
    with pytest.raises(UserError, match="must be callable, got 3"):
        register_checker("demo.three", 3)  # type: ignore[arg-type]
    register_checker("demo.modulo", _even_room)
    with pytest.raises(UserError, match=r"a different checker is already registered as "
                                        r"'demo.modulo'; pass replace=True"):
        register_checker("demo.modulo", _explains)
    register_checker("demo.modulo", _explains, replace=True)
    assert get_checker("demo.modulo") is _explains
    with pytest.raises(UnknownNameError, match=r"unknown checker 'demo.nothing'; valid "
                                              r"checkers: .*'demo.modulo'"):
        get_checker("demo.nothing")


def test_a_checker_that_cannot_answer_is_unknown(scratch_checkers: None) -> None:
    def raises(candidate: str, params: Mapping[str, Any]) -> bool:
        raise KeyError("room")

    def garbage(candidate: str, params: Mapping[str, Any]) -> Any:
        return "maybe"

    def slow(candidate: str, params: Mapping[str, Any]) -> bool:
        time.sleep(1.0)
        return False

    async def slow_async(candidate: str, params: Mapping[str, Any]) -> bool:
        await asyncio.sleep(5)
        return False

    async def async_raises(candidate: str, params: Mapping[str, Any]) -> bool:
        raise ValueError("no")

    for name, fn in [("demo.raises", raises), ("demo.garbage", garbage), ("demo.slow", slow),
                     ("demo.slow_async", slow_async), ("demo.async_raises", async_raises)]:
        register_checker(name, fn)
    cs = _set(RegisteredCheck(name="demo.raises"), RegisteredCheck(name="demo.garbage"),
              RegisteredCheck(name="demo.slow", timeout_s=0.1),
              RegisteredCheck(name="demo.slow_async", timeout_s=0.1),
              RegisteredCheck(name="demo.async_raises"), RegisteredCheck(name="demo.absent"))
    results = _run(cs)
    assert results[:5] == [
        ("unknown", "checker 'demo.raises' raised KeyError: 'room'"),
        ("unknown", "checker 'demo.garbage' returned 'maybe'; a checker returns a bool or a "
                    "CheckOutcome"),
        ("unknown", "checker 'demo.slow' gave no answer within 0.1 s"),
        ("unknown", "checker 'demo.slow_async' gave no answer within 0.1 s"),
        ("unknown", "checker 'demo.async_raises' raised ValueError: no")]
    assert results[5][0] == "unknown" and results[5][1].startswith("unknown checker "
                                                                   "'demo.absent'")
    assert run_registered_sync(RegisteredCheck(name="demo.slow_async"), "x") == CheckOutcome(
        status="unknown", reason="checker 'demo.slow_async' is async; run it with "
                                 "check_constraints")


def test_checks_run_concurrently(scratch_checkers: None) -> None:
    async def half_second(candidate: str, params: Mapping[str, Any]) -> bool:
        await asyncio.sleep(0.5)
        return True

    def half_second_sync(candidate: str, params: Mapping[str, Any]) -> bool:
        time.sleep(0.5)
        return True

    register_checker("demo.half", half_second)
    register_checker("demo.half_sync", half_second_sync)
    cs = _set(*[RegisteredCheck(name="demo.half")] * 6,
              *[RegisteredCheck(name="demo.half_sync")] * 3)
    start = time.perf_counter()
    assert {s for s, _ in _run(cs)} == {"satisfied"}
    assert time.perf_counter() - start < 2.0  # nine half-second checks, side by side


def test_entry_points_register_single_checkers_and_families(
        scratch_checkers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    points = [SimpleNamespace(name="plug.one", value="plug:one", load=lambda: _even_room),
              SimpleNamespace(name="plug.family", value="plug:FAMILY",
                              load=lambda: {"a": _explains, "b": _even_room})]
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: points if group == "forethought.checkers" else [])
    monkeypatch.setattr(checks, "_entry_points_loaded", False)
    assert get_checker("plug.one") is _even_room
    assert get_checker("plug.family.a") is _explains
    assert get_checker("plug.family.b") is _even_room
    bad = [SimpleNamespace(name="plug.bad", value="plug:BAD", load=lambda: 42)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: bad)
    monkeypatch.setattr(checks, "_entry_points_loaded", False)
    with pytest.raises(UserError, match=r"entry point 'plug.bad' \(plug:BAD\) is neither"):
        checker_names()
    with pytest.raises(UserError, match=r"entry point 'plug.bad'"):
        get_checker("plug.one")  # still refused: a broken plugin is not forgotten


def test_a_bad_timeout_is_refused() -> None:
    with pytest.raises(UserError, match="timeout_s must be a positive number of seconds, "
                                        "got 0"):
        check_constraints_sync(_set(), CANDIDATE, timeout_s=0)


def test_constraints_without_a_check_are_left_to_a_model() -> None:
    cs = ConstraintSet(instance_id="t", family="demo", constraints=(
        Constraint(id="tone", text="polite"),
        Constraint(id="z", text="z", check=Z3Check(problem="(assert true)"))))
    results = check_constraints_sync(cs, CANDIDATE)
    assert [(r.id, r.status, r.method) for r in results] == [("z", "satisfied", "z3")]
    verdict = Verdict.of(cs, results)
    assert [r.status for r in verdict.results] == ["unknown", "satisfied"]


# --- python predicates in the sandbox --------------------------------------------------------

@pytest_asyncio.fixture
async def sandbox_ctx() -> AsyncIterator[RunContext]:
    async with ProcessSandbox(limits=Limits(wall_s=2.0),
                              pool=PoolConfig(size=1, max_workers=4)) as sandbox:
        yield RunContext(model=ScriptedModel([]), tools=ToolRegistry([PythonTool(sandbox)]))


async def test_python_predicates_run_in_the_sandbox(sandbox_ctx: RunContext) -> None:
    cs = _set(
        PythonCheck(code="def check(c):\n    return 'Monday' in c"),
        PythonCheck(code="def check(c):\n    print('chatter')\n    return (False, 'no Friday')"),
        PythonCheck(code="import os\ndef check(c):\n    return os.getuid() != 0 or None"),
        PythonCheck(code="def check(c):\n    return c['x']"),
        PythonCheck(code="def check(c):\n    return 3"),
        PythonCheck(code="def check(c):\n    while True: pass"),
        PythonCheck(code="x = 1"),
        PythonCheck(code="def check(c):\n    return True", tool="calculator"),
        PythonCheck(code="def check(c):\n    import time; time.sleep(5)", timeout_s=0.3))
    results = await check_constraints(sandbox_ctx, cs, CANDIDATE)
    got = [(r.status, r.reason) for r in results]
    assert got[0] == ("satisfied", "the predicate holds")
    assert got[1] == ("violated", "no Friday")
    assert got[2][0] == "satisfied"  # the process sandbox runs the code under another uid
    assert got[3][0] == "unknown" and "the python check failed" in got[3][1] \
        and "TypeError" in got[3][1]
    assert got[4] == ("unknown", "check(candidate) returned 3; it must return a bool or "
                                 "(bool, reason)")
    assert got[5][0] == "unknown" and "ran out of time" in got[5][1]
    assert got[6][0] == "unknown" and "NameError" in got[6][1]
    assert got[7][0] == "unknown" and got[7][1].startswith("the python check needs a tool: "
                                                           "unknown tool 'calculator'")
    assert got[8] == ("unknown", "the python check gave no answer within 0.3 s")
    assert all(r.method == "python" for r in results)


def test_without_a_sandbox_python_checks_are_unknown() -> None:
    [(status, reason)] = _run(_set(PythonCheck(code="def check(c):\n    return True")))
    assert status == "unknown"
    assert reason.startswith("the python check needs a tool: unknown tool 'python'")


def test_the_installed_natural_plan_checkers_are_found_by_entry_point() -> None:
    names = checker_names()
    for domain, rule in [("calendar", "busy"), ("meeting", "most_friends"), ("trip", "flights")]:
        assert f"natural_plan.{domain}.{rule}" in names
