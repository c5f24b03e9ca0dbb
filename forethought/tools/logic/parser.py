"""A recursive-descent parser for first-order formulas (FOLIO's notation and ASCII).

Precedence, tightest first: ``¬`` and the quantifiers, ``∧``, ``∨``, ``⊕``, ``→``, ``↔``.
``∧ ∨ ⊕`` group to the left, ``→`` and ``↔`` to the right, so ``A ⊕ B → C ∧ D`` reads
``(A ⊕ B) → (C ∧ D)``.

A quantifier's scope extends as far to the right as possible: to the end of the formula or of
the parenthesised group it stands in. ``∀x P(x) → Q(x)`` therefore means
``∀x (P(x) → Q(x))``; this is the reading FOLIO's annotations intend, and the one of
Logic-LM's FOLIO grammar (``S → QUANT VAR S``). To quantify only part of a formula, put the
quantified part in parentheses: ``(∀x P(x)) → Q(a)``.

Names in argument positions are variables when an enclosing quantifier binds them and
constants otherwise. Several words in one argument position (``Hosted(beijing, summer
olympics)``) name one constant, joined with ``_``. A name with arguments inside an argument
list is a function term. ``=`` and ``≠`` compare terms.
"""

from __future__ import annotations

from forethought.exceptions import UserError
from forethought.tools.logic.formulas import (
    Atom,
    Binary,
    Connective,
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
from forethought.tools.logic.lexer import Token, syntax_error, tokenize

_MAX_DEPTH = 200
_CANNOT_START = frozenset({"end", "rparen", "comma", "and", "or", "xor", "implies", "iff"})
"""Tokens that cannot begin a formula (checked after a quantifier for a clearer message)."""


def _describe(tok: Token) -> str:
    return "the end of the formula" if tok.kind == "end" else repr(tok.text)


class _Parser:
    def __init__(self, source: str, label: str) -> None:
        self.source = source
        self.label = label
        self.tokens = tokenize(source, label=label)
        self.pos = 0
        self.bound: list[str] = []
        self.depth = 0

    # -- helpers -----------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def kind(self) -> str:
        """The kind of the current token (a method, so type narrowing never goes stale)."""
        return self.tokens[self.pos].kind

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> UserError:
        return syntax_error(self.source, (tok or self.tok).start, message, label=self.label)

    def expect(self, kind: str, what: str) -> Token:
        if self.kind() != kind:
            raise self.error(f"expected {what}, found {_describe(self.tok)}")
        return self.take()

    # -- formulas ----------------------------------------------------------------------------
    def parse(self) -> Formula:
        if self.kind() == "end":
            raise self.error("empty formula")
        f = self.formula()
        if self.kind() != "end":
            raise self.error(f"unexpected {_describe(self.tok)} after a complete formula "
                             f"(a connective missing?)")
        return f

    def formula(self) -> Formula:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(f"formula nested more than {_MAX_DEPTH} levels deep")
        try:
            return self.iff()
        finally:
            self.depth -= 1

    def _right(self, op: Connective, operand: str) -> Formula:
        left = getattr(self, operand)()
        if self.kind() == op:
            self.take()
            return Binary(op=op, left=left, right=self._right(op, operand))
        return left

    def _left(self, op: Connective, operand: str) -> Formula:
        left = getattr(self, operand)()
        while self.kind() == op:
            self.take()
            left = Binary(op=op, left=left, right=getattr(self, operand)())
        return left

    def iff(self) -> Formula:
        return self._right("iff", "implies")

    def implies(self) -> Formula:
        return self._right("implies", "xor")

    def xor(self) -> Formula:
        return self._left("xor", "disjunction")

    def disjunction(self) -> Formula:
        return self._left("or", "conjunction")

    def conjunction(self) -> Formula:
        return self._left("and", "unary")

    def unary(self) -> Formula:
        tok = self.tok
        if tok.kind == "not":
            self.take()
            return Not(body=self.unary())
        if tok.kind in ("forall", "exists"):
            return self.quantified()
        return self.primary()

    def quantified(self) -> Formula:
        quant = self.take()
        names = self.variables(quant)
        if self.kind() in _CANNOT_START:
            raise self.error(f"expected a formula after {quant.text}{' '.join(names)}, "
                             f"found {_describe(self.tok)}")
        self.bound.extend(names)
        try:
            body = self.formula()  # the scope extends as far right as possible
        finally:
            del self.bound[len(self.bound) - len(names):]
        kind = "forall" if quant.kind == "forall" else "exists"
        for name in reversed(names):
            body = Quantified(kind=kind, var=name, body=body)
        return body

    def variables(self, quant: Token) -> list[str]:
        if self.kind() != "name":
            raise self.error(f"expected a variable after {quant.text!r}, found "
                             f"{_describe(self.tok)}")
        names = [self.take().text]
        if self.kind() == "comma":  # ∀x, y, z
            while self.kind() == "comma" and self.peek().kind == "name":
                self.take()
                names.append(self.take().text)
        else:  # ∀x y z. body  (only with the separating point or colon)
            ahead = 0
            while self.peek(ahead).kind == "name" and self.peek(ahead + 1).kind != "lparen":
                ahead += 1
            if ahead and self.peek(ahead).kind in ("dot", "colon"):
                names.extend(self.take().text for _ in range(ahead))
        if self.kind() in ("dot", "colon"):
            self.take()
        return names

    def primary(self) -> Formula:
        tok = self.tok
        if tok.kind == "lparen":
            self.take()
            f = self.formula()
            if self.kind() != "rparen":
                raise self.error(f"expected a connective or ')' to close the '(' at column "
                                 f"{self._column(tok)}, found {_describe(self.tok)}")
            self.take()
            return f
        if tok.kind in ("true", "false"):
            self.take()
            return Truth(value=tok.kind == "true")
        if tok.kind == "name":
            self.take()
            args = self.arguments() if self.kind() == "lparen" else None
            if self.kind() in ("eq", "neq"):
                left: Term = (Func(name=tok.text, args=tuple(args)) if args is not None
                              else self.name_term(tok.text))
                return self.equality(left)
            return Atom(pred=tok.text, args=tuple(args or ()))
        raise self.error(f"expected a formula, found {_describe(tok)}")

    def equality(self, left: Term) -> Formula:
        op = self.take()
        right = self.term()
        eq = Equals(left=left, right=right)
        return Not(body=eq) if op.kind == "neq" else eq

    # -- terms -------------------------------------------------------------------------------
    def arguments(self) -> list[Term]:
        open_tok = self.take()
        if self.kind() == "rparen":
            raise self.error("empty argument list; write a proposition without parentheses",
                             open_tok)
        args = [self.term()]
        while self.kind() == "comma":
            self.take()
            args.append(self.term())
        if self.kind() != "rparen":
            raise self.error(f"expected ',' or ')' in the argument list opened at column "
                             f"{self._column(open_tok)}, found {_describe(self.tok)}")
        self.take()
        return args

    def term(self) -> Term:
        tok = self.tok
        if tok.kind != "name":
            raise self.error(f"expected a term (a variable or constant), found "
                             f"{_describe(tok)}")
        self.take()
        if self.kind() == "lparen":
            return Func(name=tok.text, args=tuple(self.arguments()))
        words = [tok]
        while self.kind() == "name" and self.peek().kind != "lparen":
            words.append(self.take())
        if len(words) == 1:
            return self.name_term(tok.text)
        for word in words:
            if word.text in self.bound:
                raise self.error(f"{word.text!r} is a bound variable inside the several-word "
                                 f"name {' '.join(w.text for w in words)!r}; a ',' missing?",
                                 word)
        return Const(name="_".join(w.text for w in words))

    def name_term(self, name: str) -> Term:
        return Var(name=name) if name in self.bound else Const(name=name)

    def _column(self, tok: Token) -> int:
        return tok.start - (self.source.rfind("\n", 0, tok.start) + 1) + 1


def parse_formula(source: str, *, label: str = "") -> Formula:
    """Parse one first-order formula.

    Args:
        source: The formula, e.g. ``"∀x (Rabbit(x) → Cute(x))"`` or
            ``"forall x. rabbit(x) -> cute(x)"``.
        label: Prefix for error messages, e.g. ``"premise 3"``.

    Raises:
        UserError: the formula cannot be parsed; the message gives the line and column with a
            caret under the offending place, and names unbalanced parentheses as such.
    """
    return _Parser(source, label).parse()
