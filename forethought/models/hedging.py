"""Hedged requests: when a call runs past the usual latency, send a duplicate; first wins.

Provider latency has a long tail: most calls finish near the median, a few take many times
longer, and a search step that waits for all of its calls waits for the slowest. A hedge
(Dean and Barroso, "The Tail at Scale", CACM 2013) sends a second copy of a call that has run
past the ``percentile`` of recent latencies and keeps whichever finishes first; the other is
cancelled.

Both copies go through the run's budget: the duplicate is admitted at dispatch like any call,
and when it does not fit the call simply keeps waiting for the first copy, so hedging never
spends beyond a cap. The loser, cancelled at the provider, is charged its prompt tokens (the
provider read them), added to the winner's usage: ``model_calls`` is 2 for a hedged call.
"""

from __future__ import annotations

import asyncio
import collections
import math
from dataclasses import replace

from forethought.exceptions import BudgetExceeded, UserError
from forethought.models.admission import Gate, current_gate, dispatching, gated
from forethought.models.base import Model, ModelWrapper, TextCallback
from forethought.models.messages import ModelRequest, ModelResponse, Usage


class _Counting:
    """A gate that notes whether the duplicate was really sent, then admits as ``outer``."""

    def __init__(self, outer: Gate | None) -> None:
        self.outer = outer
        self.sent = False

    async def admit(self, model: Model, request: ModelRequest) -> None:
        if self.outer is not None:
            await self.outer.admit(model, request)
        self.sent = True


class HedgedModel(ModelWrapper):
    """Wraps ``inner``; a call still running after the ``percentile`` of the last ``window``
    latencies gets a duplicate, and the first to finish wins.

    Args:
        inner: The model to call (its concurrency limit and retries apply to both copies).
        percentile: Of recent latencies, in ``(0, 1)``: 0.95 hedges the slowest 5%.
        min_samples: Latencies to observe before hedging anything.
        window: Recent latencies kept.
    """

    # Each copy is admitted when it is sent: by the inner model if it admits itself, else
    # here, right before calling it.
    admits_at_dispatch = True

    def __init__(self, inner: Model, *, percentile: float = 0.95, min_samples: int = 20,
                 window: int = 200) -> None:
        if not 0 < percentile < 1:
            raise UserError(f"percentile must be in (0, 1), got {percentile!r}")
        if min_samples < 1 or window < min_samples:
            raise UserError(f"need 1 <= min_samples <= window, got {min_samples}, {window}")
        super().__init__(inner)  # the budget and life cycle are the inner model's
        self.cacheable = inner.cacheable
        self.percentile = percentile
        self.min_samples = min_samples
        self._latencies: collections.deque[float] = collections.deque(maxlen=window)
        self.stats: collections.Counter[str] = collections.Counter()
        """``calls``, ``hedged`` (duplicates sent), ``hedge_won``, ``hedge_refused``."""

    def hedge_after(self) -> float | None:
        """Seconds after which a call is hedged now; ``None`` until enough calls were seen."""
        if len(self._latencies) < self.min_samples:
            return None
        ordered = sorted(self._latencies)
        return ordered[min(len(ordered) - 1, math.ceil(self.percentile * len(ordered)) - 1)]

    async def _call(self, request: ModelRequest) -> ModelResponse:
        if not self.inner.admits_at_dispatch:
            await dispatching(self.inner, request)
        return await self.inner.request(request)

    async def request_stream(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        # Two streams cannot share one callback; a streamed call is never hedged.
        self.stats["calls"] += 1
        if not self.inner.admits_at_dispatch:
            await dispatching(self.inner, request)
        return await self.inner.request_stream(request, on_text)

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.stats["calls"] += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = self.hedge_after()
        first = asyncio.ensure_future(self._call(request))
        if delay is None:
            response = await first
            self._latencies.append(loop.time() - started)
            return response
        done, _ = await asyncio.wait({first}, timeout=delay)
        if done:
            self._latencies.append(loop.time() - started)
            return first.result()
        gate = _Counting(current_gate())

        async def duplicate() -> ModelResponse:
            with gated(gate):
                return await self._call(request)

        second = asyncio.ensure_future(duplicate())
        try:
            return await self._first_success(first, second, gate, request)
        finally:
            for task in (first, second):
                if not task.done():
                    task.cancel()
            await asyncio.gather(first, second, return_exceptions=True)

    async def _first_success(self, first: asyncio.Future[ModelResponse],
                             second: asyncio.Future[ModelResponse], gate: _Counting,
                             request: ModelRequest) -> ModelResponse:
        pending = {first, second}
        error: BaseException | None = None
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is None:
                    return self._settle(task.result(), winner_is_hedge=task is second,
                                        other=first if task is second else second, gate=gate,
                                        request=request)
                if task is second and isinstance(exc, BudgetExceeded):
                    self.stats["hedge_refused"] += 1  # no room for a duplicate: wait on
                elif task is first or error is None:
                    error = exc
        assert error is not None
        raise error

    def _settle(self, response: ModelResponse, *, winner_is_hedge: bool,
                other: asyncio.Future[ModelResponse], gate: _Counting, request: ModelRequest
                ) -> ModelResponse:
        if gate.sent:
            self.stats["hedged"] += 1
        if winner_is_hedge:
            self.stats["hedge_won"] += 1
        if other.done() and not other.cancelled():
            if other.exception() is None:  # both copies finished: both are paid in full
                return replace(response, usage=response.usage + other.result().usage)
            return response  # the other failed: providers do not bill failed calls
        # The loser is cancelled at the provider if it was sent (the first copy always was,
        # the duplicate once admitted): charge the prompt it read.
        if not (gate.sent if not winner_is_hedge else True):
            return response
        prompt = self.inner.count_prompt_tokens(request)
        extra = Usage(prompt_tokens=prompt, cost_usd=self.inner.price(prompt, 0), model_calls=1)
        return replace(response, usage=response.usage + extra)

    def __repr__(self) -> str:
        return f"HedgedModel({self.inner!r}, percentile={self.percentile})"
