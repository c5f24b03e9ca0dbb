"""Metrics: how an answer is scored against an instance, and the registry recipes name them by.

A metric is a :class:`Metric` subclass (with a pydantic ``Options`` model for its recipe
options) or a plain function registered with :func:`register_metric`::

    from forethought.eval import register_metric

    @register_metric("starts_with")
    def starts_with(answer: str, reference: str | None) -> bool:
        return reference is not None and answer.strip().startswith(reference)

A function returns a bool, or a number in ``[0, 1]`` (correct when it is 1). Plugins register
metrics under the ``forethought.metrics`` entry-point group; built-ins are registered here, the
same way. Recipes write ``metric: exact`` or ``metric: {kind: numeric, rel_tol: 0.01}``.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast, overload

import pydantic

from forethought._options import validate_options
from forethought._threads import in_thread
from forethought.exceptions import UnknownNameError, UserError

if TYPE_CHECKING:
    from forethought.eval.config import MetricConfig
    from forethought.eval.datasets import Instance


@dataclass(kw_only=True, frozen=True, slots=True)
class Score:
    """A metric's judgement of one answer."""

    correct: bool
    value: float
    """In ``[0, 1]``: 1 or 0 for all-or-nothing metrics, partial credit otherwise."""
    detail: str | None = None
    """Why, when it is worth saying (what was extracted, a verifier's failure)."""


class NoOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class Metric(ABC):
    """Scores answers. Subclass, set ``name`` (and ``Options``), and register the class."""

    name: ClassVar[str]
    Options: ClassVar[type[pydantic.BaseModel]] = NoOptions
    """The options a recipe may set (``extra="forbid"``); passed to ``__init__``."""
    needs_reference: ClassVar[bool] = True
    """Whether it compares with the instance's reference (so records without one are
    malformed)."""

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Metric:
        parsed = validate_options("metric", cls.name, cls.Options, options)
        return cls(**parsed.model_dump())

    @abstractmethod
    async def score(self, answer: str, instance: Instance) -> Score:
        """Judge ``answer`` (never ``None``: a run without an answer is wrong unscored)."""

    def __repr__(self) -> str:
        return f"<metric {self.name!r}>"


MetricFunction = Callable[[str, "str | None"], "bool | float | Awaitable[bool | float]"]


def as_score(value: object, name: str) -> Score:
    """A metric function's bool or number in ``[0, 1]`` as a :class:`Score`."""
    if isinstance(value, bool):
        return Score(correct=value, value=float(value))
    if isinstance(value, int | float) and 0 <= value <= 1:
        return Score(correct=value >= 1, value=float(value))
    raise UserError(f"metric {name!r} returned {value!r}; a metric returns a bool or a number "
                    f"in [0, 1]")


class FunctionMetric(Metric):
    """A metric made from ``fn(answer, reference)`` (sync functions run in a worker thread)."""

    fn: ClassVar[MetricFunction]

    async def score(self, answer: str, instance: Instance) -> Score:
        fn = type(self).fn
        if inspect.iscoroutinefunction(fn):
            value: object = await fn(answer, instance.reference)
        else:
            value = await in_thread(fn, answer, instance.reference)
            if inspect.isawaitable(value):
                value = await cast(Awaitable[object], value)
        return as_score(value, self.name)


_METRICS: dict[str, type[Metric]] = {}
_plugins_loaded = False


def _function_metric(name: str, fn: MetricFunction, needs_reference: bool) -> type[Metric]:
    return type(f"FunctionMetric_{name}", (FunctionMetric,),
                {"name": name, "fn": staticmethod(fn), "needs_reference": needs_reference})


@overload
def register_metric(name: str, metric: type[Metric] | MetricFunction, *,
                    needs_reference: bool = True) -> type[Metric]: ...
@overload
def register_metric(name: str, *, needs_reference: bool = True
                    ) -> Callable[[MetricFunction], MetricFunction]: ...
def register_metric(name: str, metric: type[Metric] | MetricFunction | None = None, *,
                    needs_reference: bool = True
                    ) -> type[Metric] | Callable[[MetricFunction], MetricFunction]:
    """Register a :class:`Metric` subclass or a function ``(answer, reference) -> bool |
    float`` under ``name`` (also usable as a decorator on a function). Registering a name again
    replaces it.
    """
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise UserError(f"invalid metric name {name!r}: use letters, digits, '_' and '-'")

    def add(item: type[Metric] | MetricFunction) -> type[Metric]:
        if isinstance(item, type) and issubclass(item, Metric):
            cls: type[Metric] = item
            if getattr(cls, "name", None) != name:
                cls = type(cls.__name__, (cls,), {"name": name})
        elif callable(cast(object, item)):
            cls = _function_metric(name, cast(MetricFunction, item), needs_reference)
        else:
            raise UserError(f"register_metric({name!r}, ...): expected a Metric subclass or a "
                            f"function (answer, reference) -> bool | float, got {item!r}")
        _METRICS[name] = cls
        return cls

    if metric is not None:
        return add(metric)

    def decorator(fn: MetricFunction) -> MetricFunction:
        add(fn)
        return fn
    return decorator


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="forethought.metrics"):
        obj: object = ep.load()
        if not callable(obj):  # a Metric subclass or a metric function
            raise UserError(f"entry point {ep.name!r} ({ep.value}) is not a forethought Metric "
                            f"or a metric function")
        register_metric(ep.name, cast(MetricFunction, obj))


def metric_names() -> list[str]:
    _load_plugins()
    return sorted(_METRICS)


def metric_class(name: str) -> type[Metric]:
    _load_plugins()
    if name not in _METRICS:
        raise UnknownNameError("metric", name, _METRICS)
    return _METRICS[name]


def make_metric(name: str, options: dict[str, Any] | None = None) -> Metric:
    """The registered metric ``name`` built with ``options`` (a :class:`UserError` names a bad
    option and the valid ones).
    """
    return metric_class(name).from_options(options or {})


def metric_from_config(config: MetricConfig) -> Metric:
    return make_metric(config.kind, config.options())


def _builtins() -> None:
    from forethought.eval import builtin_metrics as b
    from forethought.eval.verifier import VerifierMetric

    for cls in (b.Exact, b.Normalised, b.Numeric, b.Contains, b.Choice, VerifierMetric):
        _METRICS[cls.name] = cls


_builtins()
