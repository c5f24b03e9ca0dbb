"""Validating the options a recipe or caller gives a named component, with one error format.

Options nest (a recipe's planner names a strategy, whose options name a scorer), and each level
validates its own options. So that a recipe error can still point at the exact key, every
problem keeps its location inside the options (:class:`Problem`), and a validator that checks
nested options re-raises their first problem with :func:`located`, which carries the location
through pydantic up to the recipe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic
from pydantic_core import PydanticCustomError

from forethought.exceptions import UnknownNameError, UserError

M = TypeVar("M", bound=pydantic.BaseModel)
Loc = tuple[str | int, ...]
"""Where a value is inside nested options: keys and list indices."""

TAG_PREFIX = "~"
"""Union members are tagged with names starting with this; they are not part of a location."""

_WITH_INPUT = ("int_", "float_", "bool_", "greater_than", "less_than", "string_", "literal_",
               "multiple_of", "finite_number", "enum", "name_or_mapping", "list_type",
               "dict_type", "model_type")
"""Error types whose message is clearer with the offending scalar shown."""


@dataclass(kw_only=True, frozen=True)
class Problem:
    """One thing wrong with some options, and where it is."""

    loc: Loc
    """The key path inside the options (empty: the options as a whole)."""
    message: str

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.loc)


class OptionsError(UserError):
    """Options of a named component failed validation; :attr:`problems` locates each one."""

    def __init__(self, message: str, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(message)


def _clean_loc(loc: Sequence[str | int]) -> Loc:
    return tuple(p for p in loc if not (isinstance(p, str) and (
        p.startswith(TAG_PREFIX) or p.startswith("function-"))))


def _shown(value: Any) -> str | None:
    """``value`` for a message: a short scalar as itself, a list or mapping by its kind."""
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 80 else "a long text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return None


def problems_of(exc: pydantic.ValidationError, *,
                valid: Sequence[str] | Callable[[Loc], Sequence[str]] = (),
                what: str = "") -> list[Problem]:
    """Each error of ``exc`` as a :class:`Problem`: nested locations (carried by
    :func:`located`) appended, an unknown key named with the ``valid`` ones (a list, or a
    function of the unknown key's location), and a bad scalar shown with ``!r``.
    """
    problems: list[Problem] = []
    for err in exc.errors():
        ctx: dict[str, Any] = dict(err.get("ctx") or {})
        loc = _clean_loc(err["loc"]) + tuple(ctx.get("loc", ()))
        message = str(ctx["message"]) if err["type"] == "located" else \
            str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            names = ", ".join(valid(loc) if callable(valid) else valid) or "none"
            message = f"unknown option of {what}; valid options: {names}" if what else \
                f"unknown field; valid fields here: {names}"
        elif isinstance(err.get("input"), float) and not math.isfinite(err["input"]):
            message = f"Input should be a finite number, got {err['input']!r}"
        elif err["type"].startswith(_WITH_INPUT):
            shown = _shown(err.get("input"))
            if shown is not None:
                message += f", got {shown}"
        problems.append(Problem(loc=loc, message=message))
    return problems


def describe_errors(exc: pydantic.ValidationError) -> str:
    """Every problem in ``exc`` as ``field: message``, joined with semicolons."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(options)'}: "
                     f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())


def validate_options(kind: str, name: str, schema: type[M], options: Mapping[str, Any]) -> M:
    """``options`` of the ``kind`` named ``name``, validated by ``schema`` in strict mode
    (options come from files and callers, where ``"10"`` or ``512.0`` for a count is a mistake,
    not a number to coerce); the :class:`OptionsError` names each problem and the valid
    options.
    """
    try:
        return schema.model_validate(dict(options), strict=True)
    except pydantic.ValidationError as exc:
        valid = list(schema.model_fields)
        raise OptionsError(
            f"invalid options for {kind} {name!r}: {describe_errors(exc)} "
            f"(valid options: {', '.join(valid) or 'none'})",
            problems_of(exc, valid=valid, what=f"{kind} {name!r}")) from None


def located(exc: UserError, at: Loc = ()) -> PydanticCustomError:
    """``exc`` as the error a pydantic validator raises, keeping where it is: the first
    problem of an :class:`OptionsError` (its location appended to ``at``), or the whole
    message at ``at``. Shown by pydantic (to code that validates options directly) it reads as
    ``exc`` always did; :func:`problems_of` reads the location and the bare message.
    """
    if isinstance(exc, OptionsError) and exc.problems:
        first = exc.problems[0]
        message = first.message
        if len(exc.problems) > 1:
            more = len(exc.problems) - 1
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        loc = [*at, *first.loc]
    else:
        message, loc = str(exc), list(at)
    return PydanticCustomError("located", "{detail}",
                               {"detail": str(exc), "message": message, "loc": loc})


@contextmanager
def nested(at: Loc = (), *, name_at: Loc | None = None) -> Generator[None, None, None]:
    """Inside a pydantic validator: our errors become pydantic errors located at ``at`` (an
    :class:`UnknownNameError` at ``name_at`` when given: the key that holds the bad name).
    """
    try:
        yield
    except UnknownNameError as exc:
        raise located(exc, at if name_at is None else name_at) from None
    except UserError as exc:
        raise located(exc, at) from None


Spec = str | dict[str, Any]
"""A registered thing named in options: ``"name"``, or ``{kind: "name", <option>: ...}``."""


def split_spec(spec: Spec, what: str) -> tuple[str, dict[str, Any]]:
    """The kind and options of ``spec`` (``what`` names it in the error: "strategy"...)."""
    if isinstance(spec, str):
        return spec, {}
    options = dict(spec)
    kind = options.pop("kind", None)
    if not isinstance(kind, str):
        raise UserError(f"{what} {spec!r} needs a `kind`")
    return kind, options


def name_at(spec: Spec | None) -> Loc:
    """Where the name is in a spec: the value itself, or its ``kind`` key."""
    return ("kind",) if isinstance(spec, dict) else ()
