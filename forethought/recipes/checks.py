"""What a valid recipe needs from this machine and from itself: files, programs, environment
variables, and tools that its planner names.

The schema (:mod:`forethought.recipes.schema`) knows which names exist; these checks know
whether a corpus file is where the recipe says, whether an MCP server's program can be
started, whether the API key's variable is set, and whether a scorer's tool is among the
recipe's tools. They build nothing and start nothing, so a recipe is checked completely
before anything of it runs.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from forethought._options import Problem
from forethought.recipes.schema import Recipe, is_simulated


def _did_you_mean(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def model_problems(recipe: Recipe) -> list[Problem]:
    """The API key's environment variable, when the recipe names one, must be set."""
    cfg = recipe.model_config_obj()
    if cfg.api_key_env is None or is_simulated(cfg.name) or os.environ.get(cfg.api_key_env):
        return []
    return [Problem(loc=("model", "api_key_env"),
                    message=f"environment variable {cfg.api_key_env!r} is not set (it should "
                            f"hold the API key for {cfg.name!r})")]


def tool_problems(recipe: Recipe, base: Path) -> tuple[list[Problem], list[str] | None]:
    """Each tool's own checks (files, programs), tools that share a name, and the names of
    every tool the recipe makes (``None`` when a toolset's names are known only once it runs).
    """
    from forethought.tools.base import ToolFactory, builtin_tools

    problems: list[Problem] = []
    made: dict[str, int] = {}
    complete = True
    registered = builtin_tools()
    for i, cfg in enumerate(recipe.tool_configs()):
        item = registered[cfg.name]
        if isinstance(item, ToolFactory):
            options = item.validate_options(item.resolve_paths(cfg.options(), base))
            problems.extend(Problem(loc=("tools", i, *p.loc), message=p.message)
                            for p in item.check(options))
            names = item.tool_names(options)
        else:
            names = [item.name]
        if names is None:
            complete = False
            continue
        for name in names:
            if name in made:
                problems.append(Problem(loc=("tools", i), message=(
                    f"tools.{made[name]} already makes a tool named {name!r}; two tools "
                    f"cannot share a name")))
            else:
                made[name] = i
    return problems, sorted(made) if complete else None


def planner_problems(recipe: Recipe, tools: list[str] | None) -> list[Problem]:
    """Every tool the planner's options name (a scorer's tool...) must be one of ``tools``
    (not checked when some toolset's names are known only once it runs).
    """
    from forethought.planners.base import planner_class

    if tools is None:
        return []
    cfg = recipe.planner_config()
    cls = planner_class(cfg.kind)
    options = cls.Options.model_validate(cfg.options(), strict=True)
    problems: list[Problem] = []
    for loc, name in cls.tools_named(options):
        if name not in tools:
            have = ", ".join(repr(t) for t in tools) or "none"
            problems.append(Problem(loc=("planner", *loc), message=(
                f"tool {name!r} is not one of the recipe's tools ({have}); add it to "
                f"`tools:`{_did_you_mean(name, tools)}")))
    return problems


def recipe_problems(recipe: Recipe, base: Path) -> list[Problem]:
    """Everything :mod:`checks` finds wrong with a recipe that passed its schema; paths in
    it are relative to ``base`` (the recipe's folder).
    """
    tool_issues, tools = tool_problems(recipe, base)
    return [*model_problems(recipe), *tool_issues, *planner_problems(recipe, tools)]
