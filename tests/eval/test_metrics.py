"""Metrics: the built-ins, the verifier (a task's exact check or a tool), the registry, and
errors for unknown names and bad options.
"""

from __future__ import annotations

import asyncio

import pytest

from forethought.eval.datasets import Instance
from forethought.eval.metrics import Metric, Score, make_metric, metric_names, register_metric
from forethought.exceptions import UnknownNameError, UserError
from forethought.tools import base as tools_base
from forethought.tools.base import builtin_tools, tool


def inst(reference: str | None = None, question: str = "q", **record: object) -> Instance:
    return Instance(index=0, id="1", question=question, reference=reference, record=record)


def score(metric: Metric, answer: str, instance: Instance) -> Score:
    return asyncio.run(metric.score(answer, instance))


@pytest.mark.parametrize(("name", "options", "answer", "reference", "correct"), [
    ("exact", {}, " Paris ", "Paris", True),
    ("exact", {}, "paris", "Paris", False),
    ("normalised", {}, "The answer is  PARIS.", "paris", True),
    ("normalised", {}, "Answer: 1,000", "1000.0", True),
    ("normalised", {}, "0.5", "1/2", True),
    ("normalised", {}, "Lyon", "Paris", False),
    ("numeric", {}, "so it costs $1,234.50 in total", "1234.5", True),
    ("numeric", {}, "Answer: 3/4", "0.75", True),
    ("numeric", {"rel_tol": 0.01}, "100.9", "100", True),
    ("numeric", {}, "100.9", "100", False),
    ("numeric", {}, "no idea", "100", False),
    ("contains", {}, "It was  the EIFFEL tower, I think", "eiffel Tower", True),
    ("contains", {"case_sensitive": True}, "the EIFFEL tower", "Eiffel Tower", False),
    ("choice", {}, "(B)", "B", True),
    ("choice", {}, "b.", "B", True),
    ("choice", {}, "After some thought, the answer is C.", "C", True),
    ("choice", {}, "A cat is an animal, so the answer: D", "D", True),
    ("choice", {}, "A or B", "A", False),
    ("choice", {"choices": ["True", "False", "Uncertain"]}, "It is uncertain.", "Uncertain",
     True),
    ("choice", {"choices": ["True", "False", "Uncertain"]}, "True or False?", "True", False),
])
def test_builtin_metrics(name: str, options: dict[str, object], answer: str, reference: str,
                         correct: bool) -> None:
    result = score(make_metric(name, options), answer, inst(reference))
    assert result.correct is correct and result.value == float(correct)


def test_details_say_what_was_compared() -> None:
    assert score(make_metric("numeric"), "x", inst("abc")).detail == \
        "the reference 'abc' is not a number"
    assert score(make_metric("choice"), "maybe", inst("A")).detail == \
        "no single option of ['A', 'B', 'C', 'D', 'E'] in the answer"
    assert score(make_metric("choice"), "(c)", inst("B")).detail == "picked 'C'"


def test_the_verifier_runs_a_search_tasks_exact_check() -> None:
    metric = make_metric("verifier", {"task": "game24"})
    assert not metric.needs_reference
    puzzle = inst(question="4 9 10 13")
    assert score(metric, "(10 - 4) * (13 - 9)", puzzle).correct
    assert score(metric, "Answer: (10 - 4) * (13 - 9) = 24", puzzle).correct
    assert not score(metric, "(10 + 4) + (13 - 9)", puzzle).correct
    assert not score(metric, "4 * 6", puzzle).correct  # not the puzzle's numbers


def test_the_verifier_asks_a_tool_and_compares_a_field_of_its_result() -> None:
    metric = make_metric("verifier", {
        "tool": "logic", "arguments": {"premises": "{premises}", "conclusion": "{conclusion}"},
        "compare": "verdict"})
    record = {"premises": ["∀x (Rabbit(x) → Cute(x))", "Rabbit(tom)"], "conclusion": "Cute(tom)"}
    assert score(metric, "True", inst(**record)).correct
    wrong = score(metric, "Uncertain", inst(**record))
    assert not wrong.correct and wrong.detail == "logic says 'True'"
    broken = score(metric, "True", inst(premises=["∀x (Rabbit(x)"], conclusion="Cute(tom)"))
    assert not broken.correct
    assert (broken.detail or "").startswith("the verifier tool 'logic' failed: premise 1: "
                                            "unbalanced parentheses")
    missing = score(metric, "True", inst(premises=[]))
    assert missing.detail == "the record has no field 'conclusion' for the tool's arguments"


def test_a_tool_returning_a_bool_or_a_number_decides_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    @tool
    def at_least(value: str, minimum: int) -> bool | float:
        """Whether the answer reaches the minimum (a share of it below)."""
        number = float(value)
        return True if number >= minimum else number / minimum

    registry = dict(builtin_tools())
    registry["at_least"] = at_least
    monkeypatch.setattr(tools_base, "_builtin_cache", registry)
    metric = make_metric("verifier", {"tool": "at_least",
                                      "arguments": {"value": "{answer}", "minimum": "{goal}"}})
    assert score(metric, "12", inst(goal=10)) == Score(correct=True, value=1.0)
    assert score(metric, "5", inst(goal=10)) == Score(correct=False, value=0.5)


def test_verifier_options_are_checked() -> None:
    with pytest.raises(UserError, match="name exactly one decider"):
        make_metric("verifier", {})
    with pytest.raises(UserError, match="unknown search task 'go'; valid tasks: 'chain', "
                       "'game24'"):
        make_metric("verifier", {"task": "go"})
    with pytest.raises(UnknownNameError, match="unknown tool 'nope'"):
        make_metric("verifier", {"tool": "nope"})
    with pytest.raises(UserError, match="`arguments`, `compare` and `tool_options` go with "
                       "`tool`"):
        make_metric("verifier", {"task": "game24", "compare": "x"})
    chain = make_metric("verifier", {"task": "chain"})
    with pytest.raises(UserError, match="search task 'chain' has no exact verifier"):
        score(chain, "4", inst(question="What is 2 + 2?"))


def test_unknown_metrics_and_options_name_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown metric 'exactly'; valid metrics: "
                       r"'choice', 'contains', 'exact', .*'verifier'"):
        make_metric("exactly")
    with pytest.raises(UserError, match=r"invalid options for metric 'numeric': tol: Extra "
                       r"inputs are not permitted \(valid options: rel_tol, abs_tol\)"):
        make_metric("numeric", {"tol": 1})


def test_users_register_functions_and_classes() -> None:
    @register_metric("first_word", needs_reference=True)
    def first_word(answer: str, reference: str | None) -> bool:
        return answer.split()[0] == reference

    async def half(answer: str, reference: str | None) -> float:
        return 0.5

    class Length(Metric):
        name = "length"
        needs_reference = False

        async def score(self, answer: str, instance: Instance) -> Score:
            return Score(correct=len(answer) < 5, value=1.0)

    register_metric("half_credit", half)
    register_metric("short", Length)
    assert {"first_word", "half_credit", "short"} <= set(metric_names())
    assert score(make_metric("first_word"), "Paris is", inst("Paris")).correct
    partial = score(make_metric("half_credit"), "x", inst("y"))
    assert partial == Score(correct=False, value=0.5)
    assert score(make_metric("short"), "abc", inst()).correct
    assert make_metric("short").name == "short"

    register_metric("bad", lambda a, r: "yes")  # type: ignore[arg-type,return-value]
    with pytest.raises(UserError, match=r"metric 'bad' returned 'yes'; a metric returns a "
                       r"bool or a number in \[0, 1\]"):
        score(make_metric("bad"), "x", inst("y"))
    with pytest.raises(UserError, match="invalid metric name 'two words'"):
        register_metric("two words", half)
