"""The run context: the one object through which strategies, planners and tools reach models
and tools, so that every call is budgeted, observed and recorded.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from forethought.exceptions import (
    BudgetExceeded,
    ModelRetry,
    ToolArgumentError,
    ToolError,
    ToolExecutionError,
    UnexpectedModelBehavior,
)
from forethought.models.base import Model, TextCallback
from forethought.models.messages import ModelRequest, ModelResponse, Usage
from forethought.models.structured import (
    OutputParseError,
    output_schema_for,
    parse_output,
    repair_messages,
)
from forethought.runtime.budget import BudgetTracker
from forethought.runtime.events import (
    BudgetExhausted,
    EventBus,
    ModelCallFinished,
    ModelCallStarted,
    ToolCallFinished,
    ToolCallStarted,
)
from forethought.tools.base import ToolRegistry, render_output

T = TypeVar("T")


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


@dataclass(kw_only=True)
class RunContext:
    """Shared by everything in one run. Pass it along; never build a second one per step."""

    model: Model
    """The default model."""
    tools: ToolRegistry = field(default_factory=ToolRegistry)
    budget: BudgetTracker = field(default_factory=BudgetTracker)
    events: EventBus = field(default_factory=EventBus)
    run_id: str = ""
    deps: Any = None
    """User dependencies made available to tools (database handles, clients, ...)."""
    _calls: int = 0

    def __post_init__(self) -> None:
        if not self.events.run_id:
            self.events.run_id = self.run_id

    async def complete(self, request: ModelRequest, *, model: Model | None = None,
                       node_id: str | None = None, on_text: TextCallback | None = None,
                       ) -> ModelResponse:
        """Call a model under the run's budget, emitting events.

        Raises :class:`BudgetExceeded` before the call when the budget is spent.
        """
        model = model or self.model
        try:
            self.budget.reserve()
        except BudgetExceeded as exc:
            if self.events.active:
                self.events.emit(BudgetExhausted(node_id=node_id, reason=exc.reason,
                                                 spent=replace(self.budget.spent)))
            raise
        self._calls += 1
        call_id = self._calls
        emit = self.events.active
        if emit:
            self.events.emit(ModelCallStarted(node_id=node_id, model=model.name,
                                              purpose=request.purpose, call_id=call_id))
        response: ModelResponse | None = None
        try:
            if on_text is None:
                response = await model.request(request)
            else:
                response = await model.request_stream(request, on_text)
        except BaseException as exc:
            self.budget.settle(None)
            if self.events.active:
                self.events.emit(ModelCallFinished(node_id=node_id, model=model.name,
                                                   purpose=request.purpose, call_id=call_id,
                                                   error=f"{type(exc).__name__}: {exc}"))
            raise
        self.budget.settle(response.usage)
        if emit:
            self.events.emit(ModelCallFinished(node_id=node_id, model=model.name,
                                               purpose=request.purpose, call_id=call_id,
                                               usage=response.usage, cached=response.cached))
        return response

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

    async def call_tool(self, name: str, args: dict[str, Any], *,
                        node_id: str | None = None) -> Any:
        """Run a registered tool. Failures raise :class:`ToolError` subclasses whose message is
        fit to show the model.
        """
        tool = self.tools.get(name)
        emit = self.events.active
        if emit:
            self.events.emit(ToolCallStarted(node_id=node_id, tool=name, arguments=args))
        start = time.perf_counter()
        try:
            if tool.timeout_s is not None:
                async with asyncio.timeout(tool.timeout_s):
                    result = await tool.call(args, self)
            else:
                result = await tool.call(args, self)
        except ToolError as exc:
            self._tool_failed(node_id, name, str(exc), start)
            raise
        except ModelRetry as exc:
            self._tool_failed(node_id, name, exc.message, start)
            raise ToolArgumentError(exc.message, tool=name) from exc
        except TimeoutError:
            message = f"tool {name!r} timed out after {tool.timeout_s}s"
            self._tool_failed(node_id, name, message, start)
            raise ToolExecutionError(message, tool=name) from None
        except Exception as exc:
            message = f"tool {name!r} raised {type(exc).__name__}: {exc}"
            self._tool_failed(node_id, name, message, start)
            raise ToolExecutionError(message, tool=name) from exc
        if emit:
            self.events.emit(ToolCallFinished(node_id=node_id, tool=name,
                                              output=render_output(result)[:500],
                                              duration_s=time.perf_counter() - start))
        return result

    def _tool_failed(self, node_id: str | None, name: str, message: str, start: float) -> None:
        if self.events.active:
            self.events.emit(ToolCallFinished(node_id=node_id, tool=name, error=message,
                                              duration_s=time.perf_counter() - start))
