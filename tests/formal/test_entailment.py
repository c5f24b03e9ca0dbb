"""Deciding entailment with z3 and E: verdicts, evidence, timeouts and the agreement policy.

Some cases are FOLIO validation examples (Yale-LILY/FOLIO, data/v0.0, CC BY-SA 4.0), read
from ../shared/data/folio/folio-validation-dev.jsonl by line number.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest

from forethought.exceptions import UserError
from forethought.tools.logic import (
    BackendVerdict,
    Countermodel,
    acheck_entailment,
    check_entailment,
    eprover_path,
    parse_formula,
)
from forethought.tools.logic import entailment as entailment_module
from forethought.tools.logic.entailment import _combine  # pyright: ignore[reportPrivateUsage]
from forethought.tools.logic.formulas import (
    Atom,
    Binary,
    Const,
    Equals,
    Formula,
    Func,
    Not,
    Quantified,
    Term,
    Truth,
    Var,
)

FOLIO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "folio" / \
    "folio-validation-dev.jsonl"
HAS_E = eprover_path() is not None
needs_e = pytest.mark.skipif(not HAS_E, reason="the E prover is not installed "
                             "(apt-get install eprover)")

RABBITS = ["∀x (Rabbit(x) → Cute(x))", "∃x Turtle(x)", "∀x (Rabbit(x) ∨ Squirrel(x))",
           "∀x (Skittish(x) → ¬Still(x))", "∀x (Squirrel(x) → Skittish(x))", "Still(rock)"]
# An infinite strict order without a greatest element has no finite model, so neither prover
# can show that it leaves P(a) open: they run until their time limit.
INFINITE = ["∀x ∃y Less(x, y)", "∀x ¬Less(x, x)",
            "∀x ∀y ∀z (Less(x, y) ∧ Less(y, z) → Less(x, z))"]


def folio(line: int) -> dict[str, Any]:
    with FOLIO.open(encoding="utf-8") as f:
        return json.loads(next(itertools.islice(f, line, None)))


# -- a tiny evaluator, to check that countermodels really are countermodels --------------------

def _value(t: Term, cm: Countermodel, env: dict[str, str]) -> str:
    if isinstance(t, Var):
        return env[t.name]
    if isinstance(t, Const):
        return cm.aliases.get(t.name, t.name)
    raise AssertionError(f"function terms are not used in these tests: {t}")


def holds(f: Formula, cm: Countermodel, env: dict[str, str] | None = None) -> bool:
    env = env or {}
    if isinstance(f, Atom):
        args = [_value(a, cm, env) for a in f.args]
        return (f"{f.pred}({', '.join(args)})" if args else f.pred) in cm.true_atoms
    if isinstance(f, Equals):
        return _value(f.left, cm, env) == _value(f.right, cm, env)
    if isinstance(f, Truth):
        return f.value
    if isinstance(f, Not):
        return not holds(f.body, cm, env)
    if isinstance(f, Quantified):
        results = (holds(f.body, cm, {**env, f.var: e}) for e in cm.domain)
        return all(results) if f.kind == "forall" else any(results)
    assert isinstance(f, Binary)
    left, right = holds(f.left, cm, env), holds(f.right, cm, env)
    return {"and": left and right, "or": left or right, "xor": left != right,
            "implies": (not left) or right, "iff": left == right}[f.op]


# -- z3 -------------------------------------------------------------------------------------

def test_true_false_and_the_premises_used() -> None:
    result = check_entailment(RABBITS, "Turtle(rock) ∨ Cute(rock)")
    assert result.verdict == "True"
    assert result.premises_used == [0, 2, 3, 4, 5]
    assert result.to_dict()["premises_used"]["6"] == "Still(rock)"
    result = check_entailment(RABBITS, "Cute(rock) ∧ Still(rock) → Turtle(rock) ∧ "
                              "Skittish(rock)")
    assert (result.verdict, result.premises_used) == ("False", [0, 2, 3, 4, 5])
    assert result.countermodel is None and result.agreement is None


def test_uncertain_comes_with_a_countermodel_that_really_is_one() -> None:
    result = check_entailment(RABBITS, "Turtle(rock)")
    assert result.verdict == "Uncertain" and result.premises_used == []
    cm = result.countermodel
    assert cm is not None and "rock" in cm.domain and "Turtle(rock)" not in cm.true_atoms
    for premise in RABBITS:
        assert holds(parse_formula(premise), cm), premise
    assert not holds(parse_formula("Turtle(rock)"), cm)
    assert result.to_dict()["countermodel"] == cm.to_dict()


def test_countermodel_names_aliased_constants_and_unnamed_elements() -> None:
    premises = ["a = b", "∃x ¬P(x)", "P(a)"]
    result = check_entailment(premises, "Q(a)")
    cm = result.countermodel
    assert result.verdict == "Uncertain" and cm is not None
    assert cm.aliases == {"b": "a"} and "#1" in cm.domain
    for premise in premises:
        assert holds(parse_formula(premise), cm)
    assert any("unique-names" in w for w in result.warnings)


def test_inconsistent_premises_are_reported_with_their_core() -> None:
    result = check_entailment(["P(a)", "Q(b)", "¬P(a)"], "Q(c)")
    assert (result.verdict, result.premises_used) == ("Inconsistent", [0, 2])


def test_warnings_for_overloaded_predicates_and_free_looking_constants() -> None:
    result = check_entailment(["Love(emma, summer)", "Love(mia)"], "Love(x)")
    assert result.verdict == "Uncertain"
    assert result.warnings == ["'Love' is used with 1 and 2 arguments; each arity is a "
                               "separate symbol",
                               "'x' is not bound by any quantifier and read as constant(s)"]


def test_parse_errors_name_the_premise_or_conclusion() -> None:
    with pytest.raises(UserError, match=r"^premise 2: unbalanced parentheses"):
        check_entailment(["P(a)", "(Q(a)"], "P(a)")
    with pytest.raises(UserError, match=r"^conclusion: expected a formula"):
        check_entailment(["P(a)"], "P(a) →")
    with pytest.raises(UserError, match="timeout_s must be positive"):
        check_entailment(["P(a)"], "P(a)", timeout_s=0)
    with pytest.raises(UserError, match="unknown backend 'vampire'"):
        check_entailment(["P(a)"], "P(a)", backend="vampire")  # type: ignore[arg-type]


async def test_the_sync_wrapper_refuses_a_running_loop() -> None:
    with pytest.raises(UserError, match="use 'await acheck_entailment"):
        check_entailment(["P(a)"], "P(a)")


async def test_z3_timeout_gives_unknown_promptly() -> None:
    start = time.perf_counter()
    result = await acheck_entailment(INFINITE, "P(a)", timeout_s=0.5)
    assert time.perf_counter() - start < 3
    assert result.verdict == "Unknown"
    assert result.reason is not None and result.reason.startswith("z3:")


@pytest.mark.parametrize(("line", "label"), [(0, "Uncertain"), (5, "False"), (9, "True"),
                                             (27, "True"), (50, "True"), (63, "True"),
                                             (90, "False"), (36, "False")])
def test_folio_examples_from_their_gold_fol(line: int, label: str) -> None:
    example = folio(line)
    assert example["label"] == label
    result = check_entailment(example["premises-FOL"], example["conclusion-FOL"])
    assert result.verdict == label


def test_folio_annotation_with_an_extra_parenthesis_is_a_parse_error() -> None:
    example = folio(54)
    with pytest.raises(UserError, match=r"^premise 6: unbalanced parentheses"):
        check_entailment(example["premises-FOL"], example["conclusion-FOL"])


# -- E, and both -------------------------------------------------------------------------------

@needs_e
def test_eprover_decides_and_names_the_axioms_it_used() -> None:
    result = check_entailment(RABBITS, "Turtle(rock) ∨ Cute(rock)", backend="eprover")
    assert result.verdict == "True" and set(result.premises_used) <= set(range(6))
    assert 5 in result.premises_used
    assert check_entailment(RABBITS, "Turtle(rock)", backend="eprover").verdict == "Uncertain"
    assert check_entailment(["P(a)", "¬P(a)"], "Q(b)", backend="eprover").verdict == \
        "Inconsistent"


@needs_e
def test_both_backends_agree_on_folio_examples() -> None:
    for line in (0, 5, 9, 90):
        example = folio(line)
        result = check_entailment(example["premises-FOL"], example["conclusion-FOL"],
                                  backend="both", require_agreement=True)
        assert result.agreement is True
        assert {b.verdict for b in result.backends.values()} == {example["label"]}
        assert result.verdict == example["label"]


@needs_e
async def test_eprover_timeout_is_a_result_not_a_hang() -> None:
    start = time.perf_counter()
    result = await acheck_entailment(INFINITE, "P(a)", backend="eprover", timeout_s=1)
    assert time.perf_counter() - start < 5
    assert result.verdict == "Unknown"
    assert result.reason is not None and result.reason.startswith("eprover: conclusion")


def test_missing_eprover_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("forethought.tools.logic.eprover.eprover_path", lambda: None)
    with pytest.raises(UserError, match="apt-get install eprover"):
        check_entailment(["P(a)"], "P(a)", backend="eprover")


def v(backend: str, verdict: str, reason: str | None = None) -> BackendVerdict:
    return BackendVerdict(backend=backend, verdict=verdict, reason=reason)  # type: ignore[arg-type]


def test_disagreement_policy() -> None:
    both = {"z3": v("z3", "True"), "eprover": v("eprover", "Uncertain")}
    chosen, agree, reason = _combine(both, require_agreement=True)
    assert (chosen.verdict, agree) == ("Unknown", False)
    assert reason == "backends disagree: z3 says True, eprover says Uncertain"
    chosen, agree, reason = _combine(both, require_agreement=False)
    assert (chosen.verdict, agree, reason) == ("True", False, None)
    undecided = {"z3": v("z3", "Unknown", "z3: timeout after 1 s"),
                 "eprover": v("eprover", "False")}
    chosen, agree, _ = _combine(undecided, require_agreement=False)
    assert (chosen.backend, chosen.verdict, agree) == ("eprover", "False", False)
    chosen, agree, reason = _combine(undecided, require_agreement=True)
    assert chosen.verdict == "Unknown" and reason == (
        "backends disagree: z3 says Unknown, eprover says False (z3: timeout after 1 s)")


async def test_disagreement_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    async def contrary(*_: object, **__: object) -> BackendVerdict:
        return v("eprover", "False")

    monkeypatch.setattr(entailment_module, "decide_with_eprover", contrary)
    monkeypatch.setattr(entailment_module, "eprover_path", lambda: "/usr/bin/eprover")
    strict = await acheck_entailment(["P(a)"], "P(a)", backend="both", require_agreement=True)
    assert (strict.verdict, strict.agreement) == ("Unknown", False)
    assert strict.to_dict() == {
        "verdict": "Unknown", "reason": "backends disagree: z3 says True, eprover says False",
        "backends": {"z3": "True", "eprover": "False"}}
    lenient = await acheck_entailment(["P(a)"], "P(a)", backend="both")
    assert (lenient.verdict, lenient.premises_used, lenient.agreement) == ("True", [0], False)


def test_function_terms_reach_both_backends() -> None:
    premises = ["∀x (Person(x) → Person(motherOf(x)))", "Person(ann)"]
    result = check_entailment(premises, "Person(motherOf(motherOf(ann)))")
    assert result.verdict == "True"
    uncertain = check_entailment(premises, "motherOf(ann) = ann")
    assert uncertain.verdict == "Uncertain" and uncertain.countermodel is not None
    assert any(f.startswith("motherOf(ann) = ") for f in uncertain.countermodel.functions)
    if HAS_E:
        assert check_entailment(premises, "Person(motherOf(motherOf(ann)))",
                                backend="eprover").verdict == "True"
    assert Func(name="motherOf", args=(Const(name="ann"),)) == parse_formula(
        "motherOf(ann) = ann").left  # type: ignore[union-attr]


async def test_concurrent_decisions_match_sequential_ones() -> None:
    """Each call has its own z3 context, so decisions in parallel threads do not interfere."""
    examples = [folio(line) for line in range(0, 40, 3) if line not in (1,)]
    problems = [(ex["premises-FOL"], ex["conclusion-FOL"]) for ex in examples]
    sequential = [(await acheck_entailment(p, c)).verdict for p, c in problems]
    parallel = await asyncio.gather(*(acheck_entailment(p, c) for p, c in problems))
    assert [r.verdict for r in parallel] == sequential == [ex["label"] for ex in examples]
