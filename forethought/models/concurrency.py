"""How many requests a model may have in flight: a fixed limit, or one that adapts.

A provider's capacity is not known in advance and changes: a fixed limit is either too low
(8 requests in flight behind a server that takes 64 leaves seven eighths of it idle) or too
high (a burst of 429s, each retried after a backoff). :class:`AdaptiveLimit` finds it:

- **slow start**: the limit doubles after each window of successful calls, until the first
  sign of overload (a 429, a timeout, or latency well above the best seen);
- **additive increase**: then it grows by one per window of ``limit`` successful calls while
  latency stays flat;
- **only when used**: a window in which the calls in flight never reached the limit (demand
  was below it) does not grow it, or an idle tail would inflate it (as TCP validates its
  congestion window);
- **multiplicative decrease**: on overload it shrinks by ``backoff`` (0.9, as Netflix's
  concurrency-limits AIMD), at most once per window, so a burst of 429s from one overshoot
  counts once.

The limit always stays within ``[min_limit, max_limit]``. Limits are keyed by model and
endpoint and shared by every run in the process (:func:`shared_limit`): two agents calling the
same server learn one limit. Waiting happens per event loop.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from forethought.exceptions import UserError

Signal = Literal["ok", "overload", "error"]
"""What one attempt told the limiter: success, overload (429, timeout) or another failure."""


class ConcurrencyLimit(Protocol):
    """Gives out slots for requests in flight and learns from how they went."""

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Wait for a free slot; hold it for the block."""
        ...

    def record(self, signal: Signal, latency_s: float) -> None:
        """Learn from one attempt."""
        ...

    def acquired(self, in_flight: int) -> None:
        """A slot was taken; ``in_flight`` calls now hold one (on this event loop)."""
        ...

    @property
    def limit(self) -> int: ...


class _Gate:
    """Slots on one event loop: at most ``limit`` in flight; waiters woken in order."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def wake(self, limit: int) -> None:
        """Wake as many waiters as there are free slots (each re-checks when it runs)."""
        free = limit - self.in_flight
        for waiter in self.waiters:
            if free <= 0:
                break
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


class _LoopGates:
    """One :class:`_Gate` per event loop (asyncio primitives belong to one loop)."""

    def __init__(self) -> None:
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self) -> _Gate:
        loop = asyncio.get_running_loop()
        with self._lock:
            gate = self._gates.get(loop)
            if gate is None:
                gate = self._gates[loop] = _Gate()
            return gate

    def wake(self, limit: int) -> None:
        """After the limit grew: wake waiters on the running loop, if any."""
        try:
            gate = self.get()
        except RuntimeError:  # recorded outside an event loop: nobody is waiting here
            return
        gate.wake(limit)

    @asynccontextmanager
    async def slot(self, limit: ConcurrencyLimit) -> AsyncGenerator[None]:
        gate = self.get()
        while gate.in_flight >= limit.limit:
            waiter = asyncio.get_running_loop().create_future()
            gate.waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    gate.wake(limit.limit)  # woken, then cancelled: pass the wake-up on
                raise
            finally:
                gate.waiters.remove(waiter)
        gate.in_flight += 1
        limit.acquired(gate.in_flight)
        try:
            yield
        finally:
            gate.in_flight -= 1
            gate.wake(limit.limit)


class FixedLimit:
    """At most ``limit`` requests in flight (per event loop)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise UserError(f"a concurrency limit must be >= 1, got {limit!r}")
        self._limit = limit
        self._gates = _LoopGates()

    @property
    def limit(self) -> int:
        return self._limit

    def slot(self) -> AbstractAsyncContextManager[None]:
        return self._gates.slot(self)

    def record(self, signal: Signal, latency_s: float) -> None:
        del signal, latency_s  # a fixed limit learns nothing

    def acquired(self, in_flight: int) -> None:
        del in_flight

    def __repr__(self) -> str:
        return f"FixedLimit({self._limit})"


@dataclass(kw_only=True)
class AdaptiveLimit:
    """A limit that grows while the provider keeps up and shrinks when it pushes back (see
    the module docs). Thread-safe; waiting is per event loop.
    """

    initial: int = 8
    min_limit: int = 1
    max_limit: int = 256
    backoff: float = 0.9
    """Factor applied on overload."""
    latency_tolerance: float = 2.0
    """A window whose mean latency exceeds this many times the best window's is overload."""
    clock: Callable[[], float] = time.monotonic
    _value: float = 0.0
    _slow_start: bool = True
    _window_ok: int = 0
    _window_latency: float = 0.0
    _best_latency: float | None = None
    _overloaded_in_window: bool = False
    _window_peak: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _gates: _LoopGates = field(default_factory=_LoopGates)
    history: list[tuple[float, int]] = field(default_factory=list[tuple[float, int]])
    """``(time, limit)`` at each change, for reports and tests."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_limit <= self.initial <= self.max_limit:
            raise UserError(f"need 1 <= min_limit <= initial <= max_limit, got "
                            f"{self.min_limit}, {self.initial}, {self.max_limit}")
        if not 0 < self.backoff < 1:
            raise UserError(f"backoff must be in (0, 1), got {self.backoff!r}")
        self._value = float(self.initial)

    @property
    def limit(self) -> int:
        return int(self._value)

    def slot(self) -> AbstractAsyncContextManager[None]:
        return self._gates.slot(self)

    def acquired(self, in_flight: int) -> None:
        with self._lock:
            self._window_peak = max(self._window_peak, in_flight)

    def record(self, signal: Signal, latency_s: float) -> None:
        grew = False
        with self._lock:
            if signal == "overload":
                self._decrease()
            elif signal == "ok":
                self._window_ok += 1
                self._window_latency += latency_s
                if self._window_ok >= max(1, self.limit):
                    grew = self._close_window()
        if grew:
            self._gates.wake(self.limit)

    def _close_window(self) -> bool:
        mean = self._window_latency / self._window_ok
        overloaded = self._overloaded_in_window
        used = self._window_peak >= self.limit
        self._window_ok, self._window_latency, self._overloaded_in_window = 0, 0.0, False
        self._window_peak = 0
        if self._best_latency is None or mean < self._best_latency:
            self._best_latency = mean
        if overloaded:
            return False
        if mean > self.latency_tolerance * self._best_latency:
            self._decrease()
            return False
        if not used:
            return False
        before = self.limit
        self._value = min(float(self.max_limit),
                          self._value * 2 if self._slow_start else self._value + 1)
        self._changed(before)
        return self.limit > before

    def _decrease(self) -> None:
        self._slow_start = False
        if self._overloaded_in_window:
            return  # one overshoot, however many 429s it caused, counts once
        self._overloaded_in_window = True
        before = self.limit
        self._value = max(float(self.min_limit), self._value * self.backoff)
        self._changed(before)

    def _changed(self, before: int) -> None:
        if self.limit != before:
            self.history.append((self.clock(), self.limit))


_SHARED: dict[tuple[str, str | None], AdaptiveLimit] = {}
_SHARED_LOCK = threading.Lock()


def shared_limit(model: str, api_base: str | None, **options: int | float) -> AdaptiveLimit:
    """The adaptive limit of ``model`` at ``api_base`` in this process (created with
    ``options`` the first time).
    """
    key = (model, api_base)
    with _SHARED_LOCK:
        limit = _SHARED.get(key)
        if limit is None:
            limit = _SHARED[key] = AdaptiveLimit(**options)  # type: ignore[arg-type]
        return limit
