"""The one extension point every model implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from forethought.models.messages import ModelRequest, ModelResponse

TextCallback = Callable[[str], None]
"""Receives each chunk of streamed text as it arrives."""


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

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
