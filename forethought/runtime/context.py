"""The run context: the one object through which strategies, planners and tools reach models
and tools, so that every call is budgeted, observed and recorded.

Budgets are enforced here (see :mod:`forethought.runtime.budget` for what is exact):

- a model call is admitted when it is sent: models that queue (``admits_at_dispatch``) are
  given a gate that admits each dispatch after their queue; for the others the call is
  admitted right before the model is called;
- ``max_seconds`` is a deadline: model and tool calls still running when it passes are
  cancelled and raise :class:`BudgetExceeded`, so planners and strategies finish with what
  they have.

The runtime does not import the tools package (tools are a layer above it): tools reach the
context through the small :class:`ToolLike` / :class:`ToolsLike` protocols, which
:class:`forethought.tools.base.Tool` and :class:`~forethought.tools.base.ToolRegistry` satisfy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol

from typing_extensions import TypeVar

from forethought.exceptions import (
    BudgetExceeded,
    ModelRetry,
    ToolArgumentError,
    ToolError,
    ToolExecutionError,
    UnexpectedModelBehavior,
    UnknownNameError,
)
from forethought.models.admission import gated
from forethought.models.base import Model, TextCallback
from forethought.models.messages import ModelRequest, ModelResponse, ToolSpec, Usage
from forethought.models.structured import (
    OutputParseError,
    output_schema_for,
    parse_output,
    repair_messages,
)
from forethought.runtime.budget import BudgetTracker, Reservation
from forethought.runtime.events import (
    BudgetExhausted,
    EventBus,
    ModelCallFinished,
    ModelCallStarted,
    ModelTextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from forethought.runtime.rendering import render_output
from forethought.runtime.store import RunStore

T = TypeVar("T")
DepsT = TypeVar("DepsT", default=Any)
"""The type of :attr:`RunContext.deps` (``Any`` when a context is not parameterised)."""

_log = logging.getLogger("forethought")


class ToolLike(Protocol):
    """What the runtime needs of a tool (``forethought.tools.base.Tool`` is one)."""

    name: str
    description: str
    parameters: dict[str, Any]
    """JSON schema of the arguments object."""
    timeout_s: float | None

    async def call(self, args: dict[str, Any], ctx: RunContext | None = None) -> Any: ...

    def spec(self) -> ToolSpec: ...


class ToolsLike(Protocol):
    """What the runtime needs of a tool registry (``forethought.tools.base.ToolRegistry``)."""

    def get(self, name: str) -> ToolLike: ...

    def names(self) -> list[str]: ...

    def specs(self) -> tuple[ToolSpec, ...]: ...

    def __contains__(self, name: object) -> bool: ...

    def __iter__(self) -> Iterator[ToolLike]: ...

    def __len__(self) -> int: ...


class NoTools:
    """The registry of a context given no tools."""

    def get(self, name: str) -> ToolLike:
        raise UnknownNameError("tool", name, ())

    def names(self) -> list[str]:
        return []

    def specs(self) -> tuple[ToolSpec, ...]:
        return ()

    def __contains__(self, name: object) -> bool:
        return False

    def __iter__(self) -> Iterator[ToolLike]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(kw_only=True)
class Parsed(Generic[T]):
    """A structured reply: the parsed value and the calls it took."""

    value: T
    responses: list[ModelResponse]
    """One response, or two when a repair turn was needed."""

    @property
    def usage(self) -> Usage:
        total = Usage()
        for r in self.responses:
            total.add(r.usage)
        return total


class _Ticket:
    """One model call's admissions: the gate a queueing model calls at each dispatch."""

    __slots__ = ("_covered", "_tracker", "reservations")

    def __init__(self, tracker: BudgetTracker) -> None:
        self._tracker = tracker
        self.reservations: list[Reservation] = []
        self._covered = False

    async def admit_up_front(self, model: Model, request: ModelRequest) -> None:
        """Admit the call before it reaches ``model``, which does not admit at dispatch.

        Such a model may still wrap one that does (a user's wrapper around a provider
        client): its first dispatch is then this admission, not a second one, or every call
        would count twice against the budget. Later dispatches of the call (a hedge, a
        fallback) are admitted as usual.
        """
        await self.admit(model, request)
        self._covered = True

    async def admit(self, model: Model, request: ModelRequest) -> None:
        if self._covered:
            self._covered = False
            return
        self.reservations.append(await self._tracker.admit(model.worst_case(request)))

    def settle(self, usage: Usage | None) -> None:
        """Reconcile every dispatch of the call with its real ``usage`` (counted once)."""
        for i, reservation in enumerate(self.reservations):
            self._tracker.settle(reservation, usage if i == 0 else None)


def _cancelled_usage(ticket: _Ticket) -> Usage | None:
    """What a call cancelled at the provider is charged: the prompt it had sent (a provider
    bills what it read); nothing when it was never sent.
    """
    if not ticket.reservations:
        return None
    prompt = ticket.reservations[0].worst.prompt_tokens
    return Usage(prompt_tokens=prompt, model_calls=1)


@dataclass(kw_only=True)
class RunContext(Generic[DepsT]):
    """Shared by everything in one run. Pass it along; never build a second one per step.

    Generic in the type of :attr:`deps`: a tool declared as ``def f(ctx: RunContext[Db], ...)``
    sees ``ctx.deps`` as a ``Db`` (and the agent checks the run's deps against it).
    """

    model: Model
    """The default model."""
    tools: ToolsLike = field(default_factory=NoTools)
    budget: BudgetTracker = field(default_factory=BudgetTracker)
    events: EventBus = field(default_factory=EventBus)
    run_id: str = ""
    deps: DepsT = None  # pyright: ignore[reportAssignmentType] - None when a run has no deps
    """User dependencies made available to tools (database handles, clients, ...)."""
    store: RunStore | None = None
    """The run store the run is recorded in (``None``: none). Agents that learn across runs
    (the selection agent) keep their statistics in the same file."""
    question: str = ""
    """The question the run answers, as the planner sees it (with the conversation so far)."""
    _calls: int = 0
    _tool_calls: int = 0

    def __post_init__(self) -> None:
        if not self.events.run_id:
            self.events.run_id = self.run_id

    # -- budget ------------------------------------------------------------------------------

    def _refusal(self, exc: BudgetExceeded, node_id: str | None) -> BudgetExceeded:
        if self.events.active:
            self.events.emit(BudgetExhausted(node_id=node_id, reason=exc.reason,
                                             spent=replace(self.budget.spent)))
        return exc

    @asynccontextmanager
    async def deadline(self) -> AsyncGenerator[None]:
        """Cancel the block when the run's ``max_seconds`` passes, raising
        :class:`BudgetExceeded` in its place. No-op without a time limit.
        """
        remaining = self.budget.remaining_seconds()
        if remaining is None:
            yield
            return
        loop = asyncio.get_running_loop()
        scope = asyncio.timeout_at(loop.time() + remaining)
        try:
            async with scope:
                yield
        except TimeoutError:
            if not scope.expired():
                raise
            raise self.budget.refuse(f"{self.budget.deadline_reason()} "
                                     "(deadline: the call was cancelled)") from None

    # -- models ------------------------------------------------------------------------------

    async def complete(self, request: ModelRequest, *, model: Model | None = None,
                       node_id: str | None = None, on_text: TextCallback | None = None,
                       ) -> ModelResponse:
        """Call a model under the run's budget, emitting events.

        Raises :class:`BudgetExceeded` when the call may not be sent (see the module docs).
        """
        model = model or self.model
        try:
            self.budget.check()
        except BudgetExceeded as exc:
            raise self._refusal(exc, node_id) from None
        self._calls += 1
        call_id = self._calls
        if self.events.active:
            self.events.emit(ModelCallStarted(node_id=node_id, model=model.name,
                                              purpose=request.purpose, call_id=call_id,
                                              request=request))
        if self.events.text_active and request.settings.n == 1:
            on_text = self._relay_text(on_text, node_id, call_id, request.purpose)
        ticket = _Ticket(self.budget)
        try:
            async with self.deadline():
                if not model.admits_at_dispatch:
                    await ticket.admit_up_front(model, request)
                with gated(ticket):
                    if on_text is None:
                        response = await model.request(request)
                    else:
                        response = await model.request_stream(request, on_text)
        except BaseException as exc:
            usage = _failure_usage(exc, ticket)
            ticket.settle(usage)
            if isinstance(exc, BudgetExceeded):
                self._refusal(exc, node_id)
            if self.events.active:
                self.events.emit(ModelCallFinished(
                    node_id=node_id, model=model.name, purpose=request.purpose,
                    call_id=call_id, usage=usage or Usage(),
                    error=f"{type(exc).__name__}: {exc}", response=_partial(exc)))
            raise
        ticket.settle(response.usage)
        for warning in response.warnings:
            _log.warning("%s (model %s, call %d%s)", warning, model.name, call_id,
                         f", node {node_id}" if node_id else "")
        if self.events.active:
            self.events.emit(ModelCallFinished(node_id=node_id, model=model.name,
                                               purpose=request.purpose, call_id=call_id,
                                               usage=response.usage, cached=response.cached,
                                               warnings=tuple(response.warnings),
                                               response=response))
        return response

    def _relay_text(self, inner: TextCallback | None, node_id: str | None, call_id: int,
                    purpose: str | None) -> TextCallback:
        """``inner`` (if any), then a :class:`ModelTextDelta` to the text subscribers."""
        events = self.events

        def relay(chunk: str) -> None:
            if inner is not None:
                inner(chunk)
            if chunk:
                events.emit_text(ModelTextDelta(node_id=node_id, call_id=call_id,
                                                purpose=purpose, text=chunk))

        return relay

    async def parse(self, request: ModelRequest, output_type: type[T], *,
                    model: Model | None = None, node_id: str | None = None) -> Parsed[T]:
        """Ask for a reply of ``output_type``; on an invalid reply, one repair turn with the
        validation error. Raises :class:`UnexpectedModelBehavior` if that fails too.
        """
        schema = output_schema_for(output_type)
        request = replace(request, output_schema=schema)
        responses: list[ModelResponse] = []
        for attempt in (1, 2):
            response = await self.complete(request, model=model, node_id=node_id)
            responses.append(response)
            try:
                return Parsed(value=parse_output(response.text, output_type), responses=responses)
            except OutputParseError as err:
                if attempt == 2:
                    raise UnexpectedModelBehavior(
                        f"model {(model or self.model).name!r} gave no valid "
                        f"{schema.name} after a repair turn: {err.feedback}",
                        body=response.text) from None
                request = replace(request, messages=request.messages
                                  + repair_messages(response.text, err, schema))
        raise AssertionError("unreachable")

    # -- tools -------------------------------------------------------------------------------

    async def call_tool(self, name: str, args: dict[str, Any], *,
                        node_id: str | None = None) -> Any:
        """Run a registered tool. Failures raise :class:`ToolError` subclasses whose message is
        fit to show the model; the run's deadline cancels the call (:class:`BudgetExceeded`).
        """
        tool = self.tools.get(name)
        try:
            self.budget.check()
        except BudgetExceeded as exc:
            raise self._refusal(exc, node_id) from None
        emit = self.events.active
        self._tool_calls += 1
        call_id = self._tool_calls
        if emit:
            self.events.emit(ToolCallStarted(node_id=node_id, tool=name, arguments=args,
                                             call_id=call_id))
        start = time.perf_counter()
        try:
            async with self.deadline():
                if tool.timeout_s is not None:
                    async with asyncio.timeout(tool.timeout_s):
                        result = await tool.call(args, self)
                else:
                    result = await tool.call(args, self)
        except BudgetExceeded as exc:
            self._refusal(exc, node_id)
            self._tool_failed(node_id, call_id, name, str(exc), start)
            raise
        except asyncio.CancelledError:
            self._tool_failed(node_id, call_id, name, "cancelled", start)  # closed, not dangling
            raise
        except ToolError as exc:
            self._tool_failed(node_id, call_id, name, str(exc), start)
            raise
        except ModelRetry as exc:
            self._tool_failed(node_id, call_id, name, exc.message, start)
            raise ToolArgumentError(exc.message, tool=name) from exc
        except TimeoutError:
            message = f"tool {name!r} timed out after {tool.timeout_s}s"
            self._tool_failed(node_id, call_id, name, message, start)
            raise ToolExecutionError(message, tool=name) from None
        except Exception as exc:
            message = f"tool {name!r} raised {type(exc).__name__}: {exc}"
            self._tool_failed(node_id, call_id, name, message, start)
            raise ToolExecutionError(message, tool=name) from exc
        if emit:
            self.events.emit(ToolCallFinished(node_id=node_id, tool=name,
                                              output=render_output(result)[:500],
                                              duration_s=time.perf_counter() - start,
                                              call_id=call_id, result=result))
        return result

    def _tool_failed(self, node_id: str | None, call_id: int, name: str, message: str,
                     start: float) -> None:
        if self.events.active:
            self.events.emit(ToolCallFinished(node_id=node_id, tool=name, error=message,
                                              duration_s=time.perf_counter() - start,
                                              call_id=call_id))


def _partial(exc: BaseException) -> ModelResponse | None:
    """What a failed call received before it failed (a stream cut short), for the trace."""
    partial = getattr(exc, "partial", None)
    return partial if isinstance(partial, ModelResponse) else None


def _failure_usage(exc: BaseException, ticket: _Ticket) -> Usage | None:
    """What a failed call is charged: the usage the model reported with the failure (a stream
    cut short keeps what it received), the sent prompt for a call cancelled at the provider
    (also at the deadline), else nothing.
    """
    partial = getattr(exc, "partial", None)
    if isinstance(partial, ModelResponse):
        return partial.usage
    if isinstance(exc, asyncio.CancelledError | BudgetExceeded):
        return _cancelled_usage(ticket)
    return None
