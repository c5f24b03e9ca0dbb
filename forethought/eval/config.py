r"""The ``eval:`` section of a recipe: which dataset, how to read it, how answers are scored.

Example (``recipes/game24_eval.yaml``)::

    eval:
      dataset:
        path: data/game24/24.csv        # relative to the recipe file
        question: Puzzles               # a field, or a template such as "{premises}\n{q}"
        id: Rank
        offset: 900                     # a slice (the command line's --offset/--limit/--ids
        limit: 100                      # replace it)
      metric: {kind: verifier, task: game24}
      budget: {max_model_calls: 100000} # the whole dataset's; the recipe's `budget:` is
                                        # each instance's

Everything here is checked when the recipe loads, so a misspelt metric or option fails before
any instance runs.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from forethought.runtime.budget import Budget


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class DatasetConfig(_Strict):
    """Where the instances come from and which fields hold what."""

    path: str = pydantic.Field(description="JSONL, JSON or CSV file, relative to the recipe")
    format: Literal["jsonl", "json", "csv"] | None = pydantic.Field(
        default=None, description="Default: from the file name's suffix")
    records: str | None = pydantic.Field(
        default=None, description="JSON only: the key holding the list of records, when the "
        "file is an object rather than a list")
    question: str = pydantic.Field(
        default="question", description="The field holding the question, or a template "
        "naming fields in braces ('Premises: {premises}\\nConclusion: {conclusion}'); list "
        "values are written one per line")
    reference: str | None = pydantic.Field(
        default=None, description="The field holding the reference answer (none for metrics "
        "that need none, such as a verifier)")
    id: str | None = pydantic.Field(
        default=None, description="The field holding a unique id (default: the record's "
        "1-based position in the file)")
    tags: list[str] = pydantic.Field(
        default_factory=list[str], description="Fields whose values break the summary down "
        "(e.g. level, type)")
    offset: int = pydantic.Field(default=0, ge=0, description="Skip this many records")
    limit: int | None = pydantic.Field(default=None, ge=1, description="Take at most this many")
    ids: list[str] | None = pydantic.Field(default=None, description="Only these ids")


class SimulateConfig(_Strict):
    """What the offline simulator is told about each instance, so that a simulated run of a
    dataset it cannot solve by itself means something: the reference answer and a
    difficulty, from which it answers right with a probability. A simulator, not a model: its
    accuracy says nothing about any real model.
    """

    difficulty: float | str = pydantic.Field(
        default=0.5, description="A number in [0, 1], or the field holding each instance's")

    @pydantic.field_validator("difficulty")
    @classmethod
    def _difficulty(cls, value: float | str) -> float | str:
        if not isinstance(value, str) and not 0 <= value <= 1:
            raise ValueError(f"difficulty must be in [0, 1] or a field name, got {value!r}")
        return value


class MetricConfig(pydantic.BaseModel):
    """A registered metric and its options (checked against that metric's own schema)."""

    model_config = pydantic.ConfigDict(extra="allow")

    kind: str = "exact"

    @pydantic.model_validator(mode="after")
    def _known(self) -> MetricConfig:
        from forethought.eval.metrics import metric_from_config
        from forethought.exceptions import UserError

        try:
            metric_from_config(self)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return self

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DatasetBudgetConfig(_Strict):
    """One budget over every instance of the eval (each instance also has the recipe's)."""

    max_tokens: int | None = pydantic.Field(default=None, ge=0)
    max_cost_usd: float | None = pydantic.Field(default=None, ge=0)
    max_seconds: float | None = pydantic.Field(
        default=None, ge=0, description="Wall time of one session (a resumed eval starts its "
        "clock again); tokens, dollars and calls count over every session")
    max_model_calls: int | None = pydantic.Field(default=None, ge=0)

    def to_budget(self) -> Budget:
        return Budget(**self.model_dump())


class EvalConfig(_Strict):
    """How ``forethought eval`` runs this recipe's agent over a dataset."""

    dataset: DatasetConfig | None = pydantic.Field(
        default=None, description="Default dataset (``--data`` replaces its path)")
    metric: MetricConfig = pydantic.Field(
        default_factory=lambda: MetricConfig(kind="exact"),
        description="A metric name, or {kind: <name>, <option>: <value>, ...}")
    budget: DatasetBudgetConfig = pydantic.Field(
        default_factory=lambda: DatasetBudgetConfig())
    concurrency: int | None = pydantic.Field(
        default=None, ge=1, description="Instances at once (default: sized to the machine)")
    simulate: SimulateConfig | None = pydantic.Field(
        default=None, description="Only with a simulated model: tell it each instance's "
        "reference answer and difficulty")

    @pydantic.field_validator("metric", mode="before")
    @classmethod
    def _metric_name(cls, metric: Any) -> Any:
        return {"kind": metric} if isinstance(metric, str) else metric

    def metric_config(self) -> MetricConfig:
        return self.metric


def metric_json_schema(defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of ``eval.metric``: a registered name, or ``{kind: <name>, <its
    options>}`` for each registered metric (so editors complete the options).
    """
    from forethought.eval.metrics import metric_class, metric_names

    variants: list[dict[str, Any]] = []
    for name in metric_names():
        schema = metric_class(name).Options.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        variants.append({"type": "object", "title": f"kind: {name}",
                         "properties": {"kind": {"const": name}, **schema.get("properties", {})},
                         "required": ["kind", *schema.get("required", [])],
                         "additionalProperties": False})
    return {"anyOf": [{"enum": metric_names()}, *variants], "default": "exact",
            "description": "A metric name, or a mapping with `kind` and its options"}

