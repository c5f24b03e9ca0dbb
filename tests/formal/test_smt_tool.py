"""The smt tool: SMT-LIB and JSON problems, models, cores, optima, errors and timeouts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forethought.exceptions import ToolArgumentError, UserError
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.tools.base import ToolRegistry, resolve_tool
from forethought.tools.smt import ConstraintProblem, asolve_smt, solve_smt

HARD_JSON: dict[str, Any] = {
    "variables": {"x": "int", "y": "int", "z": "int"},
    "constraints": ["x > 0", "y > 0", "z > 0", "x**3 + y**3 == z**3"]}
HARD_SMTLIB = """(declare-const x Int) (declare-const y Int) (declare-const z Int)
(assert (and (> x 0) (> y 0) (> z 0)))
(assert (= (+ (* x x x) (* y y y)) (* z z z)))"""


def message(problem: Any, **kw: Any) -> str:
    with pytest.raises(UserError) as info:
        solve_smt(problem, **kw)
    return str(info.value)


# -- SMT-LIB ---------------------------------------------------------------------------------

def test_smtlib_sat_with_model_and_optimum() -> None:
    script = """(declare-const x Int)
(declare-const y Real)
(declare-const p Bool)
(assert (> x 2))
(assert (! (< x (- 10 1)) :named upper))
(assert (= y (/ x 4)))
(assert p)
(maximize x)
(check-sat)
(get-model)"""
    result = solve_smt(script)
    assert result.to_dict() == {"status": "sat", "model": {"p": True, "x": 8, "y": 2},
                                "objectives": [{"maximize": "x", "value": 8}]}
    result = solve_smt(script.replace("(maximize x)", "(minimize (* 3 x))"))
    assert result.model == {"p": True, "x": 3, "y": 0.75}
    assert result.objectives == [{"minimize": "(* 3 x)", "value": 9}]


def test_smtlib_unsat_core_names_assertions() -> None:
    script = """(declare-const x Int)
(assert (> x 5))
(assert (! (< x 0) :named negative))
(assert (< x 100))"""
    assert solve_smt(script).to_dict() == {"status": "unsat"}
    assert solve_smt(script, unsat_core=True).unsat_core == {
        "1": "(assert (> x 5))", "negative": "(assert (! (< x 0) :named negative))"}


def test_smtlib_datatypes_definitions_and_ignored_commands() -> None:
    script = """(set-logic ALL)
(set-info :status sat)
(declare-datatypes ((Color 0)) (((red) (green) (blue))))
(declare-const c Color)
(define-fun warm ((x Color)) Bool (= x red))
(assert (not (warm c)))
(assert (not (= c blue)))
(check-sat)
(get-value (c))
(exit)"""
    assert solve_smt(script).model == {"c": "green"}
    bits = solve_smt("(declare-const b (_ BitVec 8))(assert (= (bvadd b #x01) #x00))")
    assert bits.model == {"b": 255}


def test_smtlib_functions_and_irrational_values() -> None:
    result = solve_smt("""(declare-fun f (Int) Int) (declare-const r Real)
(assert (= (f 1) 7)) (assert (= (* r r) 2.0)) (assert (> r 0.0))""")
    assert result.status == "sat" and result.model is not None
    assert str(result.model["r"]).startswith("1.41421356") and result.model["r"].endswith("?")
    assert "7" in result.model["f"]


@pytest.mark.parametrize(("script", "expected"), [
    ("(declare-const x Int)\n(assert (> x y))",
     "SMT-LIB error at line 2, column 14: unknown constant y (declare it first with "
     "declare-const or declare-fun, or check the spelling)\n    (assert (> x y))\n"
     "                 ^"),
    ("(declare-const x Real)\n(declare-const c Colour)",
     "SMT-LIB error at line 2, column 18: Invalid constant declaration: unknown sort "
     "'Colour' (built-in sorts are Int, Real, Bool, String, (_ BitVec n) and (Array S T); "
     "declare others with (declare-sort Name 0) or (declare-datatypes ...))\n"
     "    (declare-const c Colour)\n                     ^"),
    ("(declare-const x Int)\n(assert (> x 1)",
     "SMT-LIB error at line 2, column 1: unbalanced parentheses: this command's '(' is "
     "never closed\n    (assert (> x 1)\n    ^"),
    ("(declare-const x Int)\n(assert (> x 1)))",
     "SMT-LIB error at line 2, column 17: unbalanced parentheses: this ')' closes nothing"),
    ("declare-const x Int", "SMT-LIB error at line 1, column 1: unexpected 'd' outside a "
                            "command"),
    ("(declare-const x Int)\n(assert (+ x 1))",
     "SMT-LIB error at line 2, column 15: invalid assert command, term is not Boolean"),
    ("(declare-const s String)\n(assert (= s \"open)",
     "SMT-LIB error at line 2, column 14: unterminated string"),
    ("(declare-const x Int)\n(minimize q)",
     "SMT-LIB error at line 2, column 1: in (minimize ...): unknown constant q"),
    ("(declare-const p Bool)\n(maximize p)",
     "SMT-LIB error at line 2, column 1: (maximize ...) needs a numeric term, got one of sort "
     "Bool"),
    ("   ", "the SMT-LIB script is empty"),
    ("(declare-const x Int)\n(push 1)\n(assert (> x 1))\n(pop 1)",
     "SMT-LIB error at line 2, column 1: (push ...) is not supported: send one problem per "
     "call"),
])
def test_smtlib_errors_name_line_column_and_symbol(script: str, expected: str) -> None:
    assert message(script).startswith(expected)


# -- JSON --------------------------------------------------------------------------------------

def test_json_problem_with_every_kind_of_variable() -> None:
    problem = {
        "variables": {"x": "int", "ratio": "real", "urgent": "bool",
                      "room": ["red", "green", "blue"], "other": ["red", "green", "blue"],
                      "slot": {"type": "int", "min": 1, "max": 3}},
        "constraints": ["x + slot <= 10", "0 < x < 9", "ratio * 4 == x", "urgent",
                        "implies(urgent, x >= 6)", "room != 'red' and room != green",
                        "distinct(room, other)", "other in [red, 'blue']",
                        "x % 2 == 1", "urgent + (x > 100) == 1", "abs(slot - 3) == 0"],
        "maximize": "x"}
    result = solve_smt(problem)
    assert result.to_dict() == {
        "status": "sat",
        "model": {"x": 7, "ratio": 1.75, "urgent": True, "room": "blue", "other": "red",
                  "slot": 3},
        "objectives": [{"maximize": "x", "value": 7}]}


def test_unbounded_and_unattained_optima_are_named() -> None:
    unbounded = solve_smt({"variables": {"x": "int"}, "constraints": ["x < 5"], "minimize": "x"})
    assert unbounded.objectives == [{"minimize": "x", "value": "unbounded"}]
    open_bound = solve_smt({"variables": {"r": "real"}, "constraints": ["r < 5"], "maximize": "r"})
    assert open_bound.objectives is not None
    assert str(open_bound.objectives[0]["value"]).startswith("not attained")


def test_json_unsat_core_includes_declared_bounds() -> None:
    problem = ConstraintProblem.model_validate({
        "variables": {"start": {"type": "int", "min": 540, "max": 1020}, "late": "bool"},
        "constraints": ["start >= 600", "start + 60 > 1100", "late"]})
    result = solve_smt(problem, unsat_core=True)
    assert result.status == "unsat"
    assert result.unsat_core == {"start.max": "start <= 1020", "2": "start + 60 > 1100"}


def test_json_functions_and_division() -> None:
    result = solve_smt({"variables": {"a": "bool", "b": "bool", "c": "bool", "n": "int",
                                  "q": "real"},
                    "constraints": ["exactly(2, a, b, c)", "at_most(1, a, b)",
                                    "n == max(3, min(7, 5)) + sum([a, b, c])",
                                    "q == n / 4", "ite(c, n // 2 == 3, False)",
                                    "xor(a, b)", "iff(c, not False)", "n ** 2 == 49"]})
    assert result.model == {"a": True, "b": False, "c": True, "n": 7, "q": 1.75}
    assert result.model is not None
    thirds = solve_smt({"variables": {"q": "real"}, "constraints": ["3 * q == 1"]})
    assert thirds.model == {"q": "1/3"}


@pytest.mark.parametrize(("problem", "expected"), [
    ({"variables": {"x": "integer"}},
     "invalid constraint problem: variable 'x': unknown type 'integer'; use 'int', 'real', "
     "'bool'"),
    ({"variables": {"x": "int"}, "constraints": ["x +* 2 > 1"]},
     "constraint 1: invalid syntax (invalid syntax) at column 4:\n    x +* 2 > 1\n       ^"),
    ({"variables": {"x": "int"}, "constraints": ["x > 0", "x + z > 1"]},
     "constraint 2 in 'z': unknown name 'z'; declared variables: x\n    x + z > 1\n        ^"),
    ({"variables": {"x": "int"}, "constraints": ["x + 1"]},
     "constraint 1: 'x + 1' is a value of Int, not a condition; compare it with something "
     "(e.g. 'x + 1 > 0')"),
    ({"variables": {"x": "int", "c": ["a", "b"]}, "constraints": ["x + c > 1"]},
     "constraint 1 in 'c': a number is needed here, not a value of {a, b}"),
    ({"variables": {"c": ["a", "b"], "d": ["a", "e"]}, "constraints": ["a == a"]},
     "constraint 1 in 'a': 'a' is a value of several enumerations"),
    ({"variables": {"x": "int"}, "constraints": ["foo(x) > 1"]},
     "constraint 1 in 'foo(x)': unknown function 'foo'; available: and, or, not"),
    ({"variables": {"x": "real"}, "constraints": ["x // 2 == 1"]},
     "constraint 1 in 'x // 2': '//' and '%' need integer operands"),
    ({"variables": {"x": "int"}, "constraints": ["not x"]},
     "constraint 1 in 'x': a condition (true or false) is needed here, not a value of Int"),
    ({"variables": {"x": "int"}, "minimize": "x", "maximize": "x"},
     "give either 'minimize' or 'maximize', not both"),
    ({"variables": {"x": "int"}, "minimize": "x > 1"},
     "minimize: 'x > 1' is not a numeric expression"),
    ({"variables": {"my var": "int"}}, "variable name 'my var' is not an identifier"),
    ({"variables": {"c": []}}, "enumeration values must be a non-empty list"),
    ({"variables": {"b": {"type": "bool", "min": 0}}}, "bounds need type 'int' or 'real'"),
    ({"variables": {"x": "int"}, "constraints": ["x > 1"], "objective": "x"},
     "objective: Extra inputs are not permitted"),
    ({"variables": {"x": "int"}, "constraints": [""]}, "constraint 1: the expression is empty"),
])
def test_json_errors_name_the_constraint_and_symbol(problem: dict[str, Any],
                                                    expected: str) -> None:
    assert expected in message(problem)


def test_a_json_string_is_read_as_json_not_smtlib() -> None:
    text = '{"variables": {"x": "int"}, "constraints": ["x * x == 16", "x < 0"]}'
    assert solve_smt(text).model == {"x": -4}
    assert "invalid constraint problem" in message('{"variables": 3}')


# -- timeouts and the event loop -----------------------------------------------------------------

@pytest.mark.parametrize("problem", [HARD_JSON, HARD_SMTLIB], ids=["json", "smtlib"])
def test_a_hard_nonlinear_problem_times_out_with_a_result(problem: Any) -> None:
    start = time.perf_counter()
    result = solve_smt(problem, timeout_s=0.3)
    assert time.perf_counter() - start < 2
    assert result.to_dict() == {"status": "unknown",
                                "reason": "timeout: no answer within 0.3 s"}


def test_an_optimisation_times_out_too() -> None:
    result = solve_smt({**HARD_JSON, "minimize": "x + y + z"}, timeout_s=0.3)
    assert result.status == "unknown" and "0.3 s" in (result.reason or "")


async def test_solving_runs_off_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    results = await asyncio.gather(asolve_smt(HARD_JSON, timeout_s=0.5),
                                   asolve_smt(HARD_SMTLIB, timeout_s=0.5))
    task.cancel()
    assert [r.status for r in results] == ["unknown", "unknown"]
    assert ticks >= 20, f"the event loop was blocked (only {ticks} ticks in 0.5 s)"


async def test_the_sync_wrapper_refuses_a_running_loop() -> None:
    with pytest.raises(UserError, match=r"use 'await asolve_smt\(...\)'"):
        solve_smt("(declare-const x Int)")


# -- the tool ------------------------------------------------------------------------------------

async def test_tool_returns_compact_results_and_sends_mistakes_back() -> None:
    smt = resolve_tool("smt", {"timeout_s": 2, "max_timeout_s": 5})
    ctx = RunContext(model=ScriptedModel([]), tools=ToolRegistry([smt]))  # type: ignore[list-item]
    out = await ctx.call_tool("smt", {"problem": {"variables": {"x": "int"},
                                                  "constraints": ["x > 2", "x < 4"]}})
    assert out == {"status": "sat", "model": {"x": 3}}
    out = await ctx.call_tool("smt", {"problem": "(declare-const x Int)(assert (< x x))",
                                      "unsat_core": True})
    assert out == {"status": "unsat", "unsat_core": {"1": "(assert (< x x))"}}
    with pytest.raises(ToolArgumentError, match=r"unknown sort 'Foo'") as info:
        await ctx.call_tool("smt", {"problem": "(declare-const x Foo)"})
    assert info.value.tool == "smt"
    with pytest.raises(ToolArgumentError, match=r"timeout_s must be in \(0, 5\], got 50"):
        await ctx.call_tool("smt", {"problem": "(declare-const x Int)", "timeout_s": 50})
    with pytest.raises(ToolArgumentError, match="unknown name 'y'"):
        await ctx.call_tool("smt", {"problem": {"variables": {"x": "int"},
                                                "constraints": ["y > 1"]}})
    out = await ctx.call_tool("smt", {"problem": HARD_JSON, "timeout_s": 0.2})
    assert out == {"status": "unknown", "reason": "timeout: no answer within 0.2 s"}


def test_tool_options_are_validated() -> None:
    with pytest.raises(UserError, match="invalid options for tool 'smt': timeout_s"):
        resolve_tool("smt", {"timeout_s": -1})


# -- property: the JSON format means what Python means ------------------------------------------

@st.composite
def int_exprs(draw: st.DrawFn, depth: int = 0) -> str:
    if depth >= 2 or draw(st.booleans()):
        return draw(st.sampled_from(["x", "y", "z", "0", "1", "2", "-3"]))
    op = draw(st.sampled_from(["+", "-", "*", "%"]))
    left = draw(int_exprs(depth + 1))
    if op == "%":  # Python's % and SMT-LIB's mod agree for positive divisors
        return f"({left}) % {draw(st.integers(1, 4))}"
    return f"({left}) {op} ({draw(int_exprs(depth + 1))})"


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth >= 1 or draw(st.booleans()):
        op = draw(st.sampled_from(["<", "<=", "==", "!=", ">", ">="]))
        return f"{draw(int_exprs())} {op} {draw(int_exprs())}"
    op = draw(st.sampled_from(["and", "or"]))
    negate = "not " if draw(st.booleans()) else ""
    return f"{negate}({draw(conditions(depth + 1))} {op} {draw(conditions(depth + 1))})"


@settings(max_examples=60, deadline=None)
@given(st.lists(conditions(), min_size=1, max_size=4))
def test_json_answers_agree_with_python_on_a_small_box(constraints: list[str]) -> None:
    box = {"type": "int", "min": -3, "max": 3}
    result = solve_smt({"variables": {"x": box, "y": box, "z": box}, "constraints": constraints})
    values = range(-3, 4)
    solutions = [dict(x=x, y=y, z=z) for x in values for y in values for z in values
                 if all(eval(c, {}, dict(x=x, y=y, z=z)) for c in constraints)]
    if solutions:
        assert result.status == "sat" and result.model is not None
        assert all(eval(c, {}, dict(result.model)) for c in constraints)
    else:
        assert result.status == "unsat"
