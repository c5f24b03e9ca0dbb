"""The one extension point every model implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Self

from forethought.models.messages import ModelRequest, ModelResponse, Usage

TextCallback = Callable[[str], None]
"""Receives each chunk of streamed text as it arrives."""

DEFAULT_COMPLETION_CEILING = 4096
"""Completion tokens a call is assumed to use at most when neither the request
(``max_tokens``) nor the model (:attr:`Model.max_output_tokens`) says: the worst case the
budget reserves for it. Set ``max_tokens`` for tighter reservations near a cap."""


class Model(ABC):
    """A chat model. Subclasses implement :meth:`request`; streaming is optional.

    Models are called through a :class:`~forethought.runtime.RunContext` (which enforces the
    budget and emits events), never directly by planners or strategies.
    """

    name: str
    """Identifies the model in events, caches and usage reports."""

    cacheable: bool = False
    """Whether responses may be stored in the response cache (real providers: yes; offline
    models are free and deterministic already)."""

    admits_at_dispatch: bool = False
    """Whether the model calls :func:`forethought.models.admission.dispatching` itself when it
    sends a request. Models that queue requests (a concurrency limit) must, so that the budget
    sees the call when it leaves the queue; for the others the run context admits the call
    right before calling :meth:`request`."""

    max_output_tokens: int | None = None
    """The most completion tokens one sample can have, when known (the budget's worst case)."""

    @abstractmethod
    async def request(self, request: ModelRequest) -> ModelResponse:
        """Complete ``request`` and return every sample with its usage."""

    async def request_stream(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        """Like :meth:`request`, calling ``on_text`` with each text chunk of the first sample as
        it arrives. The default makes one call and delivers the text as one chunk.
        """
        response = await self.request(request)
        if response.text:
            on_text(response.text)
        return response

    # -- what the budget needs to know before a call ---------------------------------------

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        """Prompt tokens ``request`` will be billed for. The default counts four characters
        per token, as the offline models bill; real models use their tokenizer.
        """
        return max(1, request.prompt_chars() // 4)

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Dollars for a call of this size (0.0 for models without a price)."""
        return 0.0

    def worst_case(self, request: ModelRequest) -> Usage:
        """The most ``request`` can cost: its prompt plus ``max_tokens`` per sample (or
        :attr:`max_output_tokens`, or :data:`DEFAULT_COMPLETION_CEILING`), priced.
        """
        ceiling = request.settings.max_tokens or self.max_output_tokens \
            or DEFAULT_COMPLETION_CEILING
        prompt = self.count_prompt_tokens(request)
        completion = ceiling * max(1, request.settings.n)
        return Usage(prompt_tokens=prompt, completion_tokens=completion,
                     cost_usd=self.price(prompt, completion), model_calls=1)

    # -- life cycle --------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Start any slow one-time set-up in the background (never blocking the caller).

        Called when an :class:`~forethought.Agent` is built; the default has nothing to do.
        """
        return None

    async def prepare(self) -> None:
        """Finish the set-up :meth:`warm_up` started, without blocking the event loop.

        Runs before a run's clock starts, so set-up never counts against ``max_seconds``.
        """
        return None

    async def start(self) -> None:
        """Acquire what the model runs on (a local server process). An
        :class:`~forethought.Agent` calls it when it starts its toolsets and :meth:`stop` when
        it stops them; outside an agent, ``async with model:`` does both. The default has
        nothing to start.
        """
        return None

    async def stop(self) -> None:
        """Release what :meth:`start` acquired; safe to call twice and without a start."""
        return None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def cache_identity(self) -> dict[str, Any]:
        """What, besides the request, determines this model's replies (the response cache
        keys on it): the model string, and for remote models the endpoint.
        """
        return {"model": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
