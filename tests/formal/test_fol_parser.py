"""The first-order formula parser: notations, precedence, scope, and every kind of bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forethought.exceptions import UserError
from forethought.tools.logic import Signature, parse_formula, to_tptp
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


def P(name: str, *args: Term) -> Atom:
    return Atom(pred=name, args=args)


a, b, x, y = Const(name="a"), Const(name="b"), Var(name="x"), Var(name="y")


@pytest.mark.parametrize(("text", "expected"), [
    ("A ∧ B ∨ C", "(A ∧ B) ∨ C"),
    ("A ∨ B ∧ C", "A ∨ (B ∧ C)"),
    ("A ⊕ B → C ∧ D", "(A ⊕ B) → (C ∧ D)"),
    ("A → B → C", "A → (B → C)"),
    ("A ↔ B → C", "A ↔ (B → C)"),
    ("¬A ∧ B", "¬A ∧ B"),
    ("¬(A ∧ B)", "¬(A ∧ B)"),
    ("A ∨ B ⊕ C", "(A ∨ B) ⊕ C"),
    ("A ∧ B ∧ C", "(A ∧ B) ∧ C"),
])
def test_precedence_and_grouping(text: str, expected: str) -> None:
    assert str(parse_formula(text)) == expected


def test_quantifier_scope_extends_as_far_right_as_possible() -> None:
    assert parse_formula("∀x P(x) → Q(x)") == parse_formula("∀x (P(x) → Q(x))")
    assert parse_formula("∀x (P(x)) → Q(x)") == parse_formula("∀x (P(x) → Q(x))")
    assert parse_formula("∀x P(x) → Q(x)") == Quantified(
        kind="forall", var="x", body=Binary(op="implies", left=P("P", x), right=P("Q", x)))
    # parentheses end the scope; the name outside them is a constant
    assert parse_formula("(∀x P(x)) → Q(x)") == Binary(
        op="implies", left=Quantified(kind="forall", var="x", body=P("P", x)),
        right=P("Q", Const(name="x")))
    assert str(parse_formula("¬∀x (Movie(x) → HappyEnding(x))")) == \
        "¬∀x (Movie(x) → HappyEnding(x))"


@pytest.mark.parametrize("ascii_text", [
    "forall x. (rabbit(x) -> cute(x)) & ~still(rock) | x2(rock) xor p",
    "all x: (rabbit(x) => cute(x)) && !still(rock) || x2(rock) xor p",
    "forall x (rabbit(x) implies cute(x)) and not still(rock) or x2(rock) xor p",
    r"∀x (rabbit(x) → cute(x)) /\ -still(rock) \/ x2(rock) ⊻ p",
])
def test_ascii_and_unicode_spellings_mean_the_same(ascii_text: str) -> None:
    unicode = parse_formula("∀x (rabbit(x) → cute(x)) ∧ ¬still(rock) ∨ x2(rock) ⊕ p")
    assert parse_formula(ascii_text) == unicode


def test_several_quantified_variables_in_one_prefix() -> None:
    expected = parse_formula("∀x ∀y (R(x, y) → R(y, x))")
    for text in ("∀x, y (R(x, y) → R(y, x))", "forall x y. R(x, y) -> R(y, x)",
                 "∀x∀y(R(x,y)→R(y,x))"):
        assert parse_formula(text) == expected
    # without a point after it, a second name is not a variable list: it starts the body
    assert parse_formula("∃x Raining") == Quantified(kind="exists", var="x",
                                                     body=Atom(pred="Raining"))


def test_folio_quirks_names_spaces_numbers() -> None:
    assert parse_formula("Mammal (x)") == P("Mammal", Const(name="x"))
    assert parse_formula("LostToIgaŚwiątek(cocoGauff)").pred == "LostToIgaŚwiątek"  # type: ignore[union-attr]
    assert parse_formula("Companies’Stocks(kO)") == P("Companies’Stocks", Const(name="kO"))
    assert parse_formula("ValuedAt(yale, y42.3billion)") == P(
        "ValuedAt", Const(name="yale"), Const(name="y42.3billion"))
    assert parse_formula("Five-Story(b)").pred == "Five-Story"  # type: ignore[union-attr]
    assert parse_formula("Hosted(beijing, summer olympics)") == P(
        "Hosted", Const(name="beijing"), Const(name="summer_olympics"))
    assert parse_formula("Age(tom, 35)") == P("Age", Const(name="tom"), Const(name="35"))


def test_equality_functions_truth_constants() -> None:
    assert parse_formula("∀x (x = a ∨ x ≠ b)") == Quantified(kind="forall", var="x", body=Binary(
        op="or", left=Equals(left=x, right=a), right=Not(body=Equals(left=x, right=b))))
    assert parse_formula("fatherOf(a) = b") == Equals(
        left=Func(name="fatherOf", args=(a,)), right=b)
    assert parse_formula("Likes(a, fatherOf(b))") == P("Likes", a, Func(name="fatherOf",
                                                                        args=(b,)))
    assert parse_formula("⊤ → ⊥") == Binary(op="implies", left=Truth(value=True),
                                           right=Truth(value=False))


def error_of(text: str) -> str:
    with pytest.raises(UserError) as info:
        parse_formula(text, label="premise 2")
    return str(info.value)


def test_errors_point_at_line_and_column_with_a_caret() -> None:
    assert error_of("∀x (P(x) Q(x))") == (
        "premise 2: expected a connective or ')' to close the '(' at column 4, found 'Q' "
        "at line 1, column 10:\n    ∀x (P(x) Q(x))\n             ^")
    assert error_of("P(a) ∧") == (
        "premise 2: expected a formula, found the end of the formula at line 1, column 7:\n"
        "    P(a) ∧\n          ^")
    assert error_of("P(a)\n∧ ∧ Q(b)").startswith(
        "premise 2: expected a formula, found '∧' at line 2, column 3:\n    ∧ ∧ Q(b)\n      ^")
    assert "unexpected character '#' at line 1, column 3" in error_of("P(#)")
    assert "expected a variable after '∀', found '('" in error_of("∀(P(x))")
    assert "expected a formula after ∀x, found the end" in error_of("∀x")
    assert "empty argument list" in error_of("P() ∧ Q")
    assert "expected a term" in error_of("P(a, ∧)")
    assert "unexpected 'Q' after a complete formula" in error_of("P(a) Q")
    assert "empty formula" in error_of("   ")
    assert "'x' is a bound variable inside the several-word name 'x y'" in error_of(
        "∀x P(x y)")


def test_unbalanced_parentheses_get_their_own_message() -> None:
    # FOLIO validation example 1's conclusion, verbatim (CC BY-SA 4.0, Yale-LILY/FOLIO)
    folio = "Chaperone(bonnie) ⊕ TalentShows(bonnie) → AcademicCareer(bonnie) ∧ Inactive(bonnie))"
    message = error_of(folio)
    assert message.startswith("premise 2: unbalanced parentheses: this ')' closes nothing")
    assert "line 1, column 84" in message and message.endswith(" " * 87 + "^")
    message = error_of("∀x ((P(x) → Q(x))")
    assert message.startswith("premise 2: unbalanced parentheses: this '(' is never closed "
                              "(1 ')' missing) at line 1, column 4")


def test_signature_reports_overloaded_arities() -> None:
    formulas = [parse_formula("Love(emma, summer)"), parse_formula("Love(mia) ∧ f(a) = f(a, b)")]
    sig = Signature.of(formulas)
    assert sig.predicates == {"Love": {1, 2}}
    assert sig.constants == {"emma", "summer", "mia", "a", "b"}
    assert sig.overloaded() == {"Love": [1, 2], "f": [1, 2]}


def test_tptp_export_mangles_names_and_arities() -> None:
    premises = [parse_formula("∀x (Love(x, summer) ⊕ Love(x))"),
                parse_formula("LostToIgaŚwiątek(coco_gauff)")]
    assert to_tptp(premises, parse_formula("∃y ¬(y = coco_gauff)")) == (
        "fof(p1, axiom, ! [X0] : ((p_Love_2(X0,c_summer)) <~> (p_Love_1(X0)))).\n"
        "fof(p2, axiom, p_LostToIga_u15a_wi_u105_tek(c_coco_u5f_gauff)).\n"
        "fof(goal, conjecture, ? [X1] : (~ (X1 = c_coco_u5f_gauff))).\n")


# -- round trip: printing a formula and parsing it back gives the same tree --------------------

@st.composite
def terms(draw: st.DrawFn, bound: tuple[str, ...]) -> Term:
    choices: list[Term] = [Const(name=n) for n in ("a", "b")]
    choices += [Var(name=v) for v in bound]
    return draw(st.sampled_from(choices))


@st.composite
def formulas(draw: st.DrawFn, depth: int = 0, bound: tuple[str, ...] = ()) -> Formula:
    kinds = ["atom", "prop"] if depth >= 4 else ["atom", "prop", "not", "binary", "quant", "eq"]
    kind = draw(st.sampled_from(kinds))
    if kind == "atom":
        arity = draw(st.integers(1, 2))
        return Atom(pred=draw(st.sampled_from(["P", "Q"])),
                    args=tuple(draw(terms(bound)) for _ in range(arity)))
    if kind == "prop":
        return Atom(pred=draw(st.sampled_from(["R", "S"])))
    if kind == "eq":
        return Equals(left=draw(terms(bound)), right=draw(terms(bound)))
    if kind == "not":
        return Not(body=draw(formulas(depth + 1, bound)))
    if kind == "binary":
        return Binary(op=draw(st.sampled_from(["and", "or", "xor", "implies", "iff"])),
                      left=draw(formulas(depth + 1, bound)),
                      right=draw(formulas(depth + 1, bound)))
    var = draw(st.sampled_from(["x", "y"]))
    return Quantified(kind=draw(st.sampled_from(["forall", "exists"])), var=var,
                      body=draw(formulas(depth + 1, (*bound, var))))


@settings(max_examples=300, deadline=None)
@given(formulas())
def test_printed_formulas_parse_back_to_the_same_tree(f: Formula) -> None:
    assert parse_formula(str(f)) == f
