"""What defines an eval: the recipe text and the resolved dataset, metric and budget settings.

An :class:`EvalSpec` is stored with the eval, so ``--resume`` runs exactly what was started
(the recipe file may have changed since); its :meth:`~EvalSpec.key` identifies "the same
command" for ``forethought eval RECIPE --resume``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from forethought.eval.config import (
    DatasetBudgetConfig,
    DatasetConfig,
    EvalConfig,
    MetricConfig,
    SimulateConfig,
)
from forethought.eval.datasets import Dataset, load_dataset
from forethought.eval.metrics import Metric, metric_from_config
from forethought.exceptions import RecipeError, UserError

if TYPE_CHECKING:
    from forethought.recipes import Recipe


@dataclass(kw_only=True)
class Overrides:
    """What the command line changes in a recipe's ``eval:`` section."""

    data: Path | None = None
    """Another dataset file (relative to the working directory)."""
    question: str | None = None
    reference: str | None = None
    id: str | None = None
    limit: int | None = None
    offset: int | None = None
    ids: list[str] | None = None
    metric: str | None = None
    """A metric name, or a JSON object ``{"kind": ..., <option>: ...}``."""
    model: str | None = None
    planner: str | None = None
    """A planner kind instead of the recipe's (its default options; the recipe's own options
    when it names the same kind)."""


@dataclass(kw_only=True)
class EvalSpec:
    """Everything that decides an eval's results (runtime options such as concurrency or the
    backend are not part of it).
    """

    recipe_text: str
    recipe_path: str | None
    name: str
    dataset: DatasetConfig
    """With an absolute path."""
    metric: MetricConfig
    budget: DatasetBudgetConfig
    simulate: SimulateConfig | None = None
    model: str | None = None
    """Overrides the recipe's model."""
    planner: str | None = None
    """Overrides the recipe's planner kind (see :class:`Overrides`)."""
    concurrency: int | None = None
    """The recipe's choice (the command line may override it)."""
    recipe_dir: str | None = None
    """The recipe's folder (absolute): its relative paths (tool corpora...) are resolved
    against it, wherever the eval is resumed from."""

    def to_json(self) -> dict[str, Any]:
        return {"recipe_text": self.recipe_text, "recipe_path": self.recipe_path,
                "name": self.name, "dataset": self.dataset.model_dump(),
                "metric": self.metric.model_dump(), "budget": self.budget.model_dump(),
                "simulate": None if self.simulate is None else self.simulate.model_dump(),
                "model": self.model, "planner": self.planner,
                "concurrency": self.concurrency, "recipe_dir": self.recipe_dir}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalSpec:
        return cls(recipe_text=data["recipe_text"], recipe_path=data.get("recipe_path"),
                   name=data["name"], dataset=DatasetConfig.model_validate(data["dataset"]),
                   metric=MetricConfig.model_validate(data["metric"]),
                   budget=DatasetBudgetConfig.model_validate(data["budget"]),
                   simulate=None if data.get("simulate") is None else
                   SimulateConfig.model_validate(data["simulate"]),
                   model=data.get("model"), planner=data.get("planner"),
                   concurrency=data.get("concurrency"), recipe_dir=data.get("recipe_dir"))

    def key(self) -> str:
        """The same recipe text, dataset settings, metric, budget, model and planner: the same
        eval.
        """
        identity = {k: v for k, v in self.to_json().items()
                    if k not in ("recipe_path", "concurrency")
                    and not (k == "planner" and v is None)}  # keys of evals from before it
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]

    def recipe(self) -> Recipe:
        from forethought.recipes import parse_recipe

        recipe = parse_recipe(self.recipe_text, path=self.recipe_path or "<recipe>",
                              base_dir=self.recipe_dir)
        if self.planner is None or recipe.planner_config().kind == self.planner:
            return recipe
        from forethought.recipes.revise import revise_recipe

        return revise_recipe(recipe, planner={"kind": self.planner})

    def build_metric(self) -> Metric:
        return metric_from_config(self.metric)

    def load(self, *, strict: bool = False) -> tuple[Dataset, Metric]:
        """The dataset's selected instances and the metric."""
        metric = self.build_metric()
        if metric.needs_reference and self.dataset.reference is None:
            raise UserError(f"metric {metric.name!r} compares answers with a reference: name "
                            f"the reference field (`eval.dataset.reference` in the recipe, or "
                            f"--reference)")
        dataset = load_dataset(self.dataset, Path(self.dataset.path),
                               needs_reference=metric.needs_reference, strict=strict)
        return dataset, metric


def _metric(text: str) -> MetricConfig:
    text = text.strip()
    if text.startswith("{"):
        try:
            data: object = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"--metric {text!r} is not a JSON object: {exc.msg}") from None
        if not isinstance(data, dict):
            raise UserError(f"--metric {text!r} must be a name or a JSON object")
        return _validated(MetricConfig, cast(dict[str, Any], data), "--metric")
    return _validated(MetricConfig, {"kind": text}, "--metric")


def _validated(model: Any, data: dict[str, Any], what: str) -> Any:
    import pydantic

    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "")
            + str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise UserError(f"{what}: {problems}") from None


def spec_from_recipe(recipe_path: Path, overrides: Overrides) -> EvalSpec:
    """The eval a recipe file and the command line describe (dataset paths resolved)."""
    from forethought.recipes import load_recipe

    recipe = load_recipe(recipe_path)
    text = recipe_path.read_text(encoding="utf-8")
    cfg: EvalConfig = getattr(recipe, "eval", None) or EvalConfig()
    fields: dict[str, Any]
    if cfg.dataset is not None:
        fields = cfg.dataset.model_dump()
        base = recipe_path.resolve().parent
        fields["path"] = str((base / cfg.dataset.path).resolve())
    elif overrides.data is None:
        raise RecipeError("no dataset: add an `eval: {dataset: {path: ...}}` section or pass "
                          "--data FILE", path=str(recipe_path), field="eval")
    else:
        fields = {"path": ""}
    if overrides.data is not None:
        fields["path"] = str(overrides.data.resolve())
    for name in ("question", "reference", "id", "limit", "offset", "ids"):
        value = getattr(overrides, name)
        if value is not None:
            fields[name] = value
    dataset = _validated(DatasetConfig, fields, "dataset")
    metric = _metric(overrides.metric) if overrides.metric else cfg.metric_config()
    spec = EvalSpec(recipe_text=text, recipe_path=str(recipe_path), name=recipe.name,
                    dataset=dataset, metric=metric, budget=cfg.budget,
                    simulate=cfg.simulate, model=overrides.model, planner=overrides.planner,
                    concurrency=cfg.concurrency,
                    recipe_dir=str(recipe_path.absolute().parent))
    if overrides.planner is not None:
        try:
            spec.recipe()  # an unknown planner, or one the recipe's tools cannot serve
        except UserError as exc:
            raise UserError(f"--planner {overrides.planner!r}: {exc}") from None
    return spec
