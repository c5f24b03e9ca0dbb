"""Run a candidate solution against unit tests in a sandbox; pass or fail per test.

Two test formats:

* HumanEval style: a string defining ``check(candidate)`` (plus whatever it needs, such as
  ``METADATA``), with ``entry_point`` naming the solution's function. Each top-level
  statement of ``check``'s body that contains an ``assert`` is one test; the others are setup
  and run in order.
* Plain asserts: a list of statements (``["assert add(1, 2) == 3", ...]``), or a string of
  them, run after the solution in its namespace; each statement with an ``assert`` is a test.

Every test gets its own time limit (``per_test_s``) on top of the run's limits, so one
endless case fails alone. Results are written per test as they finish, so a crash or a
timeout still reports the tests that ran. The harness guards against accidents (a solution
that exits early, prints, or raises at import), not against a solution written to deceive
it: that would need the tests in a separate process from the code under test.
"""

from __future__ import annotations

import ast
import json
import secrets
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

from forethought.exceptions import UserError
from forethought.sandbox.base import ExecResult, Limits, Sandbox


@dataclass(kw_only=True, frozen=True)
class UnitTestResult:
    """One test case."""

    index: int
    source: str
    """The test's statement (shortened)."""
    passed: bool
    error: str | None = None
    """Why it failed: ``AssertionError: ...``, another exception, or ``not run: ...``."""


@dataclass(kw_only=True)
class UnitTestReport:
    """The outcome of :func:`run_tests`."""

    results: list[UnitTestResult] = field(default_factory=list[UnitTestResult])
    error: str | None = None
    """A failure before any test ran (the solution did not load) or a stopped run."""
    execution: ExecResult | None = None

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.passed == self.total

    def summary(self) -> str:
        """One line per failed test after a ``passed/total`` headline (for a model)."""
        lines = [f"{self.passed}/{self.total} tests passed"
                 + (f"; {self.error}" if self.error else "")]
        lines += [f"- test {r.index + 1}: {r.source} -> {r.error}" for r in self.results
                  if not r.passed]
        return "\n".join(lines)


_HARNESS = '''
import json as _json, signal as _signal, sys as _sys, traceback as _traceback
_RESULTS, _PER_TEST = {results!r}, {per_test!r}

def _record(i, ok, error):
    with open(_RESULTS, "a") as _f:
        _f.write(_json.dumps({{"i": i, "ok": ok, "error": error}}) + "\\n")

def _describe(exc):
    text = _traceback.format_exception_only(type(exc), exc)[-1].strip()
    return text[:500]

def _timeout(signum, frame):
    raise TimeoutError("the test took longer than %s s" % _PER_TEST)

_signal.signal(_signal.SIGALRM, _timeout)
_ns = {{"__name__": "__main__"}}
try:
    exec(compile({solution!r}, "<solution>", "exec"), _ns)
    exec(compile({preamble!r}, "<tests>", "exec"), _ns)
    _scope = dict(_ns) if {entry_point!r} else _ns
    if {entry_point!r}:
        _scope["candidate"] = _ns[{entry_point!r}]
except BaseException as _exc:
    _record(-1, False, "the solution failed to load: " + _describe(_exc))
    raise SystemExit(0)
for _i, (_src, _is_test) in enumerate({steps!r}):
    _error = None
    _signal.setitimer(_signal.ITIMER_REAL, _PER_TEST)
    try:
        exec(compile(_src, "<test %d>" % (_i + 1), "exec"), _scope)
    except BaseException as _exc:
        _error = _describe(_exc)
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
    if _is_test or _error:
        _record(_i, _error is None, _error if _is_test else "setup failed: " + str(_error))
'''


def _statements(source: str, what: str) -> list[ast.stmt]:
    try:
        return ast.parse(source).body
    except SyntaxError as exc:
        raise UserError(f"{what} is not valid Python: {exc.msg} (line {exc.lineno})") from None


def _steps(source: str, nodes: list[ast.stmt]) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for node in nodes:
        text = ast.get_source_segment(source, node, padded=True) or ast.unparse(node)
        out.append((textwrap.dedent(text), any(isinstance(n, ast.Assert)
                                               for n in ast.walk(node))))
    return out


def split_tests(tests: str | Sequence[str], entry_point: str | None,
                ) -> tuple[str, list[tuple[str, bool]]]:
    """The setup code and the ``(statement, is_test)`` steps of ``tests``."""
    if not isinstance(tests, str):
        steps: list[tuple[str, bool]] = []
        for t in tests:
            steps += _steps(t, _statements(t, f"test {t!r}"))
        return "", steps
    body = _statements(tests, "the tests")
    check = next((n for n in body if isinstance(n, ast.FunctionDef) and n.name == "check"),
                 None)
    if check is None:
        return "", _steps(tests, body)
    if not entry_point:
        raise UserError("tests define check(candidate): pass entry_point, the name of the "
                        "solution's function to check")
    preamble = "\n".join(ast.get_source_segment(tests, n) or ast.unparse(n)
                         for n in body if n is not check)
    return preamble, _steps(tests, check.body)


async def run_tests(sandbox: Sandbox, solution: str, tests: str | Sequence[str], *,
                    entry_point: str | None = None, per_test_s: float = 5.0,
                    limits: Limits | None = None) -> UnitTestReport:
    """Run ``solution`` against ``tests`` in ``sandbox``; see the module docstring.

    Raises :class:`UserError` for tests that are not valid Python (a bad solution is a
    failed report, not an error).
    """
    preamble, steps = split_tests(tests, entry_point)
    if not any(is_test for _, is_test in steps):
        raise UserError("the tests contain no assert statement")
    results_file = f".results-{secrets.token_hex(8)}.jsonl"
    program = _HARNESS.format(results=results_file, per_test=float(per_test_s),
                              solution=solution, preamble=preamble,
                              entry_point=entry_point or "", steps=steps)
    execution = await sandbox.run(program, limits=limits, output_files=[results_file])
    records: dict[int, tuple[bool, str | None]] = {}
    for line in execution.files.get(results_file, b"").decode("utf-8", "replace").splitlines():
        try:
            rec = json.loads(line)
            records[int(rec["i"])] = (bool(rec["ok"]), rec.get("error"))
        except (ValueError, KeyError, TypeError):
            continue
    report = UnitTestReport(execution=execution)
    if -1 in records:
        report.error = records[-1][1]
    elif execution.timed_out or execution.killed_for_memory or execution.exit_code != 0:
        report.error = _stopped(execution)
    not_run = f"not run: {report.error or 'the run ended first'}"
    for i, (src, is_test) in enumerate(steps):
        if not is_test:
            continue
        ok, err = records.get(i, (False, not_run))
        short = src.strip().splitlines()[0][:160] if src.strip() else src
        report.results.append(UnitTestResult(index=len(report.results), source=short,
                                             passed=ok, error=None if ok else err))
    return report


def _stopped(execution: ExecResult) -> str:
    if execution.limit is not None:
        return f"the run was stopped by its {execution.limit.replace('_', ' ')} limit"
    if execution.error is not None:
        return f"the harness failed: {execution.error.type}: {execution.error.message}"
    return f"the run exited with code {execution.exit_code}"
