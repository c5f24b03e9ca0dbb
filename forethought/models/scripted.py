"""ScriptedModel: replies from a list or a function, for tests and examples."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

from forethought.exceptions import UserError
from forethought.models.base import Model, TextCallback
from forethought.models.messages import Choice, ModelRequest, ModelResponse, ToolCall, Usage

Reply: TypeAlias = str | Choice | BaseException
"""One sample: text, a full :class:`Choice` (e.g. with tool calls) or an exception to raise."""
ScriptFunction: TypeAlias = Callable[[ModelRequest], Reply | Awaitable[Reply]]


def _tokens(chars: int) -> int:
    # About four characters per token in English; good enough for budgets in tests.
    return max(1, chars // 4)


class ScriptedModel(Model):
    """Answers from a script: a list of replies consumed in order, or a function of the request.

    For ``n`` samples the script is consulted ``n`` times. Every request is recorded in
    :attr:`requests`. ``delay_s`` simulates latency; streamed replies arrive line by line.
    """

    def __init__(self, script: Sequence[Reply] | ScriptFunction, *, name: str = "scripted",
                 delay_s: float = 0.0, chunk_delay_s: float = 0.0) -> None:
        self.name = name
        self.delay_s = delay_s
        self.chunk_delay_s = chunk_delay_s
        self._function: ScriptFunction | None = None
        self._replies: list[Reply] = []
        if callable(script):
            self._function = script
        else:
            self._replies = list(script)
        self._next = 0
        self.requests: list[ModelRequest] = []

    @staticmethod
    def tool_call(name: str, arguments: str, *, id: str = "call_0") -> Choice:
        """A reply that calls a tool."""
        return Choice(text="", tool_calls=(ToolCall(id=id, name=name, arguments=arguments),),
                      finish_reason="tool_calls")

    async def _sample(self, request: ModelRequest) -> Choice:
        if self._function is not None:
            reply = self._function(request)
            if inspect.isawaitable(reply):
                reply = await reply
        else:
            if self._next >= len(self._replies):
                raise UserError(f"ScriptedModel {self.name!r} ran out of replies after "
                                f"{len(self._replies)} (request purpose {request.purpose!r})")
            reply = self._replies[self._next]
            self._next += 1
        if isinstance(reply, BaseException):
            raise reply
        return reply if isinstance(reply, Choice) else Choice(text=reply, finish_reason="stop")

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        start = time.perf_counter()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        choices = [await self._sample(request) for _ in range(max(1, request.settings.n))]
        usage = Usage(prompt_tokens=_tokens(request.prompt_chars()),
                      completion_tokens=sum(_tokens(len(c.text)) for c in choices),
                      latency_s=time.perf_counter() - start, model_calls=1)
        return ModelResponse(choices=choices, usage=usage, model=self.name)

    async def request_stream(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        response = await self.request(request)
        for line in response.text.splitlines(keepends=True):
            on_text(line)
            # Let dispatched work run between chunks, as it does while a real stream arrives.
            await asyncio.sleep(self.chunk_delay_s)
        return response
