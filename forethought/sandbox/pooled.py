"""What every backend shares: calls and sessions over a warm pool.

A caller cancelled while its job runs (a deadline, a cancelled agent) kills the job's worker
at once (see ``worker.py``); the worker goes back to the pool as not reusable, so the pool
replaces it, and a session whose cell was cancelled ends (its variables are lost).
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Mapping, Sequence

from forethought.exceptions import SandboxError, UserError
from forethought.sandbox._protocol import build_request
from forethought.sandbox._wire import CloseReply, ExecReply, OpenReply, ReplyError, exec_result
from forethought.sandbox.base import ExecResult, Language, Limits, Sandbox, Session
from forethought.sandbox.pool import PoolConfig, WarmPool
from forethought.sandbox.worker import Worker

REPLY_GRACE_S = 30.0
"""Seconds the host waits for a reply beyond the run's wall time (the runner kills the code
itself at the wall time; this only catches a runner that stopped answering)."""


class PooledSandbox(Sandbox):
    """A sandbox whose calls run in warm workers from a :class:`WarmPool`."""

    def __init__(self, *, limits: Limits | None = None, pool: PoolConfig | None = None) -> None:
        self.limits = limits or Limits()
        self.pool_config = pool or PoolConfig()
        self._pool: WarmPool | None = None
        self._prepared = False
        self._prepare_lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def pool(self) -> WarmPool:
        if self._pool is None:
            self._pool = WarmPool(lambda: self._new_worker(self.limits), self.pool_config)
        return self._pool

    @abstractmethod
    async def _new_worker(self, limits: Limits) -> Worker:
        """Start one worker whose fixed limits (if any) are ``limits``."""

    async def _prepare(self) -> None:
        """Once, before the first worker starts (check the daemon, reap leftovers...)."""

    def _needs_own_worker(self, limits: Limits) -> bool:
        """True when ``limits`` cannot be applied inside a pooled worker."""
        del limits
        return False

    async def _ensure_prepared(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise SandboxError("this sandbox was started in another event loop, and its "
                               "workers belong to that loop; create one sandbox per event "
                               "loop (with Agent.run, let the python tool own its sandbox, or "
                               "use 'async with agent:')")
        if self._prepared:
            return
        if self._prepare_lock is None:
            self._prepare_lock = asyncio.Lock()
        async with self._prepare_lock:
            if not self._prepared:
                await self._prepare()
                self._prepared = True

    async def start(self) -> None:
        await self._ensure_prepared()
        await self.pool.start()

    async def _checkout(self, limits: Limits) -> tuple[Worker, bool]:
        await self._ensure_prepared()
        if self._needs_own_worker(limits):
            return await self._new_worker(limits), True
        return await self.pool.acquire(), False

    async def _checkin(self, worker: Worker, own: bool, reusable: bool) -> None:
        if own:
            await worker.close()
        else:
            await self.pool.release(worker, reusable=reusable)

    async def run(self, code: str, *, language: Language = "python", stdin: str = "",
                  files: Mapping[str, str | bytes] | None = None,
                  env: Mapping[str, str] | None = None, limits: Limits | None = None,
                  output_files: Sequence[str] = ()) -> ExecResult:
        lim = limits or self.limits
        request, stdin_bytes = build_request(
            "exec", code=code, language=language, stdin=stdin, files=files, env=env,
            limits=lim, output_files=output_files)
        worker, own = await self._checkout(lim)
        reusable = False
        try:
            reply = await worker.call(request, ExecReply, lim.wall_s + REPLY_GRACE_S,
                                      stdin_bytes)
            try:
                result = exec_result(reply, isolation=self.isolation, cap=lim.output_bytes)
            except ReplyError as exc:
                raise await worker.rejected(exc) from None
            reusable = reply.clean
        finally:
            # Shielded: a second cancellation must not lose the worker's slot in the pool.
            await asyncio.shield(self._checkin(worker, own, reusable=reusable))
        return result

    def session(self, *, limits: Limits | None = None,
                files: Mapping[str, str | bytes] | None = None,
                env: Mapping[str, str] | None = None) -> Session:
        return PooledSession(self, limits or self.limits, files=files, env=env)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


class PooledSession(Session):
    """A session holding one worker of a :class:`PooledSandbox` until it is closed."""

    def __init__(self, sandbox: PooledSandbox, limits: Limits, *,
                 files: Mapping[str, str | bytes] | None,
                 env: Mapping[str, str] | None) -> None:
        self.sandbox = sandbox
        self.limits = limits
        self._open_request, _ = build_request("open", files=files, env=env, limits=limits)
        self._worker: Worker | None = None
        self._own = False
        self._state = "new"
        self._lock = asyncio.Lock()

    @property
    def alive(self) -> bool:
        return self._state in ("new", "open")

    async def __aenter__(self) -> PooledSession:
        await self._open()
        return self

    async def _open(self) -> None:
        if self._state != "new":
            return
        worker, self._own = await self.sandbox._checkout(self.limits)  # pyright: ignore[reportPrivateUsage]
        try:
            await worker.call(self._open_request, OpenReply, REPLY_GRACE_S)
        except BaseException:
            self._state = "ended"
            await asyncio.shield(self.sandbox._checkin(worker, self._own, reusable=False))  # pyright: ignore[reportPrivateUsage]
            raise
        self._worker = worker
        self._state = "open"

    async def run(self, code: str, *, limits: Limits | None = None) -> ExecResult:
        lim = limits or self.limits
        async with self._lock:
            await self._open()
            if self._state != "open" or self._worker is None:
                raise SandboxError("the session has ended (closed, or stopped by a limit); "
                                   "open a new one")
            if not isinstance(code, str):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise UserError(f"code must be a string, got {type(code).__name__}")
            request = {"op": "cell", "code": code, "limits": lim.to_wire()}
            worker = self._worker
            try:
                reply = await worker.call(request, ExecReply, lim.wall_s + REPLY_GRACE_S)
                result = exec_result(reply, isolation=self.sandbox.isolation,
                                     cap=lim.output_bytes)
            except ReplyError as exc:
                await self._end(reusable=False)
                raise await worker.rejected(exc) from None
            except BaseException:  # a dead worker, or a cancelled caller: the session ends
                await asyncio.shield(self._end(reusable=False))
                raise
            if reply.session_dead:
                why = result.note or result.limit or "its process exited"
                result.note = (f"the session ended ({why}); its variables are lost, a new "
                               f"session starts empty")
                await self._end(reusable=reply.clean)
            return result

    async def _end(self, reusable: bool) -> None:
        worker, self._worker = self._worker, None
        self._state = "ended"
        if worker is not None:
            await self.sandbox._checkin(worker, self._own, reusable)  # pyright: ignore[reportPrivateUsage]

    async def aclose(self) -> None:
        async with self._lock:
            if self._state == "open" and self._worker is not None:
                clean = False
                try:
                    reply = await self._worker.call(
                        {"op": "close", "limits": self.limits.to_wire()}, CloseReply,
                        REPLY_GRACE_S)
                    clean = reply.clean
                except SandboxError:
                    pass
                finally:
                    await asyncio.shield(self._end(reusable=clean))
            self._state = "ended"
