"""Export formulas as a TPTP first-order (``fof``) problem, for E and other TPTP provers.

TPTP wants functors and predicates in lower case and variables in upper case, in ASCII, and
each symbol with one arity, so names are mangled: predicates ``p_<name>``, constants
``c_<name>``, functions ``f_<name>`` (an arity suffix ``_<n>`` when a name is used with several
arities), characters outside ``[A-Za-z0-9]`` as ``_u<hex>_``, and bound variables ``X0, X1, ...``.
Premise ``i`` (0-based) is the axiom ``p<i+1>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from forethought.tools.logic.formulas import (
    Atom,
    Const,
    Equals,
    Formula,
    Not,
    Quantified,
    Signature,
    Term,
    Truth,
    Var,
)

_OPS = {"and": "&", "or": "|", "xor": "<~>", "implies": "=>", "iff": "<=>"}


def mangle(name: str) -> str:
    """``name`` with every character outside ``[A-Za-z0-9]`` spelled as ``_u<hex>_``."""
    return "".join(c if c.isascii() and c.isalnum() else f"_u{ord(c):x}_" for c in name)


class _Writer:
    def __init__(self, sig: Signature) -> None:
        self.sig = sig
        self.counter = 0

    def symbol(self, prefix: str, name: str, arity: int, arities: set[int]) -> str:
        base = f"{prefix}_{mangle(name)}"
        return f"{base}_{arity}" if len(arities) > 1 else base

    def term(self, t: Term, env: dict[str, str]) -> str:
        if isinstance(t, Var):
            return env[t.name]
        if isinstance(t, Const):
            return f"c_{mangle(t.name)}"
        name = self.symbol("f", t.name, len(t.args), self.sig.functions.get(t.name, set()))
        return f"{name}({','.join(self.term(a, env) for a in t.args)})"

    def formula(self, f: Formula, env: dict[str, str]) -> str:
        if isinstance(f, Atom):
            name = self.symbol("p", f.pred, len(f.args), self.sig.predicates.get(f.pred, set()))
            return f"{name}({','.join(self.term(a, env) for a in f.args)})" if f.args else name
        if isinstance(f, Equals):
            return f"{self.term(f.left, env)} = {self.term(f.right, env)}"
        if isinstance(f, Truth):
            return "$true" if f.value else "$false"
        if isinstance(f, Not):
            return f"~ ({self.formula(f.body, env)})"
        if isinstance(f, Quantified):
            var = f"X{self.counter}"
            self.counter += 1
            symbol = "!" if f.kind == "forall" else "?"
            return f"{symbol} [{var}] : ({self.formula(f.body, {**env, f.var: var})})"
        return (f"({self.formula(f.left, env)}) {_OPS[f.op]} "
                f"({self.formula(f.right, env)})")


def to_tptp(premises: Sequence[Formula], conclusion: Formula | None = None) -> str:
    """A TPTP problem: each premise an axiom, the conclusion (if any) the conjecture."""
    writer = _Writer(Signature.of([*premises, *([conclusion] if conclusion else [])]))
    lines = [f"fof(p{i + 1}, axiom, {writer.formula(p, {})})." for i, p in enumerate(premises)]
    if conclusion is not None:
        lines.append(f"fof(goal, conjecture, {writer.formula(conclusion, {})}).")
    return "\n".join(lines) + "\n"
