"""forethought._pyast: ast.parse shielded from CPython's cross-thread recursion-counter race."""

from __future__ import annotations

import ast
import threading
from typing import Any

import pytest

from forethought import _pyast


def test_parse_expression_returns_the_tree() -> None:
    tree = _pyast.parse_expression("f(1, x=2)")
    assert isinstance(tree.body, ast.Call)


def test_input_errors_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SyntaxError):
        _pyast.parse_expression("f(")

    def broken(*args: Any, **kwargs: Any) -> ast.AST:
        raise SystemError("unrelated")

    monkeypatch.setattr(ast, "parse", broken)
    with pytest.raises(SystemError, match="unrelated"):
        _pyast.parse("x")


def test_a_raced_parse_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ast.parse
    calls: list[str] = []

    def racy(source: str, *args: Any, **kwargs: Any) -> ast.AST:
        calls.append(source)
        if len(calls) < 3:
            raise SystemError("AST constructor recursion depth mismatch (before=177, after=24)")
        return original(source, *args, **kwargs)

    monkeypatch.setattr(ast, "parse", racy)
    tree = _pyast.parse_expression("1 + 2")
    assert isinstance(tree.body, ast.BinOp)
    assert len(calls) == 3


def test_a_race_that_never_clears_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def always(*args: Any, **kwargs: Any) -> ast.AST:
        raise SystemError("AST constructor recursion depth mismatch (before=1, after=2)")

    monkeypatch.setattr(ast, "parse", always)
    with pytest.raises(SystemError, match="recursion depth mismatch"):
        _pyast.parse("x")


def test_many_threads_parse_nested_expressions_together() -> None:
    source = "f(" + "[" * 60 + "1" + "]" * 60 + ", k=(1, (2, (3, 'x'))))"
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                assert isinstance(_pyast.parse_expression(source).body, ast.Call)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
