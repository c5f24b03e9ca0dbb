"""The JSON constraint format of the ``smt`` tool, and its translation to z3.

A problem declares typed variables and states constraints as expressions in Python syntax::

    {"variables": {"start": {"type": "int", "min": 540, "max": 1020},
                   "room": ["red", "blue"], "urgent": "bool", "cost": "real"},
     "constraints": ["start % 30 == 0", "implies(urgent, start < 600)",
                     "room != 'red' or cost <= 2.5"],
     "minimize": "start"}

Expressions: numbers, variables, enumeration values (bare or quoted), ``True``/``False``;
``+ - * / // % **`` (``/`` is exact division, ``//`` and ``%`` integer division and remainder
as in SMT-LIB); comparisons, chained ones too (``0 <= x < 10``) and ``x in [1, 2, 3]``;
``and or not``; ``a if c else b``; and the functions ``distinct``, ``implies``, ``iff``,
``xor``, ``ite``, ``abs``, ``min``, ``max``, ``sum``, ``at_most``, ``at_least``, ``exactly``.
A Boolean in arithmetic counts as 1 or 0, so ``a + b + c <= 1`` works on Booleans.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import pydantic

from forethought import _pyast
from forethought.exceptions import UserError
from forethought.tools._z3 import Context, Expr, Sort, z3_module
from forethought.tools.smt_lib import Objective

_MAX_POWER = 16
_TYPES = ("int", "real", "bool")


class VariableSpec(pydantic.BaseModel):
    """A variable with bounds, or an enumeration given as ``{"type": "enum", "values": [...]}``."""

    model_config = pydantic.ConfigDict(extra="forbid")
    type: Literal["int", "real", "bool", "enum"]
    values: list[str] | None = pydantic.Field(default=None, description="for type 'enum'")
    min: int | float | None = pydantic.Field(default=None, description="inclusive lower bound")
    max: int | float | None = pydantic.Field(default=None, description="inclusive upper bound")


VariableType: TypeAlias = Literal["int", "real", "bool"] | list[str] | VariableSpec


class ConstraintProblem(pydantic.BaseModel):
    """Typed variables, constraints over them, and optionally a quantity to optimise."""

    model_config = pydantic.ConfigDict(extra="forbid")
    variables: dict[str, VariableType] = pydantic.Field(
        description="name -> 'int' | 'real' | 'bool' | [enumeration values] | "
                    "{type, min, max}")
    constraints: list[str] = pydantic.Field(
        default_factory=list[str],
        description="expressions in Python syntax that must all hold, e.g. 'x + y <= 10', "
                    "'distinct(a, b, c)', 'implies(p, x > 2)'")
    minimize: str | None = pydantic.Field(default=None, description="expression to minimise")
    maximize: str | None = pydantic.Field(default=None, description="expression to maximise")

    @pydantic.model_validator(mode="before")
    @classmethod
    def _clear_messages(cls, data: Any) -> Any:
        """Name the offending variable in plain words instead of a pydantic union error."""
        if not isinstance(data, dict):
            return data
        variables = data.get("variables")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if isinstance(variables, dict):
            for name, spec in variables.items():  # pyright: ignore[reportUnknownVariableType]
                if isinstance(spec, str) and spec not in _TYPES:
                    raise ValueError(
                        f"variable {name!r}: unknown type {spec!r}; use 'int', 'real', 'bool', "
                        f"a list of enumeration values such as ['red', 'green'], or an object "
                        f"such as {{'type': 'int', 'min': 0, 'max': 10}}")
        return data  # pyright: ignore[reportUnknownVariableType]

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> ConstraintProblem:
        if self.minimize is not None and self.maximize is not None:
            raise ValueError("give either 'minimize' or 'maximize', not both")
        for name, spec in self.variables.items():
            if not name.isidentifier():
                raise ValueError(f"variable name {name!r} is not an identifier (letters, "
                                 f"digits and '_', not starting with a digit)")
            values = spec if isinstance(spec, list) else (
                spec.values if isinstance(spec, VariableSpec) else None)
            if isinstance(spec, VariableSpec) and (spec.type == "enum") != (values is not None):
                raise ValueError(f"variable {name!r}: 'values' goes with type 'enum' only")
            if values is not None:
                if not values or len(set(values)) != len(values):
                    raise ValueError(f"variable {name!r}: enumeration values must be a "
                                     f"non-empty list without repeats, got {values!r}")
                bad = [v for v in values if not v.isidentifier()]
                if bad:
                    raise ValueError(f"variable {name!r}: enumeration values must be "
                                     f"identifiers, got {bad!r}")
        return self


def _spec_of(spec: VariableType) -> tuple[str, tuple[str, ...], Any, Any]:
    if isinstance(spec, str):
        return spec, (), None, None
    if isinstance(spec, list):
        return "enum", tuple(spec), None, None
    return spec.type, tuple(spec.values or ()), spec.min, spec.max


@dataclass(kw_only=True)
class Compiled:
    """A problem translated to z3 terms in one context."""

    variables: dict[str, Expr] = field(default_factory=dict[str, Expr])
    items: list[tuple[str, str, Expr]] = field(default_factory=list[tuple[str, str, Expr]])
    """(key, text, formula) for each constraint and bound: key is the 1-based constraint
    number, or ``<variable>.min`` / ``<variable>.max``."""
    objectives: list[Objective] = field(default_factory=list[Objective])


class _Compiler:
    def __init__(self, ctx: Context) -> None:
        z3 = z3_module()
        self.z3 = z3
        self.ctx = ctx
        self.names: dict[str, Expr] = {}
        self.enum_values: dict[str, list[Expr]] = {}
        self.enum_sorts: dict[tuple[str, ...], Sort] = {}
        self.text = ""
        self.label = ""

    # -- declarations --------------------------------------------------------------------------
    def declare(self, name: str, spec: VariableType) -> Expr:
        z3 = self.z3
        kind, values, _, _ = _spec_of(spec)
        if kind == "int":
            var: Expr = z3.Int(name, self.ctx)
        elif kind == "real":
            var = z3.Real(name, self.ctx)
        elif kind == "bool":
            var = z3.Bool(name, self.ctx)
        else:
            if values not in self.enum_sorts:
                sort, consts = z3.EnumSort("{" + ", ".join(values) + "}", list(values),
                                           ctx=self.ctx)
                self.enum_sorts[values] = sort
                for value, const in zip(values, consts, strict=True):
                    self.enum_values.setdefault(value, []).append(const)
            var = z3.Const(name, self.enum_sorts[values])
        self.names[name] = var
        return var

    # -- errors --------------------------------------------------------------------------------
    def error(self, message: str, node: ast.AST | None = None) -> UserError:
        col = getattr(node, "col_offset", None)
        segment = ast.get_source_segment(self.text, node) if node is not None else None
        where = f" in {segment!r}" if segment and segment != self.text.strip() else ""
        caret = f"\n    {self.text}\n    {' ' * col}^" if col is not None else ""
        return UserError(f"{self.label}{where}: {message}{caret}")

    # -- expressions ---------------------------------------------------------------------------
    def compile(self, text: str, label: str) -> Expr:
        self.text, self.label = text.strip(), label
        if not self.text:
            raise UserError(f"{label}: the expression is empty")
        try:
            tree = _pyast.parse_expression(self.text)
        except SyntaxError as exc:
            col = (exc.offset or 1) - 1
            raise UserError(f"{label}: invalid syntax ({exc.msg}) at column {col + 1}:\n"
                            f"    {self.text}\n    {' ' * col}^") from None
        try:
            return self.expr(tree.body)
        except self.z3.Z3Exception as exc:
            raise self.error(f"the operand types do not fit ({exc})") from None
        except RecursionError:
            raise UserError(f"{label}: expression nested too deeply") from None

    def boolean_of(self, text: str, label: str) -> Expr:
        term = self.compile(text, label)
        if not self.z3.is_bool(term):
            raise UserError(f"{label}: {text!r} is a value of {term.sort()}, not a condition; "
                            f"compare it with something (e.g. '{text} > 0')")
        return term

    def boolean(self, node: ast.expr) -> Expr:
        e = self.expr(node)
        if not self.z3.is_bool(e):
            raise self.error(f"a condition (true or false) is needed here, not a value of "
                             f"{e.sort()}", node)
        return e

    def arith(self, node: ast.expr) -> Expr:
        e = self.expr(node)
        if self.z3.is_bool(e):
            return self.z3.If(e, self.z3.IntVal(1, self.ctx), self.z3.IntVal(0, self.ctx))
        if not self.z3.is_arith(e):
            raise self.error(f"a number is needed here, not a value of {e.sort()}", node)
        return e

    def name(self, ident: str, node: ast.expr, sort: Sort | None = None) -> Expr:
        if ident in self.names:
            return self.names[ident]
        if ident in ("True", "true"):
            return self.z3.BoolVal(True, self.ctx)
        if ident in ("False", "false"):
            return self.z3.BoolVal(False, self.ctx)
        candidates = self.enum_values.get(ident, [])
        if sort is not None:
            candidates = [c for c in candidates if c.sort() == sort]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise self.error(f"{ident!r} is a value of several enumerations; compare it with "
                             f"a variable (x == {ident!r}) so its type is known", node)
        known = ", ".join(sorted(self.names)) or "(none)"
        raise self.error(f"unknown name {ident!r}; declared variables: {known}", node)

    def operand(self, node: ast.expr, other: Expr | None) -> Expr:
        """An expression whose enumeration value (if bare or quoted) takes ``other``'s sort."""
        sort = other.sort() if other is not None and not self.z3.is_arith(other) else None
        if isinstance(node, ast.Name):
            return self.name(node.id, node, sort)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.name(node.value, node, sort)
        return self.expr(node)

    def expr(self, node: ast.expr) -> Expr:  # noqa: C901 - one branch per syntax form
        z3 = self.z3
        if isinstance(node, ast.Name):
            return self.name(node.id, node)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                return z3.BoolVal(value, self.ctx)
            if isinstance(value, int):
                return z3.IntVal(value, self.ctx)
            if isinstance(value, float):
                return z3.RealVal(repr(value), self.ctx)
            if isinstance(value, str):
                return self.name(value, node)
            raise self.error(f"unsupported constant {value!r}", node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return z3.Not(self.boolean(node.operand))
            if isinstance(node.op, ast.USub):
                return -self.arith(node.operand)
            if isinstance(node.op, ast.UAdd):
                return self.arith(node.operand)
        if isinstance(node, ast.BoolOp):
            parts = [self.boolean(v) for v in node.values]
            return z3.And(*parts) if isinstance(node.op, ast.And) else z3.Or(*parts)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            cond = self.boolean(node.test)
            then = self.expr(node.body)
            return z3.If(cond, then, self.operand(node.orelse, then))
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.error(f"unsupported syntax ({type(node).__name__}); see the tool "
                         f"description for what expressions may contain", node)

    def binop(self, node: ast.BinOp) -> Expr:
        z3 = self.z3
        left, right = self.arith(node.left), self.arith(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            if left.is_int() and right.is_int():
                left = z3.ToReal(left)
            return left / right
        if isinstance(op, ast.FloorDiv | ast.Mod):
            if not (left.is_int() and right.is_int()):
                raise self.error("'//' and '%' need integer operands", node)
            return left / right if isinstance(op, ast.FloorDiv) else left % right
        if isinstance(op, ast.Pow):
            exponent = node.right
            if isinstance(exponent, ast.Constant) and isinstance(exponent.value, int) \
                    and not isinstance(exponent.value, bool) \
                    and 0 < exponent.value <= _MAX_POWER:
                result = left
                for _ in range(exponent.value - 1):
                    result = result * left
                return result
            return left ** right
        raise self.error(f"operator {type(op).__name__} is not supported", node)

    def compare(self, node: ast.Compare) -> Expr:
        z3 = self.z3
        parts: list[Expr] = []
        left = self.operand(node.left, None)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right_node, ast.List | ast.Tuple | ast.Set):
                    raise self.error("'in' needs a literal list, e.g. x in [1, 2, 3]",
                                     right_node)
                member = z3.Or(*[left == self.operand(e, left) for e in right_node.elts]) \
                    if right_node.elts else z3.BoolVal(False, self.ctx)
                parts.append(z3.Not(member) if isinstance(op, ast.NotIn) else member)
                continue
            right = self.operand(right_node, left)
            if isinstance(node.left, ast.Name | ast.Constant) and left.sort() != right.sort() \
                    and not (z3.is_arith(left) and z3.is_arith(right)):
                left = self.operand(node.left, right)
            parts.append(self.relation(op, left, right, node))
            left = right
        return parts[0] if len(parts) == 1 else z3.And(*parts)

    def relation(self, op: ast.cmpop, left: Expr, right: Expr,
                 node: ast.expr) -> Expr:
        if isinstance(op, ast.Eq):
            return left == right
        if isinstance(op, ast.NotEq):
            return left != right
        a, b = self.as_number(left, node), self.as_number(right, node)
        table: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
            ast.Lt: lambda x, y: x < y, ast.LtE: lambda x, y: x <= y,
            ast.Gt: lambda x, y: x > y, ast.GtE: lambda x, y: x >= y}
        if type(op) not in table:
            raise self.error(f"comparison {type(op).__name__} is not supported", node)
        return table[type(op)](a, b)

    def as_number(self, e: Expr, node: ast.expr) -> Expr:
        if self.z3.is_bool(e):
            return self.z3.If(e, self.z3.IntVal(1, self.ctx), self.z3.IntVal(0, self.ctx))
        if not self.z3.is_arith(e):
            raise self.error(f"values of {e.sort()} can only be compared with == and !=", node)
        return e

    def call(self, node: ast.Call) -> Expr:  # noqa: C901 - one branch per function
        z3 = self.z3
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise self.error("only plain calls of the listed functions are supported", node)
        fname = node.func.id.lower()
        args = node.args
        if fname == "sum" and len(args) == 1 and isinstance(args[0], ast.List | ast.Tuple):
            args = list(args[0].elts)

        def need(n: int | None = None, at_least: int = 0) -> None:
            if (n is not None and len(args) != n) or len(args) < at_least:
                count = f"{n}" if n is not None else f"at least {at_least}"
                raise self.error(f"{fname}() takes {count} arguments, got {len(args)}", node)

        if fname in ("and", "or"):
            need(at_least=1)
            parts = [self.boolean(a) for a in args]
            return z3.And(*parts) if fname == "and" else z3.Or(*parts)
        if fname == "not":
            need(1)
            return z3.Not(self.boolean(args[0]))
        if fname in ("implies", "iff", "xor"):
            need(2)
            a, b = self.boolean(args[0]), self.boolean(args[1])
            if fname == "iff":
                return a == b
            return z3.Implies(a, b) if fname == "implies" else z3.Xor(a, b)
        if fname in ("ite", "if", "if_then_else"):
            need(3)
            then = self.expr(args[1])
            return z3.If(self.boolean(args[0]), then, self.operand(args[2], then))
        if fname == "distinct":
            need(at_least=2)
            first = self.expr(args[0])
            return z3.Distinct(first, *(self.operand(a, first) for a in args[1:]))
        if fname == "abs":
            need(1)
            x = self.arith(args[0])
            return z3.If(x >= 0, x, -x)
        if fname in ("min", "max"):
            need(at_least=1)
            values = [self.arith(a) for a in args]
            result = values[0]
            for v in values[1:]:
                result = z3.If(v < result, v, result) if fname == "min" \
                    else z3.If(v > result, v, result)
            return result
        if fname == "sum":
            need(at_least=1)
            return z3.Sum(*[self.arith(a) for a in args])
        if fname in ("at_most", "at_least", "exactly"):
            need(at_least=2)
            k = args[0]
            if not (isinstance(k, ast.Constant) and isinstance(k.value, int)):
                raise self.error(f"{fname}(k, ...) needs a whole number k first", node)
            bools = [self.boolean(a) for a in args[1:]]
            if fname == "at_most":
                return z3.AtMost(*bools, k.value)
            if fname == "at_least":
                return z3.AtLeast(*bools, k.value)
            return z3.PbEq([(b, 1) for b in bools], k.value)
        raise self.error(f"unknown function {node.func.id!r}; available: and, or, not, "
                         f"implies, iff, xor, ite, distinct, abs, min, max, sum, at_most, "
                         f"at_least, exactly", node)


def compile_problem(problem: ConstraintProblem, ctx: Context) -> Compiled:
    """Translate ``problem`` into z3 terms in ``ctx``.

    Raises:
        UserError: an expression does not parse or does not type-check; the message names
            the constraint (numbered from 1), the offending part and its column.
    """
    out = Compiled()
    compiler = _Compiler(ctx)
    for name, spec in problem.variables.items():
        var = compiler.declare(name, spec)
        out.variables[name] = var
        kind, _, low, high = _spec_of(spec)
        for key, bound in (("min", low), ("max", high)):
            if bound is None:
                continue
            if kind not in ("int", "real"):
                raise UserError(f"variable {name!r}: bounds need type 'int' or 'real'")
            value = compiler.compile(repr(bound), f"variable {name!r} {key}")
            holds: Expr = var >= value if key == "min" else var <= value
            sign = ">=" if key == "min" else "<="
            out.items.append((f"{name}.{key}", f"{name} {sign} {bound}", holds))
    for i, text in enumerate(problem.constraints):
        label = f"constraint {i + 1}"
        out.items.append((str(i + 1), text, compiler.boolean_of(text, label)))
    senses: tuple[Literal["minimize", "maximize"], ...] = ("minimize", "maximize")
    for sense in senses:
        text: str | None = getattr(problem, sense)
        if text is not None:
            term = compiler.compile(text, sense)
            if compiler.z3.is_bool(term) or not compiler.z3.is_arith(term):
                raise UserError(f"{sense}: {text!r} is not a numeric expression")
            out.objectives.append(Objective(sense=sense, text=text, term=term))
    return out

__all__: Sequence[str] = ["Compiled", "ConstraintProblem", "VariableSpec", "compile_problem"]
