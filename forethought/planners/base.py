"""The planner extension point: turn a question into task graphs, run them, answer."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pydantic

from forethought._options import Loc, validate_options
from forethought.exceptions import UnknownNameError, UserError
from forethought.planners.answer_stream import AnswerStream
from forethought.runtime.context import RunContext, ToolsLike
from forethought.runtime.executor import GraphResult

if TYPE_CHECKING:
    from forethought.search.base import Strategy

PlanStatus = Literal["ok", "unverified", "failed", "budget_exhausted", "cancelled"]
"""``unverified``: a verifier judged the answer and rejected it (and every alternative)."""


@dataclass(kw_only=True)
class PlanOutcome:
    """What a planner produced for one question."""

    answer: str | None
    status: PlanStatus = "ok"
    rounds: list[GraphResult] = field(default_factory=list[GraphResult])
    """The task graph run in each planning round (partial ones included)."""
    error: str | None = None
    partial: bool = False
    """True when the answer is the best available, not a finished one (e.g. budget spent)."""
    verified: bool | None = None
    """Whether a verifier accepted the answer; ``None`` when none judged it."""
    score: float | None = None
    """The verifier's (or the search's) score of the answer, when there is one."""
    state: Any = None
    """What the planner keeps of this run to re-run one of its nodes later (see
    :meth:`Planner.rerun`); ``None`` when it cannot."""


@dataclass(kw_only=True, frozen=True)
class RerunTarget:
    """A node of a finished run that :meth:`Planner.rerun` can run again."""

    node: str
    """The name to pass to :meth:`Planner.rerun` (and to ``/rerun`` in the REPL)."""
    description: str
    """What it is and what running it again redoes."""


class Planner(ABC):
    """Builds and runs task graphs for a question. Subclass and register with
    :func:`register_planner` so recipes can name it.
    """

    name: ClassVar[str]
    Options: ClassVar[type[pydantic.BaseModel]]
    """The pydantic model of the options a recipe may set (``extra="forbid"``)."""

    @abstractmethod
    async def solve(self, ctx: RunContext, question: str) -> PlanOutcome:
        """Answer ``question`` using ``ctx`` for every model and tool call."""

    cannot_rerun: ClassVar[str] = "it does not keep what a re-run of one node would need"
    """Why this planner cannot re-run a node (a planner that can overrides :meth:`rerun`)."""

    def rerun_targets(self, state: Any) -> list[RerunTarget]:
        """The nodes of a run (whose :attr:`PlanOutcome.state` is ``state``) that
        :meth:`rerun` can run again; the default, none.
        """
        del state
        return []

    async def rerun(self, ctx: RunContext, question: str, state: Any, node: str,
                    strategy: Strategy | None) -> PlanOutcome:
        """Answer ``question`` again by re-running ``node`` of the run that left ``state``,
        keeping every result it does not change; ``strategy``, when given, is the search
        strategy that decides the answer there. The default refuses, saying why.
        """
        del ctx, question, state, strategy
        raise UserError(f"planner {self.name!r} cannot re-run node {node!r}: "
                        f"{self.cannot_rerun}")

    def answer_stream(self, purpose: str | None, node_id: str | None) -> AnswerStream | None:
        """A reader of the final answer in the streamed model call of ``purpose`` at
        ``node_id``, if such a call may write it (see :mod:`forethought.planners.answer_stream`);
        ``None`` (the default) when the answer only arrives whole, at the end of the run.
        """
        del purpose, node_id
        return None

    @classmethod
    def tools_named(cls, options: pydantic.BaseModel) -> list[tuple[Loc, str]]:
        """The tools ``options`` (validated :attr:`Options`) name, each with where it is named,
        so a recipe can check that its tools include them. Default: none.
        """
        del options
        return []

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Planner:
        return cls(**validate_options("planner", cls.name, cls.Options, options).model_dump())


_PLANNERS: dict[str, Callable[[], type[Planner]]] = {}
_entry_points_loaded = False


def _from_entry_point(ep: Any) -> Callable[[], type[Planner]]:
    def load() -> type[Planner]:
        cls: object = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Planner)):
            raise UserError(f"entry point {ep.name!r} ({ep.value}) of group "
                            f"'forethought.planners' is not a Planner subclass")
        return cls

    return load


def _registry() -> dict[str, Callable[[], type[Planner]]]:
    """The planners: those of the ``forethought.planners`` entry points (the built-ins are
    registered there too, exactly as a plugin's would be) and those registered in code, which
    take precedence. Nothing is imported until a planner is looked up.
    """
    global _entry_points_loaded
    if not _entry_points_loaded:
        from importlib.metadata import entry_points

        _entry_points_loaded = True
        for ep in entry_points(group="forethought.planners"):
            _PLANNERS.setdefault(ep.name, _from_entry_point(ep))
    return _PLANNERS


def register_planner(name: str, factory: Callable[[], type[Planner]]) -> None:
    """Register a planner class in code under ``name`` (the factory defers its import).
    Packages register theirs as ``forethought.planners`` entry points naming the class.
    """
    _registry()[name] = factory


def planner_names() -> list[str]:
    return sorted(_registry())


def planner_class(name: str) -> type[Planner]:
    registry = _registry()
    if name not in registry:
        raise UnknownNameError("planner", name, registry)
    return registry[name]()


def describe_tools(tools: ToolsLike, *, empty: str) -> str:
    """The tool list a planner's prompt shows: name, parameters, description, JSON schema;
    ``empty`` when there are no tools.
    """
    if not len(tools):
        return empty
    return "\n".join(f"- {t.name}({', '.join(t.parameters.get('properties', {}))}): "
                     f"{t.description}\n  arguments schema: {json.dumps(t.parameters)}"
                     for t in tools)
