"""The ways to start a run besides ``run``/``arun``: ``iter``, ``run_stream`` and their sync
twins, shared by :class:`~forethought.Agent` through :class:`RunForms` (see
:mod:`forethought.agents.streaming` for what they yield).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, overload

from typing_extensions import TypeVar

from forethought.agents.history import HistoryItem
from forethought.agents.output import OutputSpec, OutputT, OutputTypeSpec
from forethought.agents.streaming import AgentRun, StreamedRun, SyncRun
from forethought.models.messages import Message
from forethought.planners.base import Planner
from forethought.runtime.budget import Budget
from forethought.runtime.context import DepsT
from forethought.runtime.events import Event, Subscriber

if TYPE_CHECKING:
    from forethought.agents.agent import AgentResult

T = TypeVar("T")


@dataclass(kw_only=True)
class RunSpec(Generic[OutputT]):
    """One run as asked for, checked before anything starts."""

    question: str
    budget: Budget | None
    history: list[Message]
    deps: Any
    output: OutputSpec[OutputT]


class RunForms(ABC, Generic[DepsT, OutputT]):
    """``iter``, ``run_stream``, ``iter_sync`` and ``run_stream_sync`` over two primitives:
    :meth:`_prepare` (check the arguments, raising at the call) and :meth:`_start`.
    """

    planner: Planner

    @abstractmethod
    def _prepare(self, question: str, *, budget: Budget | None,
                 history: Iterable[HistoryItem] | None, deps: Any,
                 output_type: Any) -> RunSpec[Any]: ...

    @abstractmethod
    async def _start(self, spec: RunSpec[Any], subscriber: Subscriber | None
                     ) -> AgentResult[Any]: ...

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
