"""First-order formulas as immutable trees, and the signature (symbols and arities) they use.

Terms are variables, constants and function applications; formulas are atoms, equalities,
the connectives and the two quantifiers. Every node prints back in FOLIO's Unicode notation
(:func:`str`), fully parenthesised, so a parse can be checked by reading it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeAlias


@dataclass(frozen=True, kw_only=True)
class Var:
    """A variable bound by an enclosing quantifier."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, kw_only=True)
class Const:
    """A constant (an individual): any name in term position that no quantifier binds."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, kw_only=True)
class Func:
    """A function applied to terms, e.g. ``fatherOf(x)`` inside an atom."""

    name: str
    args: tuple[Term, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(map(str, self.args))})"


Term: TypeAlias = Var | Const | Func


@dataclass(frozen=True, kw_only=True)
class Atom:
    """A predicate applied to terms; a proposition when ``args`` is empty."""

    pred: str
    args: tuple[Term, ...] = ()

    def __str__(self) -> str:
        return f"{self.pred}({', '.join(map(str, self.args))})" if self.args else self.pred


@dataclass(frozen=True, kw_only=True)
class Equals:
    left: Term
    right: Term

    def __str__(self) -> str:
        return f"{self.left} = {self.right}"


@dataclass(frozen=True, kw_only=True)
class Truth:
    """The constant formulas ⊤ and ⊥."""

    value: bool

    def __str__(self) -> str:
        return "⊤" if self.value else "⊥"


@dataclass(frozen=True, kw_only=True)
class Not:
    body: Formula

    def __str__(self) -> str:
        return f"¬{_wrap(self.body)}"


Connective: TypeAlias = Literal["and", "or", "xor", "implies", "iff"]
SYMBOLS: dict[Connective, str] = {"and": "∧", "or": "∨", "xor": "⊕", "implies": "→",
                                  "iff": "↔"}


@dataclass(frozen=True, kw_only=True)
class Binary:
    """``left op right`` for one of the binary connectives."""

    op: Connective
    left: Formula
    right: Formula

    def __str__(self) -> str:
        return f"{_operand(self.left)} {SYMBOLS[self.op]} {_operand(self.right)}"


@dataclass(frozen=True, kw_only=True)
class Quantified:
    """``∀x body`` or ``∃x body``."""

    kind: Literal["forall", "exists"]
    var: str
    body: Formula

    def __str__(self) -> str:
        symbol = "∀" if self.kind == "forall" else "∃"
        return f"{symbol}{self.var} {_wrap(self.body)}"


Formula: TypeAlias = Atom | Equals | Truth | Not | Binary | Quantified


def _wrap(f: Formula) -> str:
    return f"({f})" if isinstance(f, Binary | Equals) else str(f)


def _operand(f: Formula) -> str:
    """An operand of a connective: a quantifier (also under negations) is parenthesised, as
    its scope would otherwise extend over the rest of the formula when read back.
    """
    inner = f
    while isinstance(inner, Not):
        inner = inner.body
    return f"({f})" if isinstance(inner, Quantified) else _wrap(f)


def subformulas(f: Formula) -> Iterator[Formula]:
    """``f`` and every formula inside it, outermost first."""
    stack: list[Formula] = [f]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Not | Quantified):
            stack.append(node.body)
        elif isinstance(node, Binary):
            stack.extend((node.right, node.left))


def _term_symbols(t: Term, sig: Signature) -> None:
    if isinstance(t, Const):
        sig.constants.add(t.name)
    elif isinstance(t, Func):
        sig.functions.setdefault(t.name, set()).add(len(t.args))
        for a in t.args:
            _term_symbols(a, sig)


@dataclass(kw_only=True)
class Signature:
    """The non-logical symbols of a set of formulas."""

    predicates: dict[str, set[int]] = field(default_factory=dict[str, set[int]])
    """Predicate name -> the arities it is used with (more than one is a likely slip)."""
    functions: dict[str, set[int]] = field(default_factory=dict[str, set[int]])
    constants: set[str] = field(default_factory=set[str])

    @classmethod
    def of(cls, formulas: list[Formula]) -> Signature:
        sig = cls()
        for f in formulas:
            for node in subformulas(f):
                if isinstance(node, Atom):
                    sig.predicates.setdefault(node.pred, set()).add(len(node.args))
                    for a in node.args:
                        _term_symbols(a, sig)
                elif isinstance(node, Equals):
                    _term_symbols(node.left, sig)
                    _term_symbols(node.right, sig)
        return sig

    def overloaded(self) -> dict[str, list[int]]:
        """Predicates and functions used with more than one arity (each arity becomes its own
        symbol, as a prover would need; the caller is told).
        """
        out = {n: sorted(a) for n, a in self.predicates.items() if len(a) > 1}
        out.update({n: sorted(a) for n, a in self.functions.items() if len(a) > 1})
        return out
