"""A content-addressed response cache (SQLite) and the model wrapper that uses it.

Wrap any model to make re-runs free and reproducible::

    from forethought.models.cache import CachedModel, ResponseCache
    from forethought.models.litellm_model import LiteLLMModel

    model = CachedModel(LiteLLMModel("openai/gpt-4o-mini"), ResponseCache())

The key of a response is the SHA-256 of a canonical JSON document holding the model's identity
(:meth:`Model.cache_identity`: the model string, and for LiteLLM models the ``api_base`` and
the provider options, so two servers answering to one name never share replies), everything
in the request that determines the reply (:meth:`ModelRequest.cache_payload`, with the model's
default settings applied) and a *sample slot*. By default only deterministic calls
(temperature 0) are cached. With ``mode="always"`` sampled calls are cached too, and the slot
keeps independent samples independent: the k-th identical request in a process gets slot k,
so best-of-N still sees N different answers, and running the whole program again replays the
same N answers.

A hit costs nothing: its :class:`Usage` is all zeros (no tokens, cost, latency or provider
call), so budgets and reports show real spend only, and the response has ``cached=True`` (the
run context's ``ModelCallFinished`` event carries the flag too, for counting hits).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from forethought._paths import forethought_home
from forethought.exceptions import UserError
from forethought.models.base import Model, TextCallback
from forethought.models.messages import ModelRequest, ModelResponse, Usage

CacheMode = Literal["temperature0", "always"]

_KEY_VERSION = 2
"""Bump when the key derivation changes, so old entries are no longer found."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


@dataclass(kw_only=True, frozen=True)
class CacheStats:
    """Lookups made through one :class:`ResponseCache` object."""

    hits: int
    misses: int


def cache_key(model: str | dict[str, Any], request: ModelRequest, sample_slot: int = 0) -> str:
    """The content address of the reply to ``request`` in ``sample_slot`` by the model that
    ``model`` identifies (its :meth:`~Model.cache_identity`, or just its name).
    """
    identity = {"model": model} if isinstance(model, str) else model
    document = {"v": _KEY_VERSION, "model": identity, "request": request.cache_payload(),
                "slot": sample_slot}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    """Model responses in a SQLite file, addressed by :func:`cache_key`.

    Args:
        path: The database file; default ``forethought_home() / "cache.sqlite"``.

    One connection per object, shared by threads under a lock; WAL mode lets several
    processes read and write the same file. Use as a context manager or call :meth:`close`
    (it is also closed when garbage collected).
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else forethought_home() / "cache.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                     timeout=30.0)
        self._finalizer = weakref.finalize(self, self._conn.close)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)

    def get(self, key: str) -> ModelResponse | None:
        """The stored response for ``key`` (exactly as stored: not marked cached), or ``None``."""
        with self._lock:
            row = self._conn.execute("SELECT response FROM responses WHERE key = ?",
                                     (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return ModelResponse.from_json(str(row[0]))

    def put(self, key: str, response: ModelResponse) -> None:
        """Store ``response`` under ``key``, replacing what was there."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, model, response, created_at) "
                "VALUES (?, ?, ?, ?)", (key, response.model, response.to_json(), time.time()))

    def clear(self) -> None:
        """Delete every stored response."""
        with self._lock:
            self._conn.execute("DELETE FROM responses")

    def __len__(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(row[0])

    @property
    def stats(self) -> CacheStats:
        return CacheStats(hits=self.hits, misses=self.misses)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"


@runtime_checkable
class _ResolvesDefaults(Protocol):
    """A model with default settings of its own (e.g. :class:`LiteLLMModel`)."""

    def resolve_request(self, request: ModelRequest) -> ModelRequest: ...


class CachedModel(Model):
    """Answers from a :class:`ResponseCache` when it can, else asks ``inner`` and stores the reply.

    Args:
        inner: Any model. (``Model.cacheable`` tells automatic wiring whether wrapping a model
            is worthwhile; an explicit wrapper caches whatever it wraps.)
        cache: Where replies are kept; default a :class:`ResponseCache` at the default path.
        mode: ``"temperature0"`` caches only calls with temperature 0 (their samples are all
            the same anyway, whatever ``n``); other calls pass through. ``"always"`` caches
            sampled calls too, the k-th identical sampled request of this object in slot k.

    Failed calls are never stored. Hits come back with ``cached=True`` and a zero
    :class:`Usage`; a streamed hit delivers its text as one chunk.
    """

    cacheable = False  # already cached: wrapping again would only add lookups

    def __init__(self, inner: Model, cache: ResponseCache | None = None,
                 mode: CacheMode = "temperature0") -> None:
        if mode not in ("temperature0", "always"):
            raise UserError(f"unknown cache mode {mode!r}; valid modes: 'temperature0', 'always'")
        self.inner = inner
        self.name = inner.name
        self.admits_at_dispatch = inner.admits_at_dispatch
        self.max_output_tokens = inner.max_output_tokens
        self.cache = cache if cache is not None else ResponseCache()
        self.mode: CacheMode = mode
        self._slots: dict[str, int] = {}
        self._slots_lock = threading.Lock()

    def key_for(self, request: ModelRequest) -> str | None:
        """The key this call is looked up under, or ``None`` if it passes through uncached.

        In ``"always"`` mode each call of a sampled request takes the next slot, so this is
        not idempotent: call it once per request.
        """
        if isinstance(self.inner, _ResolvesDefaults):
            request = self.inner.resolve_request(request)
        identity = self.inner.cache_identity()
        temperature = request.settings.temperature
        if temperature == 0:
            return cache_key(identity, request, 0)
        if self.mode == "temperature0":
            return None
        base = cache_key(identity, request, -1)
        with self._slots_lock:
            slot = self._slots.get(base, 0)
            self._slots[base] = slot + 1
        return cache_key(identity, request, slot)

    def _hit(self, key: str) -> ModelResponse | None:
        stored = self.cache.get(key)
        if stored is None:
            return None
        return replace(stored, usage=Usage(), cached=True)

    async def request(self, request: ModelRequest) -> ModelResponse:
        key = self.key_for(request)
        if key is None:
            return await self.inner.request(request)
        if (hit := self._hit(key)) is not None:
            return hit
        response = await self.inner.request(request)
        self.cache.put(key, response)
        return response

    async def request_stream(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        key = self.key_for(request)
        if key is None:
            return await self.inner.request_stream(request, on_text)
        if (hit := self._hit(key)) is not None:
            if hit.text:
                on_text(hit.text)
            return hit
        response = await self.inner.request_stream(request, on_text)
        self.cache.put(key, response)
        return response

    # The budget and life cycle are the inner model's: a hit costs nothing and sends nothing.

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        return self.inner.count_prompt_tokens(request)

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        return self.inner.price(prompt_tokens, completion_tokens)

    def worst_case(self, request: ModelRequest) -> Usage:
        return self.inner.worst_case(request)

    def warm_up(self) -> None:
        self.inner.warm_up()

    async def prepare(self) -> None:
        await self.inner.prepare()

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    def cache_identity(self) -> dict[str, Any]:
        return self.inner.cache_identity()

    def __repr__(self) -> str:
        return f"CachedModel({self.inner!r}, mode={self.mode!r})"
