"""Recipes: YAML files that name the model, tools, planner and budget of an agent.

The schema is a pydantic model (exported as JSON Schema for editors with
``forethought recipe schema``). A recipe is checked completely before anything of it runs:
its YAML is read with limits on size, depth and aliases and with no repeated keys
(:mod:`._yaml`), its fields against the schema and every name against its registry
(:mod:`.schema`), then what it needs from the machine: files, programs, environment variables
(:mod:`.checks`). Every problem is a :class:`~forethought.exceptions.RecipeError` naming the
file, the line of the offending key or list item, and the field. Names are resolved through
registries, never imported from dotted paths, and nothing in a recipe can turn off a safety
feature. Relative paths in a recipe are relative to the recipe's folder.

Example::

    version: 1
    name: arithmetic
    model: simulated            # or openai/gpt-4o-mini, anthropic/..., ollama/...
    tools: [calculator]
    planner: {kind: llmcompiler, max_replans: 2}
    budget: {max_model_calls: 12}
    input: What is (3 + 4) * 12 - 5?
"""

from __future__ import annotations

import typing
from pathlib import Path

import pydantic

from forethought._options import Loc, Problem, problems_of
from forethought.exceptions import RecipeError
from forethought.recipes._yaml import MAX_BYTES, line_of, read_yaml
from forethought.recipes.build import build_agent, effective_model, make_model
from forethought.recipes.checks import recipe_problems
from forethought.recipes.json_schema import recipe_json_schema
from forethought.recipes.schema import BudgetConfig, ModelConfig, PlannerConfig, Recipe, ToolConfig

if typing.TYPE_CHECKING:
    from yaml.nodes import Node

__all__ = ["BudgetConfig", "ModelConfig", "PlannerConfig", "Recipe", "ToolConfig",
           "build_agent", "check_recipe", "effective_model", "load_recipe", "make_model",
           "parse_recipe", "recipe_json_schema"]


def _valid_fields(loc: Loc) -> list[str]:
    """The fields of the schema model that holds the key at ``loc``."""
    model: type[pydantic.BaseModel] = Recipe
    for key in loc[:-1]:
        if isinstance(key, int):
            continue
        field = model.model_fields.get(str(key))
        nested = _models_in(field.annotation) if field is not None else []
        if not nested:
            break
        model = nested[0]
    return list(model.model_fields)


def _models_in(annotation: object) -> list[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _as_errors(problems: list[Problem], node: Node | None, path: str) -> list[RecipeError]:
    errors: list[RecipeError] = []
    for p in problems:
        line, found, shorthand = line_of(node, p.loc)
        # Written as a shorthand (`planner: react`), the value has no nested key to point at.
        loc = found if shorthand else p.loc
        errors.append(RecipeError(p.message, path=path, line=line,
                                  field=".".join(str(k) for k in loc) or None))
    return sorted(errors, key=lambda e: e.line or 0)


def _problems(text: str, path: str, base_dir: Path | None) -> tuple[Recipe | None,
                                                                     list[RecipeError]]:
    """The recipe in ``text`` (``None`` if its schema fails) and every problem found."""
    try:
        node, data = read_yaml(text, path=path)
    except RecipeError as exc:
        return None, [exc]
    if data is None:
        return None, [RecipeError("the recipe is empty", path=path, line=1)]
    if not isinstance(data, dict):
        return None, [RecipeError(f"a recipe is a mapping of fields, got "
                                  f"{type(data).__name__}", path=path, line=1)]
    try:
        recipe = Recipe.model_validate(data, strict=True)
    except pydantic.ValidationError as exc:
        return None, _as_errors(problems_of(exc, valid=_valid_fields), node, path)
    recipe.located_at(None if path == "<recipe>" else path, base_dir)
    return recipe, _as_errors(recipe_problems(recipe, base_dir or Path.cwd()), node, path)


def _first(errors: list[RecipeError]) -> RecipeError:
    first = errors[0]
    if len(errors) == 1:
        return first
    more = len(errors) - 1
    return RecipeError(f"{first.message} (and {more} more problem{'s' if more > 1 else ''}; "
                       f"`forethought recipe check` lists them)", path=first.path,
                       line=first.line, field=first.field)


def parse_recipe(text: str, *, path: str = "<recipe>", base_dir: str | Path | None = None
                 ) -> Recipe:
    """Check recipe ``text`` completely (see the module docstring) and return it.

    Args:
        text: The YAML.
        path: The name errors give the file.
        base_dir: The folder relative paths are resolved against (default: the working
            directory).

    Raises:
        RecipeError: The first problem (by line), naming file, line and field, with the count
            of the others.
    """
    recipe, errors = _problems(text, path, None if base_dir is None else Path(base_dir))
    if errors:
        raise _first(errors)
    assert recipe is not None
    return recipe


def _read(path: Path) -> str:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise RecipeError("no such file", path=str(path)) from None
    except OSError as exc:
        raise RecipeError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    if len(raw) > MAX_BYTES:
        raise RecipeError(f"the recipe is larger than the {MAX_BYTES:,} bytes a recipe may "
                          f"have; pass long questions with -i/--input", path=str(path),
                          line=raw[:MAX_BYTES].count(b"\n") + 1)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise RecipeError(f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column {column} "
                          f"(save the file as UTF-8)", path=str(path), line=line) from None


def check_recipe(path: str | Path) -> list[RecipeError]:
    """Every problem of the recipe file at ``path``, by line (empty: it is ready to run)."""
    p = Path(path)
    try:
        text = _read(p)
    except RecipeError as exc:
        return [exc]
    return _problems(text, str(p), p.absolute().parent)[1]


def load_recipe(path: str | Path) -> Recipe:
    """The recipe in the file at ``path``, checked completely; relative paths in it are
    relative to its folder. Raises :class:`RecipeError` for the first problem.
    """
    p = Path(path)
    recipe, errors = _problems(_read(p), str(p), p.absolute().parent)
    if errors:
        raise _first(errors)
    assert recipe is not None
    return recipe
