"""The strategy extension point: turn one subtask into a chosen answer under a budget."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import pydantic

from forethought._options import validate_options as _validate
from forethought.exceptions import UnknownNameError, UserError
from forethought.runtime.context import RunContext
from forethought.search.machine import StepMachine, drive


@dataclass(kw_only=True)
class Candidate:
    """One candidate answer a strategy considered."""

    text: str
    """The full completion (or the rendered path of steps)."""
    answer: str | None = None
    """The extracted, normalised answer; ``None`` when none could be extracted."""
    score: float | None = None
    """The scorer's value; ``None`` when unscored (the scorer failed or none was used)."""
    verified: bool | None = None
    """The final verifier's verdict on this answer; ``None`` when no verifier judged it."""
    steps: list[str] = field(default_factory=list[str])
    meta: dict[str, Any] = field(default_factory=dict[str, Any])


StrategyStatus = Literal["ok", "unverified", "budget_exhausted", "failed"]


@dataclass(kw_only=True)
class StrategyResult:
    """What a strategy chose, with everything it considered."""

    answer: str | None
    candidates: list[Candidate] = field(default_factory=list[Candidate])
    partial: bool = False
    """The budget ran out: the answer is the best found so far."""
    verified: bool | None = None
    """Whether a verifier accepted the answer (``False``: it rejected it, and every other
    candidate too); ``None`` when no verifier judged it."""
    score: float | None = None
    """The chosen candidate's score (the verifier's, when one judged it)."""
    stats: dict[str, int | float] = field(default_factory=dict[str, int | float])
    """Counters such as unparseable steps, unscored candidates, nodes expanded."""
    first_error: str | None = None
    """The first call that failed for another reason than the budget, verbatim (``None``:
    none failed)."""

    @property
    def status(self) -> StrategyStatus:
        """``budget_exhausted`` (partial), ``failed`` (no answer), ``unverified`` (the verifier
        rejected every candidate: the answer is the best of them), else ``ok``.
        """
        if self.partial:
            return "budget_exhausted"
        if self.answer is None:
            return "failed"
        return "unverified" if self.verified is False else "ok"


class Strategy(ABC):
    """An inference-time search strategy. Subclasses implement :meth:`steps` as a step machine
    (see :mod:`forethought.search.machine`) and register with :func:`register_strategy`.
    """

    name: ClassVar[str]
    Options: ClassVar[type[pydantic.BaseModel]]

    @abstractmethod
    def steps(self, task: Any) -> StepMachine:
        """The step machine solving ``task``; it returns a :class:`StrategyResult`."""

    async def arun(self, ctx: RunContext, task: Any, *, node_id: str | None = None
                   ) -> StrategyResult:
        result = await drive(ctx, self.steps(task), node_id=node_id)
        if not isinstance(result, StrategyResult):
            raise TypeError(f"strategy {self.name!r} returned {result!r}, not a StrategyResult")
        return result

    def __repr__(self) -> str:
        options = getattr(self, "options", None)
        shown = ""
        if isinstance(options, pydantic.BaseModel):
            # Options declared with repr=False (the asynchronous modes) show only when set.
            fields = type(options).model_fields
            shown = ", ".join(f"{k}={v!r}" for k, v in options.model_dump().items()
                              if fields[k].repr or v != fields[k].default)
        return f"{type(self).__name__}({shown})"

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Strategy:
        return cls(**validate_options(cls.name, cls.Options, options).model_dump())


M = TypeVar("M", bound=pydantic.BaseModel)


def validate_options(name: str, schema: type[M], options: dict[str, Any]) -> M:
    """``options`` of strategy ``name`` validated by ``schema``; :class:`UserError` names each
    problem and the valid options.
    """
    return _validate("strategy", name, schema, options)


_STRATEGIES: dict[str, Callable[[], type[Strategy]]] = {}


def register_strategy(name: str, factory: Callable[[], type[Strategy]]) -> None:
    """Register a strategy class under ``name`` (the factory defers its import)."""
    _STRATEGIES[name] = factory


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def strategy_class(name: str) -> type[Strategy]:
    if name not in _STRATEGIES:
        raise UnknownNameError("strategy", name, _STRATEGIES)
    return _STRATEGIES[name]()


def make_strategy(spec: Strategy | str | Mapping[str, Any]) -> Strategy:
    """A strategy from a name (``"beam"``), a mapping with ``kind`` and options
    (``{"kind": "beam", "width": 4}``) or a :class:`Strategy` (returned as it is); a
    :class:`UserError` names an unknown strategy or a bad option and lists the valid ones.
    """
    if isinstance(spec, Strategy):
        return spec
    if isinstance(spec, str):
        return strategy_class(spec).from_options({})
    options = dict(spec)
    kind = options.pop("kind", None)
    if not isinstance(kind, str):
        raise UserError(f"a strategy is a name or a mapping with a `kind` (one of "
                        f"{', '.join(strategy_names())}), got {dict(spec)!r}")
    return strategy_class(kind).from_options(options)


def _builtin(module: str, cls: str) -> Callable[[], type[Strategy]]:
    def load() -> type[Strategy]:
        import importlib

        loaded: type[Strategy] = getattr(importlib.import_module(module), cls)
        return loaded

    return load


def _register_builtins() -> None:
    for name, module, cls in (
            ("best_of_n", "forethought.search.best_of_n", "BestOfN"),
            ("self_consistency", "forethought.search.self_consistency", "SelfConsistency"),
            ("tot_bfs", "forethought.search.tot", "TreeOfThoughtsBFS"),
            ("tot_dfs", "forethought.search.tot", "TreeOfThoughtsDFS"),
            ("beam", "forethought.search.beam", "BeamSearch"),
            ("mcts", "forethought.search.mcts", "MCTS"),
            ("rebase", "forethought.search.rebase", "Rebase"),
            ("particle_filter", "forethought.search.particle_filter", "ParticleFilter"),
            ("refine", "forethought.search.refine", "Refine")):
        register_strategy(name, _builtin(module, cls))


_register_builtins()
