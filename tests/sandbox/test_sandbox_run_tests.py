"""run_tests: a candidate against unit tests, pass or fail per test."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sandbox_support import BACKENDS, DATA, make_sandbox

from forethought.exceptions import UserError
from forethought.sandbox import Limits, Sandbox, run_tests
from forethought.sandbox.verify import split_tests

pytestmark = pytest.mark.asyncio(loop_scope="module")

HUMANEVAL = DATA / "humaneval" / "HumanEval.jsonl.gz"


def humaneval(task_id: str) -> dict[str, Any]:
    with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as f:
        for line in f:
            problem = json.loads(line)
            if problem["task_id"] == task_id:
                return problem
    raise KeyError(task_id)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    async with make_sandbox(request.param, limits=Limits(wall_s=10)) as sb:
        yield sb


async def test_a_canonical_humaneval_solution_passes_every_test(sandbox: Sandbox) -> None:
    p = humaneval("HumanEval/0")
    report = await run_tests(sandbox, p["prompt"] + p["canonical_solution"], p["test"],
                             entry_point=p["entry_point"])
    assert report.all_passed and report.total == 7 and report.error is None
    assert report.results[0].source == (
        "assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True")


async def test_a_wrong_solution_fails_exactly_the_tests_it_gets_wrong(sandbox: Sandbox) -> None:
    p = humaneval("HumanEval/2")  # truncate_number: the decimal part of a positive float
    wrong = p["prompt"] + "    return 0.5 if number == 3.5 else number - int(number) + 1\n"
    report = await run_tests(sandbox, wrong, p["test"], entry_point=p["entry_point"])
    assert [r.passed for r in report.results] == [True, False, False]
    assert report.results[1].error == "AssertionError"
    assert report.summary().startswith("1/3 tests passed\n- test 2: ")


async def test_plain_assert_lists_and_per_test_timeouts(sandbox: Sandbox) -> None:
    solution = ("def add(a, b):\n"
                "    while a == 99:\n"
                "        pass\n"
                "    return a + b\n")
    report = await run_tests(sandbox, solution, ["assert add(1, 2) == 3",
                                                 "assert add(99, 1) == 100",
                                                 "assert add(2, 2) == 5, 'two and two'",
                                                 "assert add('a', 1)"],
                             per_test_s=0.5)
    assert [r.passed for r in report.results] == [True, False, False, False]
    errors = [r.error for r in report.results]
    assert errors[1] == "TimeoutError: the test took longer than 0.5 s"
    assert errors[2] == "AssertionError: two and two"
    assert errors[3] == 'TypeError: can only concatenate str (not "int") to str'


async def test_a_solution_that_does_not_load_fails_every_test(sandbox: Sandbox) -> None:
    report = await run_tests(sandbox, "def f(:\n", "assert f() == 1\nassert f() == 2")
    assert report.total == 2 and report.passed == 0
    assert report.error is not None and report.error.startswith(
        "the solution failed to load:")
    assert all(r.error is not None and r.error.startswith("not run:") for r in report.results)


async def test_a_solution_that_exits_early_does_not_pass(sandbox: Sandbox) -> None:
    report = await run_tests(sandbox, "import os\nos._exit(0)\ndef f():\n    return 1\n",
                             ["assert f() == 1"])
    assert not report.all_passed and report.results[0].error == "not run: the run ended first"


async def test_a_run_stopped_by_a_limit_reports_which(sandbox: Sandbox) -> None:
    report = await run_tests(sandbox, "def f():\n    return 1\n",
                             ["assert f() == 1", "assert all(f() == 1 for _ in iter(int, 1))"],
                             per_test_s=30, limits=Limits(wall_s=0.5))
    assert [r.passed for r in report.results] == [True, False]
    assert report.error == "the run was stopped by its wall time limit"


async def test_tests_are_split_into_setup_and_cases() -> None:
    tests = ("METADATA = {}\n\n"
             "def check(candidate):\n"
             "    import math\n"
             "    assert candidate(1) == 1\n"
             "    for x in range(3):\n"
             "        assert candidate(x) == x\n")
    preamble, steps = split_tests(tests, "f")
    assert preamble == "METADATA = {}"
    assert steps == [("import math", False), ("assert candidate(1) == 1", True),
                     ("for x in range(3):\n    assert candidate(x) == x", True)]
    with pytest.raises(UserError, match="pass entry_point"):
        split_tests(tests, None)
    with pytest.raises(UserError, match=r"the tests is not valid Python"):
        split_tests("assert (", None)
