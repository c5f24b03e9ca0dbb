"""Deciding entailment with z3: one uninterpreted sort, predicates as Boolean functions.

Two satisfiability checks answer the question: premises ∧ ¬conclusion (unsatisfiable means
the premises entail the conclusion) and premises ∧ conclusion (unsatisfiable means they entail
its negation). Each premise is guarded by an assumption literal, so an unsatisfiable check
yields an unsat core naming the premises the proof needs; a satisfiable first check yields the
countermodel. Each call uses its own ``z3.Context`` (threads never share solver state) and a
watchdog interrupts the context should a check ignore its timeout.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

from forethought.tools._z3 import Context, Expr, FuncDecl, Model, z3_module
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
from forethought.tools.logic.results import BackendVerdict, Countermodel

_GRACE_S = 1.0
"""How long past its timeout a check may run before the watchdog interrupts it."""
MAX_DOMAIN = 16
MAX_ATOMS = 200


class _Translator:
    def __init__(self, ctx: Context, sig: Signature) -> None:
        z3 = z3_module()
        self.z3 = z3
        self.ctx = ctx
        self.sig = sig
        self.sort = z3.DeclareSort("Object", ctx)
        self.preds: dict[tuple[str, int], FuncDecl] = {}
        self.funcs: dict[tuple[str, int], FuncDecl] = {}
        self.consts: dict[str, Expr] = {}

    def pred(self, name: str, arity: int) -> FuncDecl:
        key = (name, arity)
        if key not in self.preds:
            label = name if len(self.sig.predicates.get(name, ())) <= 1 else f"{name}/{arity}"
            self.preds[key] = self.z3.Function(label, *([self.sort] * arity),
                                               self.z3.BoolSort(self.ctx))
        return self.preds[key]

    def func(self, name: str, arity: int) -> FuncDecl:
        key = (name, arity)
        if key not in self.funcs:
            label = name if len(self.sig.functions.get(name, ())) <= 1 else f"{name}/{arity}"
            self.funcs[key] = self.z3.Function(label, *([self.sort] * (arity + 1)))
        return self.funcs[key]

    def const(self, name: str) -> Expr:
        if name not in self.consts:
            self.consts[name] = self.z3.Const(name, self.sort)
        return self.consts[name]

    def term(self, t: Term, env: dict[str, Expr]) -> Expr:
        if isinstance(t, Var):
            return env[t.name]
        if isinstance(t, Const):
            return self.const(t.name)
        return self.func(t.name, len(t.args))(*(self.term(a, env) for a in t.args))

    def formula(self, f: Formula, env: dict[str, Expr] | None = None) -> Expr:
        z3 = self.z3
        env = env or {}
        if isinstance(f, Atom):
            decl = self.pred(f.pred, len(f.args))
            return decl(*(self.term(a, env) for a in f.args))
        if isinstance(f, Equals):
            return self.term(f.left, env) == self.term(f.right, env)
        if isinstance(f, Truth):
            return z3.BoolVal(f.value, self.ctx)
        if isinstance(f, Not):
            return z3.Not(self.formula(f.body, env))
        if isinstance(f, Quantified):
            var = z3.FreshConst(self.sort, prefix=f.var)
            body = self.formula(f.body, {**env, f.var: var})
            return z3.ForAll([var], body) if f.kind == "forall" else z3.Exists([var], body)
        left, right = self.formula(f.left, env), self.formula(f.right, env)
        if f.op == "and":
            return z3.And(left, right)
        if f.op == "or":
            return z3.Or(left, right)
        if f.op == "xor":
            return z3.Xor(left, right)
        if f.op == "implies":
            return z3.Implies(left, right)
        return left == right


def _countermodel(model: Model, tr: _Translator) -> Countermodel:
    z3 = tr.z3
    universe = list(model.get_universe(tr.sort) or [])
    truncated = len(universe) > MAX_DOMAIN
    universe = universe[:MAX_DOMAIN]
    labels: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for name in sorted(tr.consts):
        key = model.eval(tr.consts[name], model_completion=True).sexpr()
        if key in labels:
            aliases[name] = labels[key]
        else:
            labels[key] = name
    unnamed = 0
    for element in universe:
        if element.sexpr() not in labels:
            unnamed += 1
            labels[element.sexpr()] = f"#{unnamed}"
    domain = [labels[e.sexpr()] for e in universe]

    def show(e: Expr) -> str:
        key: str = e.sexpr()
        return labels.get(key, key)

    atoms: list[str] = []
    for (name, arity), decl in sorted(tr.preds.items()):
        for args in itertools.product(universe, repeat=arity):
            if len(atoms) >= MAX_ATOMS:
                truncated = True
                break
            if z3.is_true(model.eval(decl(*args), model_completion=True)):
                atoms.append(f"{name}({', '.join(show(a) for a in args)})" if arity else name)
    functions: list[str] = []
    for (name, arity), decl in sorted(tr.funcs.items()):
        for args in itertools.product(universe, repeat=arity):
            if len(functions) >= MAX_ATOMS:
                truncated = True
                break
            value = model.eval(decl(*args), model_completion=True)
            functions.append(f"{name}({', '.join(show(a) for a in args)}) = {show(value)}")
    return Countermodel(domain=domain, true_atoms=atoms, aliases=aliases, functions=functions,
                        truncated=truncated)


def decide_with_z3(premises: Sequence[Formula], conclusion: Formula, *,
                   timeout_s: float) -> BackendVerdict:
    """Decide whether ``premises`` entail ``conclusion`` (blocking; run it in a thread)."""
    z3 = z3_module()
    start = time.perf_counter()
    deadline = start + timeout_s
    ctx = z3.Context()
    watchdog = threading.Timer(timeout_s + _GRACE_S, ctx.interrupt)
    watchdog.daemon = True
    watchdog.start()
    try:
        tr = _Translator(ctx, Signature.of([*premises, conclusion]))
        solver = z3.Solver(ctx=ctx)
        solver.set("core.minimize", True)
        guards = [z3.Bool(f"premise!{i}", ctx) for i in range(len(premises))]
        for guard, premise in zip(guards, premises, strict=True):
            solver.add(z3.Implies(guard, tr.formula(premise)))
        goal = tr.formula(conclusion)
        negated, affirmed = z3.Bool("conclusion!false", ctx), z3.Bool("conclusion!true", ctx)
        solver.add(z3.Implies(negated, z3.Not(goal)), z3.Implies(affirmed, goal))
        index = {g.get_id(): i for i, g in enumerate(guards)}

        def check(extra: Expr) -> tuple[Any, list[int], bool]:
            """Result, premises in the core, and whether the extra literal is in the core."""
            remaining_ms = int((deadline - time.perf_counter()) * 1000)
            if remaining_ms <= 0:
                return z3.unknown, [], False
            solver.set("timeout", remaining_ms)
            result = solver.check(*guards, extra)
            if result != z3.unsat:
                return result, [], False
            core = {c.get_id() for c in solver.unsat_core()}
            return result, sorted(index[c] for c in core if c in index), extra.get_id() in core

        def verdict(**kw: Any) -> BackendVerdict:
            return BackendVerdict(backend="z3", duration_s=time.perf_counter() - start, **kw)

        not_c, used, needs_negation = check(negated)
        if not_c == z3.unsat and not needs_negation:
            return verdict(verdict="Inconsistent", premises_used=used)
        model = solver.model() if not_c == z3.sat else None
        unknown_reason = solver.reason_unknown() if not_c == z3.unknown else None
        yes_c, used_c, needs_conclusion = check(affirmed)
        if yes_c == z3.unsat and not needs_conclusion:
            return verdict(verdict="Inconsistent", premises_used=used_c)
        if not_c == z3.unsat and yes_c == z3.unsat:
            return verdict(verdict="Inconsistent", premises_used=sorted({*used, *used_c}))
        if not_c == z3.unsat:
            return verdict(verdict="True", premises_used=used)
        if yes_c == z3.unsat:
            return verdict(verdict="False", premises_used=used_c)
        if model is not None and yes_c == z3.sat:
            return verdict(verdict="Uncertain", countermodel=_countermodel(model, tr))
        reason = unknown_reason or (solver.reason_unknown() if yes_c == z3.unknown else None)
        if reason in (None, "timeout", "canceled") or time.perf_counter() >= deadline:
            reason = f"timeout after {timeout_s:g} s"
        return verdict(verdict="Unknown", reason=f"z3: {reason}")
    finally:
        watchdog.cancel()
