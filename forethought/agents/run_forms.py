"""The typed surface :class:`~forethought.Agent` adds around its core (``run``/``arun``):
checking a run's arguments, ``iter``, ``run_stream`` and their sync twins (see
:mod:`forethought.agents.streaming` for what they yield), output validators and tool
decorators, shared through :class:`RunForms`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, overload

from typing_extensions import TypeVar

from forethought.agents.deps import check_deps, describe_type
from forethought.agents.history import HistoryItem, read_history, warn_unknown_tools
from forethought.agents.output import OutputSpec, OutputT, OutputTypeSpec, OutputValidator
from forethought.agents.streaming import AgentRun, StreamedRun, SyncRun
from forethought.exceptions import UserError
from forethought.models.messages import Message
from forethought.planners.base import Planner
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import DepsT, RunContext
from forethought.runtime.events import Event, Subscriber
from forethought.tools.base import FunctionTool, ToolRegistry

if TYPE_CHECKING:
    from forethought.agents.agent import AgentResult

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


@dataclass(kw_only=True)
class RunSpec(Generic[OutputT]):
    """One run as asked for, checked before anything starts."""

    question: str
    budget: Budget | None
    history: list[Message]
    deps: Any
    output: OutputSpec[OutputT]
    within: BudgetTracker | None = None
    """A parent budget (a dataset's) this run's calls also count against."""


class RunForms(ABC, Generic[DepsT, OutputT]):
    """``iter``, ``run_stream``, ``iter_sync`` and ``run_stream_sync`` over two primitives:
    :meth:`_prepare` (check the arguments, raising at the call) and :meth:`_start`; output
    validators and tool decorators.
    """

    planner: Planner
    tools: ToolRegistry
    deps: Any
    deps_type: Any
    _output_spec: OutputSpec[OutputT]

    def _prepare(self, question: str, *, budget: Budget | None,
                 history: Iterable[HistoryItem] | None, deps: Any,
                 output_type: Any) -> RunSpec[Any]:
        """Check everything a run was given before it starts (errors name the bad value)."""
        if not isinstance(question, str) or not question.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UserError(f"the question must be a non-empty string, got {question!r}")
        output: OutputSpec[Any] = self._output_spec
        if output_type is not None:
            output = OutputSpec(output_type, mode=output.mode, retries=output.retries)
            if output.same_type(self._output_spec):
                output = self._output_spec
        messages = read_history(history or ())
        warn_unknown_tools(messages, self.tools.names())
        deps = self.deps if deps is None else deps
        if self.deps_type is not None:
            check_deps(deps, self.deps_type,
                       declared_by=f"Agent(deps_type={describe_type(self.deps_type)})")
        for t in self.tools:
            if isinstance(t, FunctionTool) and t.deps_type is not None:
                check_deps(deps, t.deps_type, declared_by=f"tool {t.name!r} takes "
                           f"RunContext[{describe_type(t.deps_type)}]")
        return RunSpec(question=question, budget=budget, history=messages, deps=deps,
                       output=output)

    @abstractmethod
    async def _start(self, spec: RunSpec[Any], subscriber: Subscriber | None
                     ) -> AgentResult[Any]: ...

    @overload
    def output_validator(self, fn: Callable[[RunContext[DepsT], OutputT],
                                            OutputT | Awaitable[OutputT]]
                         ) -> Callable[[RunContext[DepsT], OutputT],
                                       OutputT | Awaitable[OutputT]]: ...
    @overload
    def output_validator(self, fn: Callable[[OutputT], OutputT | Awaitable[OutputT]]
                         ) -> Callable[[OutputT], OutputT | Awaitable[OutputT]]: ...
    def output_validator(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: check (and possibly adjust) each output of the agent's output type.

        ``fn(output)`` or ``fn(ctx, output)``, sync or async, returns the output to keep or
        raises :class:`ModelRetry` with feedback, which goes back to the model for a repair
        turn (``output_retries`` of them).
        """
        self._output_spec.with_validator(OutputValidator.of(fn))
        return fn

    def tool(self, fn: Callable[Concatenate[RunContext[DepsT], P], R]
             ) -> Callable[Concatenate[RunContext[DepsT], P], R]:
        """Decorator: add a tool that takes the run context (``RunContext[DepsT]``, typed
        with this agent's deps) as its first parameter; returns the function unchanged.
        """
        self.tools.add(FunctionTool(fn))
        return fn

    def tool_plain(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorator: add a tool that does not take the run context."""
        self.tools.add(FunctionTool(fn))
        return fn

    @overload
    def iter(self, question: str, *, budget: Budget | None = None,
             history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
             output_type: None = None) -> AgentRun[OutputT]: ...
    @overload
    def iter(self, question: str, *, budget: Budget | None = None,
             history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
             output_type: OutputTypeSpec[T]) -> AgentRun[T]: ...
    def iter(self, question: str, *, budget: Budget | None = None,
             history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
             output_type: Any = None) -> AgentRun[Any]:
        """Start a run to watch: ``async with agent.iter(q) as run: async for event in run``
        yields its typed events; ``run.result`` is the :class:`AgentResult` afterwards.
        Leaving the block early cancels the run cleanly. Arguments as in :meth:`arun`.
        """
        spec = self._prepare(question, budget=budget, history=history, deps=deps,
                             output_type=output_type)
        return AgentRun(lambda subscriber: self._start(spec, subscriber))

    @overload
    def run_stream(self, question: str, *, budget: Budget | None = None,
                   history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
                   output_type: None = None) -> StreamedRun[OutputT]: ...
    @overload
    def run_stream(self, question: str, *, budget: Budget | None = None,
                   history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
                   output_type: OutputTypeSpec[T]) -> StreamedRun[T]: ...
    def run_stream(self, question: str, *, budget: Budget | None = None,
                   history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
                   output_type: Any = None) -> StreamedRun[Any]:
        """Start a run whose final answer streams: ``async with agent.run_stream(q) as
        stream: async for text in stream`` yields the answer's text as it is written (what
        streams depends on the planner: see :mod:`forethought.agents.streaming`), then
        ``stream.result`` is the :class:`AgentResult`. Arguments as in :meth:`arun`.
        """
        spec = self._prepare(question, budget=budget, history=history, deps=deps,
                             output_type=output_type)
        output = spec.output
        reader = self.planner.answer_stream if output.is_text and not output.validators \
            else None

        def final_text(result: AgentResult[Any]) -> str | None:
            return output.dump(result.output) if result.has_output else None

        run: AgentRun[Any] = AgentRun(lambda subscriber: self._start(spec, subscriber))
        return StreamedRun(run, reader=reader, final_text=final_text)

    @overload
    def iter_sync(self, question: str, *, budget: Budget | None = None,
                  history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
                  output_type: None = None) -> SyncRun[Event, OutputT]: ...
    @overload
    def iter_sync(self, question: str, *, budget: Budget | None = None,
                  history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
                  output_type: OutputTypeSpec[T]) -> SyncRun[Event, T]: ...
    def iter_sync(self, question: str, *, budget: Budget | None = None,
                  history: Iterable[HistoryItem] | None = None, deps: DepsT | None = None,
                  output_type: Any = None) -> SyncRun[Event, Any]:
        """Synchronous :meth:`iter`: ``with agent.iter_sync(q) as run: for event in run``
        (the run goes on in a worker thread; leaving the block early cancels it).
        """
        return SyncRun(self.iter(question, budget=budget, history=history, deps=deps,
                                 output_type=output_type))

    @overload
    def run_stream_sync(self, question: str, *, budget: Budget | None = None,
                        history: Iterable[HistoryItem] | None = None,
                        deps: DepsT | None = None, output_type: None = None
                        ) -> SyncRun[str, OutputT]: ...
    @overload
    def run_stream_sync(self, question: str, *, budget: Budget | None = None,
                        history: Iterable[HistoryItem] | None = None,
                        deps: DepsT | None = None, output_type: OutputTypeSpec[T]
                        ) -> SyncRun[str, T]: ...
    def run_stream_sync(self, question: str, *, budget: Budget | None = None,
                        history: Iterable[HistoryItem] | None = None,
                        deps: DepsT | None = None, output_type: Any = None
                        ) -> SyncRun[str, Any]:
        """Synchronous :meth:`run_stream`: ``with agent.run_stream_sync(q) as stream: for
        text in stream`` (the run goes on in a worker thread).
        """
        return SyncRun(self.run_stream(question, budget=budget, history=history, deps=deps,
                                       output_type=output_type))
