"""Watching a run as it happens: ``agent.iter()`` and ``agent.run_stream()``, async and sync.

``async with agent.iter(q) as run: async for event in run`` yields the run's typed events
(:mod:`forethought.runtime.events`) as they are emitted: the run started, planner decisions,
nodes added, started and finished, model calls and the text they stream
(:class:`~forethought.runtime.events.ModelTextDelta`), tool calls, search-strategy steps,
budget refusals, the run finished. ``run.result`` is the :class:`AgentResult` once the
iteration has ended. Leaving the ``async with`` block before the run has finished (``break``,
an exception, :meth:`AgentRun.cancel`) cancels the run: calls in flight are cancelled, the
agent's toolsets are stopped, and the run store records the run as ``cancelled`` with
everything it did.

``async with agent.run_stream(q) as stream: async for text in stream`` yields the final
answer's text as it is written, then ``stream.result`` holds the whole result. What streams
depends on the planner (see :meth:`~forethought.planners.base.Planner.answer_stream`):

========================= =============================================================
planner                   what streams
========================= =============================================================
``llmcompiler``           the join's ``Action: Finish(<answer>)``, as the join writes it
``react``                 the last step's ``Action: Finish(<answer>)``
``aot`` (direct answers)  the final question's ``Answer: <answer>`` line
``aot`` with a strategy,  nothing while it runs: the chosen answer arrives as one delta
``search``, custom        when the run ends
========================= =============================================================

A typed output (``output_type`` other than ``str``) and any run with output validators
deliver the validated output's text (its JSON for a typed output) as one delta at the end:
text is only streamed when it is already known to be the answer. When a planner discards an
answer it had streamed (rare: a ``Finish`` it could not read), the stream ends without
repeating it and ``stream.result.answer`` is authoritative; in every other case the deltas
joined are exactly the answer.

Every form has a synchronous twin (``iter_sync``, ``run_stream_sync``) that runs the async
one on an event loop in a worker thread and hands its items over through a queue; leaving its
``with`` block early cancels the run the same way.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self

from typing_extensions import TypeVar

from forethought.agents.output import OutputT
from forethought.exceptions import RunError, UserError
from forethought.planners.answer_stream import AnswerStream
from forethought.runtime.events import Event, ModelCallFinished, ModelTextDelta, Subscriber

if TYPE_CHECKING:
    from types import TracebackType

    from forethought.agents.agent import AgentResult

ItemT = TypeVar("ItemT")
ItemT_co = TypeVar("ItemT_co", covariant=True)
ResultT = TypeVar("ResultT", covariant=True)

Starter = Callable[[Subscriber], Coroutine[Any, Any, "AgentResult[OutputT]"]]
"""Starts the run with one more subscriber (which also receives streamed text)."""
AnswerReader = Callable[[str | None, str | None], AnswerStream | None]

_END = object()


class AgentRun(Generic[OutputT]):
    """One run of an agent as an async iterator over its events (see the module docs).

    Obtained from :meth:`Agent.iter`; use it as ``async with agent.iter(q) as run:``.
    """

    def __init__(self, start: Starter[OutputT]) -> None:
        self._start = start
        self._queue: asyncio.Queue[object] | None = None
        self._task: asyncio.Task[AgentResult[OutputT]] | None = None
        self._finished = False
        self._raised = False
        self._openers: list[Callable[[], None]] = []
        self._closers: list[Callable[[AgentResult[Any] | None], None]] = []
        self.run_id: str | None = None
        """The run's id (known from its first event on)."""

    def on_enter(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` when the block is entered, before the run starts (it may raise)."""
        self._openers.append(fn)

    def on_close(self, fn: Callable[[AgentResult[Any] | None], None]) -> None:
        """Call ``fn(result)`` when the block is left (``None`` if the run did not finish)."""
        self._closers.append(fn)

    async def __aenter__(self) -> Self:
        if self._task is not None:
            raise UserError("an AgentRun can be entered once; call agent.iter(...) again")
        for fn in self._openers:
            fn()
        events: asyncio.Queue[object] = asyncio.Queue()
        self._queue = events
        self._task = asyncio.create_task(self._start(events.put_nowait))
        self._task.add_done_callback(lambda _: events.put_nowait(_END))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        task = self._task
        assert task is not None
        try:
            if not task.done():
                task.cancel()
                # Wait for the run to unwind: it records 'cancelled' and stops the toolsets.
                await asyncio.wait([task])
            if task.cancelled():
                return
            error = task.exception()
            if error is not None and not self._raised and exc_type is None:
                # The block ended before the iteration reached the failure: do not lose it.
                self._raised = True
                raise error
        finally:
            result = self._result_or_none()
            for fn in self._closers:
                fn(result)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if self._queue is None or self._task is None:
            raise UserError("iterate inside `async with agent.iter(...) as run:`")
        if self._finished:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            self._finished = True
            if not self._task.cancelled() and (error := self._task.exception()) is not None:
                self._raised = True
                raise error
            raise StopAsyncIteration
        assert isinstance(item, Event)
        if self.run_id is None:
            self.run_id = item.run_id
        return item

    async def cancel(self) -> None:
        """Cancel the run now (leaving the block does the same) and wait until it stopped."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    @property
    def result(self) -> AgentResult[OutputT]:
        """The run's result; :class:`UserError` before it has finished, :class:`RunError` if
        it was cancelled (its events and partial results are in the run store).
        """
        task = self._task
        if task is None or not task.done():
            raise UserError("the run has not finished: iterate to the end of `async for "
                            "event in run` first")
        if task.cancelled():
            raise RunError(f"run {self.run_id or '(not started)'} was cancelled before it "
                           f"finished; its events and partial results are in the run store")
        return task.result()

    def _result_or_none(self) -> AgentResult[Any] | None:
        task = self._task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()


class StreamedRun(Generic[OutputT]):
    """A run whose final answer streams as text (see the module docs).

    Obtained from :meth:`Agent.run_stream`; use it as ``async with agent.run_stream(q) as
    stream: async for text in stream:``, then read :attr:`result`.
    """

    def __init__(self, run: AgentRun[OutputT], *, reader: AnswerReader | None,
                 final_text: Callable[[AgentResult[OutputT]], str | None]) -> None:
        self.run = run
        """The underlying :class:`AgentRun` (its events are consumed by this stream)."""
        self._reader = reader
        self._final_text = final_text
        self._readers: dict[int, AnswerStream | None] = {}
        self._pending: deque[str] = deque()
        self._streamed: list[str] = []
        self._ended = False

    async def __aenter__(self) -> Self:
        await self.run.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.run.__aexit__(exc_type, exc, tb)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        while not self._pending:
            if self._ended:
                raise StopAsyncIteration
            try:
                event = await self.run.__anext__()
            except StopAsyncIteration:
                self._ended = True
                self._add(self._rest())
                continue
            self._add(self._read(event))
        text = self._pending.popleft()
        self._streamed.append(text)
        return text

    def _add(self, text: str) -> None:
        if text:
            self._pending.append(text)

    def _read(self, event: Event) -> str:
        if self._reader is None:
            return ""
        if isinstance(event, ModelTextDelta):
            if event.call_id not in self._readers:
                self._readers[event.call_id] = self._reader(event.purpose, event.node_id)
            reader = self._readers[event.call_id]
            return reader.feed(event.text) if reader is not None else ""
        if isinstance(event, ModelCallFinished) and (
                reader := self._readers.pop(event.call_id, None)) is not None:
            return reader.finish()
        return ""

    def _rest(self) -> str:
        """What the deltas so far lack of the final answer (nothing if they diverged)."""
        final = self._final_text(self.run.result)
        if final is None:
            return ""
        streamed = "".join(self._streamed) + "".join(self._pending)
        return final[len(streamed):] if final.startswith(streamed) else ""

    @property
    def text(self) -> str:
        """The text streamed so far."""
        return "".join(self._streamed)

    @property
    def result(self) -> AgentResult[OutputT]:
        """The run's result (see :attr:`AgentRun.result`)."""
        return self.run.result


class _AsyncSource(Protocol[ItemT_co, ResultT]):
    """What a sync twin drives: an async context manager that iterates and has a result."""

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> Any: ...

    def __aiter__(self) -> AsyncIterator[ItemT_co]: ...

    @property
    def result(self) -> ResultT: ...


class SyncRun(Generic[ItemT, OutputT]):
    """The synchronous twin of :class:`AgentRun` (items: events) or :class:`StreamedRun`
    (items: text): ``with agent.iter_sync(q) as run: for event in run:``.
    """

    def __init__(self, source: _AsyncSource[ItemT, AgentResult[OutputT]]) -> None:
        self._source = source
        self._items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._finished = False

    def __enter__(self) -> Self:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise UserError("the sync form was used inside a running event loop; use "
                            "`async with agent.iter(...)` / `agent.run_stream(...)` there")
        self._thread = threading.Thread(target=self._work, name="forethought-run", daemon=True)
        self._thread.start()
        self._started.wait()
        return self

    def _work(self) -> None:
        try:
            asyncio.run(self._pump())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._items.put(("error", exc))
        finally:
            self._started.set()
            self._items.put(("end", None))

    async def _pump(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        try:
            async with self._source:
                async for item in self._source:
                    self._items.put(("item", item))
        except asyncio.CancelledError:
            return  # the caller left the block: the source cancelled and recorded the run

    def __iter__(self) -> Iterator[ItemT]:
        return self

    def __next__(self) -> ItemT:
        if self._thread is None:
            raise UserError("iterate inside `with agent.iter_sync(...) as run:`")
        while not self._finished:
            kind, value = self._items.get()
            if kind == "item":
                return value
            if kind == "error":
                self._finished = True
                raise value
            self._finished = True
        raise StopIteration

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        thread, loop, task = self._thread, self._loop, self._task
        if thread is None:
            return
        if thread.is_alive() and loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
        thread.join()
        if exc_type is None and not self._finished:
            # Left early without an error of its own: surface a failure of the run, if any.
            while not self._items.empty():
                kind, value = self._items.get_nowait()
                if kind == "error" and not isinstance(value, asyncio.CancelledError):
                    self._finished = True
                    raise value

    @property
    def result(self) -> AgentResult[OutputT]:
        """The run's result (see :attr:`AgentRun.result`)."""
        return self._source.result
