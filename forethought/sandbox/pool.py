"""A warm pool of sandbox workers, so that a call does not pay a cold start.

Workers are started ahead of time and handed out one call at a time. After a call the worker
has already cleaned up (every leftover process killed, its writable directories emptied,
checked); it goes back to the pool only if it reported itself clean and has served fewer than
``max_uses`` calls, otherwise it is killed and replaced in the background. Every job runs in
a process forked from a zygote that never saw an earlier job's data, so no state carries
over from one caller to the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from forethought.exceptions import SandboxError, UserError
from forethought.sandbox.worker import Worker


@dataclass(kw_only=True, frozen=True)
class PoolConfig:
    """How many workers to keep warm and for how long."""

    size: int = 2
    """Idle workers kept ready (0: start one per call)."""
    max_workers: int = 8
    """Live workers at most, busy and idle together; callers beyond it wait."""
    max_idle_s: float = 300.0
    """Idle workers unused for this long are stopped (the pool refills on the next call)."""
    max_uses: int = 200
    """Calls a worker serves before it is replaced."""
    start_timeout_s: float = 60.0
    """Seconds a worker may take to start."""

    def __post_init__(self) -> None:
        if self.size < 0 or self.max_workers < 1 or self.size > self.max_workers:
            raise UserError(f"pool size={self.size!r}, max_workers={self.max_workers!r}: need "
                            f"0 <= size <= max_workers and max_workers >= 1")
        if self.max_uses < 1 or self.max_idle_s <= 0 or self.start_timeout_s <= 0:
            raise UserError(f"pool max_uses={self.max_uses!r}, max_idle_s={self.max_idle_s!r}, "
                            f"start_timeout_s={self.start_timeout_s!r} must be positive")


class WarmPool:
    """Hands out warm workers made by ``factory``; see the module docstring."""

    def __init__(self, factory: Callable[[], Awaitable[Worker]], config: PoolConfig) -> None:
        self._factory = factory
        self.config = config
        self._idle: list[Worker] = []
        self._live = 0
        self._starting = 0
        self._cond = asyncio.Condition()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._closed = False
        self._dormant = False
        self._janitor: asyncio.Task[None] | None = None
        self.last_error: BaseException | None = None
        self.started = 0
        """Workers started over the pool's life (for tests and benchmarks)."""

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def live(self) -> int:
        return self._live

    async def start(self) -> None:
        """Start ``size`` workers and wait until they are ready (or the first one fails)."""
        self._check_open()
        if self._janitor is None:
            self._janitor = asyncio.create_task(self._retire_idle())
        need = self.config.size - len(self._idle) - self._starting
        results = await asyncio.gather(*(self._spawn() for _ in range(max(0, need))),
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def acquire(self) -> Worker:
        """A warm worker for one call; give it back with :meth:`release`."""
        self._check_open()
        if self._janitor is None:
            self._janitor = asyncio.create_task(self._retire_idle())
        self._dormant = False
        while True:
            async with self._cond:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        self._refill()
                        return worker
                    self._live -= 1
                if self._live < self.config.max_workers:
                    self._live += 1
                    cold = True
                else:
                    cold = False
                    await self._cond.wait()
                    self._check_open()
            if cold:
                try:
                    worker = await self._make()
                except BaseException:
                    async with self._cond:
                        self._live -= 1
                        self._cond.notify()
                    raise
                self._refill()
                return worker

    async def release(self, worker: Worker, *, reusable: bool) -> None:
        """Return ``worker`` after a call; it is reused only if ``reusable`` and healthy."""
        worker.uses += 1
        keep = (reusable and worker.alive and not self._closed
                and worker.uses < self.config.max_uses)
        if not keep:
            await self.discard(worker)
            return
        async with self._cond:
            self._idle.append(worker)
            self._cond.notify()

    async def discard(self, worker: Worker) -> None:
        """Stop ``worker`` (in the background) and start a replacement if one is needed."""
        self._background(self._stop(worker))
        async with self._cond:
            self._live -= 1
            self._cond.notify()
        self._refill()

    async def aclose(self) -> None:
        """Stop the idle workers and those still starting; a busy worker is stopped when its
        call gives it back. The pool cannot be used afterwards.
        """
        if self._closed:
            return
        self._closed = True
        if self._janitor is not None:
            self._janitor.cancel()
        idle, self._idle = self._idle, []
        self._live -= len(idle)
        await asyncio.gather(*(self._stop(w) for w in idle), return_exceptions=True)
        # Workers still starting are waited for (then stopped by _spawn), not cancelled:
        # a start cut short could leave a container nobody knows about.
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=self.config.start_timeout_s + 10)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        async with self._cond:
            self._cond.notify_all()

    # -- internals ---------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("the sandbox was closed; create a new one")

    async def _make(self) -> Worker:
        # Shielded: if the caller is cancelled mid-start, the worker still finishes starting
        # and is then stopped, instead of being lost half-made.
        task = asyncio.ensure_future(self._factory())
        self._tasks.add(task)  # pyright: ignore[reportArgumentType]
        task.add_done_callback(self._tasks.discard)  # pyright: ignore[reportArgumentType]
        try:
            worker = await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(self._stop_when_done)
            raise
        self.started += 1
        return worker

    def _stop_when_done(self, task: asyncio.Future[Worker]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._background(self._stop(task.result()))

    async def _spawn(self) -> None:
        async with self._cond:
            if self._live >= self.config.max_workers:
                return
            self._live += 1
            self._starting += 1
        try:
            worker = await self._make()
        except BaseException as exc:
            self.last_error = exc
            async with self._cond:
                self._live -= 1
                self._starting -= 1
                self._cond.notify()
            raise
        async with self._cond:
            self._starting -= 1
            if self._closed:
                self._live -= 1
            else:
                self._idle.append(worker)
                self._cond.notify()
                return
        await self._stop(worker)

    def _refill(self) -> None:
        if self._closed or self._dormant:
            return
        missing = self.config.size - len(self._idle) - self._starting
        room = self.config.max_workers - self._live
        for _ in range(max(0, min(missing, room))):
            self._background(self._spawn_quietly())

    async def _spawn_quietly(self) -> None:
        with contextlib.suppress(Exception):  # kept in last_error; a caller retries cold
            await self._spawn()

    def _background(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _stop(worker: Worker) -> None:
        with contextlib.suppress(Exception):
            await worker.close()
            await worker.kill()

    async def _retire_idle(self) -> None:
        while not self._closed:
            await asyncio.sleep(min(5.0, self.config.max_idle_s / 2))
            now = time.monotonic()
            stale = [w for w in self._idle if now - w.last_used > self.config.max_idle_s]
            if not stale:
                continue
            async with self._cond:
                self._idle = [w for w in self._idle if w not in stale]
                self._live -= len(stale)
                self._dormant = not self._idle
            for w in stale:
                self._background(self._stop(w))
