"""Validating the options a recipe or caller gives a named component, with one error format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from forethought.exceptions import UserError

M = TypeVar("M", bound=pydantic.BaseModel)


def describe_errors(exc: pydantic.ValidationError) -> str:
    """Every problem in ``exc`` as ``field: message``, joined with semicolons."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(options)'}: "
                     f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())


def validate_options(kind: str, name: str, schema: type[M], options: Mapping[str, Any]) -> M:
    """``options`` of the ``kind`` named ``name``, validated by ``schema``; the
    :class:`UserError` names each problem and the valid options.
    """
    try:
        return schema.model_validate(dict(options))
    except pydantic.ValidationError as exc:
        raise UserError(f"invalid options for {kind} {name!r}: {describe_errors(exc)} "
                        f"(valid options: {', '.join(schema.model_fields) or 'none'})") from None
