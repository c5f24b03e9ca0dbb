"""The recipe schema: pydantic models of what a recipe file may say, with the range of every
number a real user could need (and no more).

Names (tools, planners, strategies, scorers, search tasks) are checked against their
registries here, and each component's own options against its own schema, so a recipe that
validates names only things that exist. What depends on the machine (files, commands,
environment variables) is checked by :mod:`forethought.recipes.checks`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, Discriminator, Tag

from forethought._options import TAG_PREFIX, nested
from forethought.eval.config import EvalConfig
from forethought.exceptions import UnknownNameError, UserError
from forethought.runtime.budget import Budget

INT64 = 2**63 - 1
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_LITELLM_ONLY = ("temperature", "max_tokens", "top_p", "timeout_s", "call_timeout_s",
                 "concurrency",
                 "api_base", "api_key_env", "max_concurrency", "max_retries", "cache")


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


def is_simulated(name: str) -> bool:
    return name.strip() == "simulated" or name.strip().startswith("simulated:")


def check_model_name(name: str) -> str:
    """``name`` if it names the simulator (with valid keys) or a LiteLLM ``provider/model``."""
    if not name.strip():
        raise UserError("the model name is empty; name 'simulated' or a LiteLLM model such "
                        "as 'openai/gpt-4o-mini'")
    if is_simulated(name):
        from forethought.models.simulated.spec import parse_spec

        parse_spec(name)
    elif "/" not in name or not name.split("/", 1)[0] or not name.split("/", 1)[1]:
        raise UserError(f"model {name!r}: name a provider as LiteLLM expects, e.g. "
                        f"'openai/{name.strip('/') or 'gpt-4o-mini'}', or use 'simulated' to "
                        f"run offline")
    return name


def _model_name(name: str) -> str:
    with nested():
        return check_model_name(name)


class ModelConfig(_Strict):
    """A model and how to call it. Every setting is applied to every request; a planner or
    strategy that sets one on its own requests (LLMCompiler plans at temperature 0, search
    samples at 0.7) overrides it there.

    The simulated model applies only ``seed`` (the seed of its draws): it does not truncate
    replies, has no provider to reach and nothing to cache, and each planner sets the
    temperature of its own requests, so the other settings are refused for it rather than
    silently ignored.
    """

    name: Annotated[str, AfterValidator(_model_name)] = pydantic.Field(
        description="'simulated' (or 'simulated:key=value,...'), the offline simulator, or any "
                    "LiteLLM model string 'provider/model' (openai/gpt-4o-mini, "
                    "ollama/qwen2.5, hosted_vllm/...)")
    temperature: float | None = pydantic.Field(
        default=None, ge=0, le=2, description="Sampling temperature, 0 to 2 (LiteLLM models)")
    max_tokens: int | None = pydantic.Field(
        default=None, ge=1, le=1_000_000, strict=True,
        description="Most completion tokens per reply, 1 to 1,000,000 (LiteLLM models)")
    seed: int | None = pydantic.Field(
        default=None, ge=-INT64 - 1, le=INT64, strict=True,
        description="Sampling seed (a 64-bit integer): sent to the provider, or the "
                    "simulated model's seed")
    top_p: float | None = pydantic.Field(
        default=None, gt=0, le=1, description="Nucleus sampling mass, above 0 and at most 1 "
                                              "(LiteLLM models)")
    timeout_s: float | None = pydantic.Field(
        default=None, gt=0, le=3600,
        description="Seconds one attempt of a call may take, above 0 and at most 3600 "
                    "(LiteLLM models)")
    call_timeout_s: float | None = pydantic.Field(
        default=None, gt=0, le=86_400,
        description="Seconds a whole call may take, every retry and wait included, above 0 "
                    "and at most 86400 (LiteLLM models)")
    api_base: str | None = pydantic.Field(
        default=None, max_length=2000,
        description="Base URL of an OpenAI-compatible server (vLLM, llama.cpp server, "
                    "Ollama...), e.g. http://127.0.0.1:8000/v1 (LiteLLM models)")
    api_key_env: str | None = pydantic.Field(
        default=None, description="The NAME of the environment variable that holds the API "
                                  "key (e.g. OPENAI_API_KEY); the key itself never goes in a "
                                  "recipe (LiteLLM models)")
    max_concurrency: int | None = pydantic.Field(
        default=None, ge=1, le=1024, strict=True,
        description="Calls to this model in flight at once, 1 to 1024 (LiteLLM models)")
    concurrency: Literal["fixed", "adaptive"] | None = pydantic.Field(
        default=None,
        description="'fixed' (default: max_concurrency calls in flight) or 'adaptive' (a limit "
                    "learnt per model and api_base, growing while the provider keeps up and "
                    "shrinking on 429s and timeouts, up to max_concurrency, default 256; "
                    "LiteLLM models)")
    max_retries: int | None = pydantic.Field(
        default=None, ge=0, le=20, strict=True,
        description="Retries of a call that failed for a transient reason (rate limit, "
                    "timeout, 5xx), 0 to 20 (LiteLLM models)")
    cache: bool = pydantic.Field(
        default=True, strict=True,
        description="Keep replies at temperature 0 in the response cache (LiteLLM models; "
                    "the simulator is never cached)")

    @pydantic.field_validator("api_base")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+\S*$", value):
            raise ValueError(f"must be an http:// or https:// URL, such as "
                             f"http://127.0.0.1:8000/v1, got {value!r}")
        return value

    @pydantic.field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # The value is never repeated in the message: it may be the key, pasted by mistake.
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable (letters, digits and "
                             "'_', not starting with a digit), such as OPENAI_API_KEY; the "
                             "value given is not one and is not shown, in case it is a key")
        return value

    @pydantic.model_validator(mode="after")
    def _simulated(self) -> ModelConfig:
        if not is_simulated(self.name):
            return self
        for key in _LITELLM_ONLY:
            if key in self.model_fields_set:
                with nested((key,)):
                    raise UserError(simulator_refuses(key))
        if self.seed is not None and "seed=" in self.name.replace(" ", ""):
            with nested(("seed",)):
                raise UserError(f"the seed is also given in the name {self.name!r}; give "
                                f"it once")
        return self

    def settings_given(self) -> list[str]:
        """The model settings this config sets (besides its name)."""
        return [k for k in type(self).model_fields if k != "name"
                and k in self.model_fields_set and getattr(self, k) is not None]


def simulator_refuses(key: str) -> str:
    why = {"temperature": "each planner sets the temperature of its own requests",
           "top_p": "its sampling is seeded, not nucleus sampling",
           "max_tokens": "it does not truncate replies",
           "cache": "it is never cached"}.get(key, "it reaches no provider")
    return (f"the simulated model does not apply {key!r} ({why}); remove it, or name a LiteLLM "
            f"model to use it")


def _tag_str(value: Any) -> str | None:
    if isinstance(value, str):
        return f"{TAG_PREFIX}str"
    return f"{TAG_PREFIX}config" if isinstance(value, dict | pydantic.BaseModel) else None


def _either(what: str, key: str) -> Discriminator:
    return Discriminator(_tag_str, custom_error_type="name_or_mapping",
                         custom_error_message=f"{what} is a name, or a mapping with `{key}` and "
                                              f"its options")


class PlannerConfig(pydantic.BaseModel):
    """A registered planner and its options (checked against that planner's own schema)."""

    model_config = pydantic.ConfigDict(extra="allow")

    kind: str = pydantic.Field(default="llmcompiler",
                               description="A registered planner: llmcompiler, aot, react, "
                                           "search, or a plugin's")

    @pydantic.model_validator(mode="after")
    def _known(self) -> PlannerConfig:
        from forethought._options import validate_options
        from forethought.planners.base import planner_class

        with nested(name_at=("kind",)):
            cls = planner_class(self.kind)
            validate_options("planner", self.kind, cls.Options, self.options())
        return self

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _tool_factory_check(name: str, options: dict[str, Any]) -> None:
    from forethought.tools.base import ToolFactory, builtin_tools

    registered = builtin_tools()
    if name not in registered:
        raise UnknownNameError("tool", name, registered)
    item = registered[name]
    if isinstance(item, ToolFactory):
        item.validate_options(options)
    elif options:
        raise UserError(f"tool {name!r} takes no options, got {', '.join(sorted(options))}")


class ToolConfig(pydantic.BaseModel):
    """A registered tool by name, with options for configurable tools
    (``{name: retrieve, corpus: passages.jsonl}``).
    """

    model_config = pydantic.ConfigDict(extra="allow")

    name: str = pydantic.Field(description="A registered tool (calculator, clock, python, smt, "
                                           "logic, retrieve, mcp, or a plugin's)")

    @pydantic.model_validator(mode="after")
    def _known(self) -> ToolConfig:
        with nested(name_at=("name",)):
            _tool_factory_check(self.name, self.options())
        return self

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _tool_name(name: str) -> str:
    with nested():
        _tool_factory_check(name, {})
    return name


ToolItem = Annotated[
    Annotated[Annotated[str, AfterValidator(_tool_name)], Tag(f"{TAG_PREFIX}str")]
    | Annotated[ToolConfig, Tag(f"{TAG_PREFIX}config")],
    _either("a tool", "name")]
"""A tool by name (``calculator``), or by name with options (``{name: retrieve, ...}``)."""

ModelItem = Annotated[
    Annotated[Annotated[str, AfterValidator(_model_name)], Tag(f"{TAG_PREFIX}str")]
    | Annotated[ModelConfig, Tag(f"{TAG_PREFIX}config")],
    _either("a model", "name")]

PlannerItem = Annotated[
    Annotated[str, Tag(f"{TAG_PREFIX}str")] | Annotated[PlannerConfig, Tag(f"{TAG_PREFIX}config")],
    _either("a planner", "kind")]


class BudgetConfig(_Strict):
    """Limits of one run; leave a field out for no limit. Zero is refused: it would stop the
    run before its first step.
    """

    max_tokens: int | None = pydantic.Field(
        default=None, gt=0, le=10**10, strict=True,
        description="Prompt plus completion tokens, 1 to 10,000,000,000")
    max_cost_usd: float | None = pydantic.Field(
        default=None, gt=0, le=100_000, description="Dollars, above 0 and at most 100,000")
    max_seconds: float | None = pydantic.Field(
        default=None, gt=0, le=7 * 86_400,
        description="Wall-clock seconds, above 0 and at most 604,800 (a week)")
    max_model_calls: int | None = pydantic.Field(
        default=None, gt=0, le=10_000_000, strict=True,
        description="Model calls, 1 to 10,000,000")

    def to_budget(self) -> Budget:
        return Budget(**self.model_dump())


class Recipe(_Strict):
    """An agent described in a file."""

    version: Literal[1] = 1
    name: str = pydantic.Field(default="recipe", min_length=1, max_length=200)
    description: str = ""
    model: ModelItem = pydantic.Field(default="simulated", description=(
        "A model name, or a mapping with `name` and its settings"))
    tools: list[ToolItem] = pydantic.Field(default_factory=list[str | ToolConfig],
                                           max_length=256)
    planner: PlannerItem = "llmcompiler"
    budget: BudgetConfig = pydantic.Field(default_factory=lambda: BudgetConfig())
    input: str | None = pydantic.Field(default=None, description="The default question")
    eval: EvalConfig | None = pydantic.Field(
        default=None, description="Dataset, metric and dataset budget for `forethought eval`")

    _source: str | None = pydantic.PrivateAttr(default=None)
    _base_dir: Path | None = pydantic.PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        """The file the recipe was read from (``None``: given as text or built in code)."""
        return self._source

    @property
    def base_dir(self) -> Path | None:
        """The folder relative paths in the recipe are resolved against (its file's folder;
        ``None``: the working directory).
        """
        return self._base_dir

    def located_at(self, source: str | None, base_dir: Path | None) -> Recipe:
        """This recipe, recorded as read from ``source`` with paths relative to ``base_dir``."""
        self._source, self._base_dir = source, base_dir
        return self

    @pydantic.field_validator("planner", mode="before")
    @classmethod
    def _planner_obj(cls, planner: Any) -> Any:
        return {"kind": planner} if isinstance(planner, str) else planner

    def tool_configs(self) -> list[ToolConfig]:
        return [ToolConfig(name=t) if isinstance(t, str) else t for t in self.tools]

    def model_config_obj(self) -> ModelConfig:
        return ModelConfig(name=self.model) if isinstance(self.model, str) else self.model

    def planner_config(self) -> PlannerConfig:
        return self.planner if isinstance(self.planner, PlannerConfig) else PlannerConfig(
            kind=self.planner)

