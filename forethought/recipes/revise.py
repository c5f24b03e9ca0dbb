"""Changing a recipe field by field, checked as a file would be: what the REPL's ``/model``,
``/planner``, ``/strategy``, ``/tools`` and ``/budget`` do, and what a saved session holds.

A recipe's *settings* are its fields as given (:func:`recipe_settings`, JSON-ready, without
``input`` and ``eval``); :func:`revise_recipe` applies changes to them and checks the result
completely (the schema, every name against its registry, files and programs), so a change that
would make a recipe file invalid is refused with the same message, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic

from forethought._options import Problem, problems_of
from forethought.exceptions import UserError
from forethought.recipes.checks import recipe_problems
from forethought.recipes.schema import Recipe

_NOT_SETTINGS = {"input", "eval"}


def recipe_settings(recipe: Recipe) -> dict[str, Any]:
    """The recipe's fields as given (defaults left out), as JSON values."""
    return recipe.model_dump(mode="json", exclude_unset=True, exclude=_NOT_SETTINGS)


def settings_recipe(settings: Mapping[str, Any], *, source: str | None = None,
                    base_dir: Path | None = None) -> Recipe:
    """The recipe ``settings`` describe, checked completely; relative paths in it are
    relative to ``base_dir`` (default: the working directory). A :class:`UserError` names the
    first problem's field (and how many more there are).
    """
    unknown = sorted(set(settings) & _NOT_SETTINGS)
    if unknown:
        raise UserError(f"settings do not include {', '.join(unknown)}")
    try:
        recipe = Recipe.model_validate(dict(settings), strict=True)
    except pydantic.ValidationError as exc:
        raise _error(problems_of(exc)) from None
    recipe.located_at(source, base_dir)
    problems = recipe_problems(recipe, base_dir or Path.cwd())
    if problems:
        raise _error(problems)
    return recipe


def revise_recipe(recipe: Recipe, **changes: Any) -> Recipe:
    """``recipe`` with ``changes`` to its top-level fields (a value of ``None`` removes the
    field: its default applies), checked as :func:`settings_recipe` does.
    """
    settings = recipe_settings(recipe)
    for key, value in changes.items():
        if key not in Recipe.model_fields or key in _NOT_SETTINGS:
            valid = ", ".join(k for k in Recipe.model_fields if k not in _NOT_SETTINGS)
            raise UserError(f"a recipe has no setting {key!r}; its settings: {valid}")
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    return settings_recipe(settings, source=recipe.source, base_dir=recipe.base_dir)


def _error(problems: list[Problem]) -> UserError:
    first = problems[0]
    where = f"{first.field}: " if first.field else ""
    more = len(problems) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return UserError(f"{where}{first.message}{tail}")
