"""Checking a run's deps against the type the agent (or a tool's ``RunContext[Deps]``) declares.

Type checkers check ``deps=`` where they can see it; this is the run-time check for the rest
(untyped code, a deps object built from configuration). Classes are checked with
``isinstance`` (a generic such as ``dict[str, int]`` by its origin, ``dict``), TypedDicts by
validating the value, unions member by member; a non-runtime ``Protocol`` cannot be checked
and is accepted.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

import pydantic
from typing_extensions import is_typeddict

from forethought.exceptions import UserError


def describe_type(tp: Any) -> str:
    if tp is None or tp is type(None):
        return "None"
    return getattr(tp, "__qualname__", None) if isinstance(tp, type) else repr(tp)  # type: ignore[return-value]


def matches(value: Any, tp: Any) -> bool:
    """Whether ``value`` is an instance of ``tp`` as far as can be checked at run time."""
    if tp is Any or tp is object:
        return True
    if tp is None or tp is type(None):
        return value is None
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return any(matches(value, member) for member in get_args(tp))
    if is_typeddict(tp):
        try:
            pydantic.TypeAdapter(tp).validate_python(value, strict=True)
        except pydantic.ValidationError:
            return False
        return True
    target = origin if isinstance(origin, type) else tp
    if not isinstance(target, type):
        return True  # Literal, NewType, ...: nothing checkable at run time
    try:
        return isinstance(value, target)
    except TypeError:
        return True  # a Protocol that is not runtime_checkable


def check_deps(deps: Any, tp: Any, *, declared_by: str) -> None:
    """Raise :class:`UserError` if ``deps`` is not a ``tp`` (as declared by ``declared_by``)."""
    if matches(deps, tp):
        return
    if deps is None:
        raise UserError(f"this run needs deps of type {describe_type(tp)} ({declared_by}) but "
                        f"got none: pass deps= to Agent(...) or to the run")
    raise UserError(f"deps must be {describe_type(tp)} ({declared_by}), got "
                    f"{type(deps).__qualname__}: {deps!r}")
