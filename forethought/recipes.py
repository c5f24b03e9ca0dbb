"""Recipes: YAML files that name the model, tools, planner and budget of an agent.

The schema is a pydantic model (exported as JSON Schema for editors with
``forethought recipe schema``); every error names the file, the line and the field. Names are
resolved through registries, never imported from dotted paths, and nothing in a recipe can
turn off a safety feature.

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

from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from forethought._options import validate_options
from forethought.eval.config import EvalConfig
from forethought.exceptions import RecipeError, UnknownNameError, UserError
from forethought.runtime.budget import Budget


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class ModelConfig(_Strict):
    """A model and how to call it."""

    name: str = pydantic.Field(description="'simulated[:k=v,...]' or any LiteLLM model string")
    temperature: float | None = pydantic.Field(default=None, ge=0, le=2)
    max_tokens: int | None = pydantic.Field(default=None, ge=1)
    seed: int | None = None
    api_base: str | None = None
    timeout_s: float | None = pydantic.Field(default=None, gt=0)
    max_concurrency: int | None = pydantic.Field(default=None, ge=1)
    max_retries: int | None = pydantic.Field(default=None, ge=0)
    cache: bool = True


class PlannerConfig(pydantic.BaseModel):
    """A registered planner and its options (checked against that planner's own schema)."""

    model_config = pydantic.ConfigDict(extra="allow")

    kind: str = "llmcompiler"

    @pydantic.model_validator(mode="after")
    def _known(self) -> PlannerConfig:
        from forethought.planners.base import planner_class

        try:
            cls = planner_class(self.kind)
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None
        try:
            validate_options("planner", self.kind, cls.Options, self.options())
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return self

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ToolConfig(pydantic.BaseModel):
    """A registered tool by name, with options for configurable tools
    (``{name: retrieve, corpus: passages.jsonl}``).
    """

    model_config = pydantic.ConfigDict(extra="allow")

    name: str

    @pydantic.model_validator(mode="after")
    def _known(self) -> ToolConfig:
        from forethought.tools.base import ToolFactory, builtin_tools

        registered = builtin_tools()
        if self.name not in registered:
            raise ValueError(str(UnknownNameError("tool", self.name, registered)))
        item = registered[self.name]
        if isinstance(item, ToolFactory):
            try:
                item.validate_options(self.options())
            except UserError as exc:
                raise ValueError(str(exc)) from None
        elif self.options():
            raise ValueError(f"tool {self.name!r} takes no options, got "
                             f"{', '.join(sorted(self.options()))}")
        return self

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class BudgetConfig(_Strict):
    max_tokens: int | None = pydantic.Field(default=None, ge=0)
    max_cost_usd: float | None = pydantic.Field(default=None, ge=0)
    max_seconds: float | None = pydantic.Field(default=None, ge=0)
    max_model_calls: int | None = pydantic.Field(default=None, ge=0)

    def to_budget(self) -> Budget:
        return Budget(**self.model_dump())


class Recipe(_Strict):
    """An agent described in a file."""

    version: Literal[1] = 1
    name: str = "recipe"
    description: str = ""
    model: str | ModelConfig = "simulated"
    tools: list[str | ToolConfig] = pydantic.Field(default_factory=list[str | ToolConfig])
    planner: str | PlannerConfig = "llmcompiler"
    budget: BudgetConfig = pydantic.Field(default_factory=lambda: BudgetConfig())
    input: str | None = pydantic.Field(default=None, description="The default question")
    eval: EvalConfig | None = pydantic.Field(
        default=None, description="Dataset, metric and dataset budget for `forethought eval`")

    @pydantic.field_validator("tools")
    @classmethod
    def _known_tools(cls, tools: list[str | ToolConfig]) -> list[str | ToolConfig]:
        for item in tools:
            if isinstance(item, str):
                ToolConfig(name=item)  # raises, naming the valid tools, if unknown
        return tools

    def tool_configs(self) -> list[ToolConfig]:
        return [ToolConfig(name=t) if isinstance(t, str) else t for t in self.tools]

    @pydantic.field_validator("planner")
    @classmethod
    def _planner_obj(cls, planner: str | PlannerConfig) -> str | PlannerConfig:
        return PlannerConfig(kind=planner) if isinstance(planner, str) else planner

    def model_config_obj(self) -> ModelConfig:
        return ModelConfig(name=self.model) if isinstance(self.model, str) else self.model

    def planner_config(self) -> PlannerConfig:
        return self.planner if isinstance(self.planner, PlannerConfig) else PlannerConfig(
            kind=self.planner)


def recipe_json_schema() -> dict[str, Any]:
    return Recipe.model_json_schema()


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                    child = v
                    line = k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) \
                and key < len(node.value):
            child = node.value[key]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def parse_recipe(text: str, *, path: str = "<recipe>") -> Recipe:
    """Validate recipe ``text``; errors are :class:`RecipeError` naming file, line and field."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RecipeError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                          path=path, line=line) from None
    if data is None:
        raise RecipeError("the recipe is empty", path=path, line=1)
    if not isinstance(data, dict):
        raise RecipeError(f"a recipe is a mapping of fields, got {type(data).__name__}",
                          path=path, line=1)
    try:
        return Recipe.model_validate(data)
    except pydantic.ValidationError as exc:
        # For `str | Config` fields given a mapping, the string branch's complaint is noise.
        errors = [e for e in exc.errors() if not (e["type"] == "string_type" and "str" in
                                                  e["loc"])] or exc.errors()
        err = errors[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (
            p in ("str", "ModelConfig", "PlannerConfig", "ToolConfig")
            or p.startswith("function-"))))
        field = ".".join(str(p) for p in loc) or None
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown field; valid fields here: {_valid_fields(loc)}"
        more = len(errors) - 1
        if more:
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        raise RecipeError(message, path=path, line=_line_of(node, loc), field=field) from None


def _valid_fields(loc: tuple[int | str, ...]) -> str:
    model: type[pydantic.BaseModel] = Recipe
    for key in loc[:-1]:
        annotation = model.model_fields[str(key)].annotation if str(key) in model.model_fields \
            else None
        nested = [a for a in getattr(annotation, "__args__", (annotation,))
                  if isinstance(a, type) and issubclass(a, pydantic.BaseModel)]
        if not nested:
            break
        model = nested[0]
    return ", ".join(model.model_fields)


def load_recipe(path: str | Path) -> Recipe:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError("no such file", path=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read: {exc}", path=str(p)) from None
    return parse_recipe(text, path=str(p))


def build_agent(recipe: Recipe, *, model: str | None = None, cache: bool | None = None,
                store: Any = "default") -> Any:
    """The :class:`~forethought.Agent` a recipe describes; ``model`` overrides its model."""
    from forethought.agents.agent import Agent
    from forethought.models.registry import resolve_model
    from forethought.planners.base import planner_class
    from forethought.tools.base import resolve_tool

    cfg = recipe.model_config_obj()
    name = model or cfg.name
    use_cache = cfg.cache if cache is None else cache
    litellm_options = {k: v for k, v in cfg.model_dump(
        include={"api_base", "timeout_s", "max_concurrency", "max_retries"}).items()
        if v is not None}
    if name == "simulated" or name.startswith("simulated:"):
        litellm_options = {}
    try:
        resolved = resolve_model(name, cache=use_cache, **litellm_options)
    except UserError as exc:
        raise RecipeError(str(exc), field="model") from None
    pcfg = recipe.planner_config()
    planner = planner_class(pcfg.kind).from_options(pcfg.options())
    tools = [resolve_tool(t.name, t.options()) for t in recipe.tool_configs()]
    return Agent(resolved, tools=tools, planner=planner, budget=recipe.budget.to_budget(),
                 store=store, cache=False)
