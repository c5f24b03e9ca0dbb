"""From a checked recipe to an :class:`~forethought.Agent`: the model with its settings, the
tools with their paths resolved against the recipe's folder, the planner and the budget.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic

from forethought._options import problems_of
from forethought.exceptions import RecipeError, UserError
from forethought.recipes.schema import ModelConfig, Recipe, is_simulated

if TYPE_CHECKING:
    from forethought.agents.agent import Agent
    from forethought.models.base import Model
    from forethought.tools.base import Tool, Toolset

def effective_model(recipe: Recipe, *, model: str | None = None, api_base: str | None = None,
                    api_key_env: str | None = None) -> tuple[ModelConfig, list[str]]:
    """The recipe's model config with the command line's overrides applied, and the settings
    dropped because ``model`` replaced a LiteLLM model with the simulator (which applies only
    its seed): the caller should say so.
    """
    cfg = recipe.model_config_obj()
    given = cfg.model_dump(exclude_unset=True)
    dropped: list[str] = []
    if model is not None:
        given["name"] = model
        if is_simulated(model):
            dropped = [k for k in cfg.settings_given() if k != "seed"]
            given = {k: v for k, v in given.items() if k not in dropped}
    for key, value in (("api_base", api_base), ("api_key_env", api_key_env)):
        if value is not None:
            given[key] = value
    try:
        return ModelConfig.model_validate(given, strict=True), dropped
    except pydantic.ValidationError as exc:
        problem = problems_of(exc)[0]
        key = str(problem.loc[0]) if problem.loc else ""
        flags = {"name": ("--model", model), "api_base": ("--api-base", api_base),
                 "api_key_env": ("--api-key-env", api_key_env)}
        flag, value = flags.get(key, ("", None))
        where = flag if value is not None else f"model.{problem.field}".rstrip(".")
        raise UserError(f"{where}: {problem.message}") from None


def make_model(cfg: ModelConfig, *, cache: bool | None = None, path: str | None = None
               ) -> Model:
    """The model ``cfg`` describes, every setting applied: for a LiteLLM model the sampling
    settings become its defaults (a request's own settings override them), the key is read
    from the variable ``api_key_env`` names; for the simulator, ``seed`` seeds it.
    """
    from forethought.models.messages import ModelSettings
    from forethought.models.registry import resolve_model

    use_cache = cfg.cache if cache is None else cache
    if is_simulated(cfg.name):
        name = cfg.name.strip()
        if cfg.seed is not None:
            name += ("," if ":" in name else ":") + f"seed={cfg.seed}"
        return resolve_model(name, cache=use_cache)
    options: dict[str, Any] = {
        "api_base": cfg.api_base,
        "settings": ModelSettings(temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                                  seed=cfg.seed, top_p=cfg.top_p, timeout_s=cfg.timeout_s)}
    if cfg.api_key_env is not None:
        key = os.environ.get(cfg.api_key_env)
        if not key:
            raise RecipeError(f"environment variable {cfg.api_key_env!r} is not set (it "
                              f"should hold the API key for {cfg.name!r})", path=path,
                              field="model.api_key_env")
        options["api_key"] = key
    for name in ("max_concurrency", "max_retries", "call_timeout_s", "concurrency"):
        value = getattr(cfg, name)
        if value is not None:
            options[name] = value
    return resolve_model(cfg.name, cache=use_cache, **options)


def build_agent(recipe: Recipe, *, model: str | None = None, cache: bool | None = None,
                store: Any = "default", api_base: str | None = None,
                api_key_env: str | None = None) -> Agent:
    """The :class:`~forethought.Agent` a recipe describes.

    ``model``, ``api_base`` and ``api_key_env`` override the recipe's (as the command line's
    ``--model``, ``--api-base`` and ``--api-key-env`` do); replacing a LiteLLM model by
    ``"simulated"`` drops the settings only LiteLLM models apply (see
    :func:`effective_model`).
    """
    from forethought.agents.agent import Agent
    from forethought.planners.base import planner_class
    from forethought.tools.base import ToolFactory, builtin_tools, resolve_tool

    source = recipe.source
    cfg, _ = effective_model(recipe, model=model, api_base=api_base, api_key_env=api_key_env)
    try:
        resolved = make_model(cfg, cache=cache, path=source)
    except RecipeError:
        raise
    except UserError as exc:
        raise RecipeError(str(exc), path=source, field="model") from None
    pcfg = recipe.planner_config()
    planner = planner_class(pcfg.kind).from_options(pcfg.options())
    base = recipe.base_dir or Path.cwd()
    registered = builtin_tools()
    tools: list[Tool | Toolset] = []
    for t in recipe.tool_configs():
        item = registered.get(t.name)
        options = item.resolve_paths(t.options(), base) if isinstance(item, ToolFactory) \
            else t.options()
        tools.append(resolve_tool(t.name, options))
    return Agent(resolved, tools=tools, planner=planner, budget=recipe.budget.to_budget(),
                 store=store, cache=False)
