"""z3, imported on first use and typed loosely.

z3's Python bindings are only partly annotated (most parameters are untyped), which strict
type checking cannot follow; the solver code therefore handles z3 objects through these
aliases, documenting which z3 type each one is, and imports z3 only when a solver runs, so
``import forethought`` stays fast.
"""

from __future__ import annotations

from typing import Any, TypeAlias

Context: TypeAlias = Any
"""A ``z3.Context``."""
Expr: TypeAlias = Any
"""A ``z3.ExprRef`` (terms and formulas)."""
Sort: TypeAlias = Any
"""A ``z3.SortRef``."""
FuncDecl: TypeAlias = Any
"""A ``z3.FuncDeclRef``."""
Model: TypeAlias = Any
"""A ``z3.ModelRef``."""


def z3_module() -> Any:
    """The ``z3`` module."""
    import z3  # pyright: ignore[reportMissingTypeStubs]

    return z3
