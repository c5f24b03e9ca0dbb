"""Host-side handles on sandbox workers: one runner process (or container) each.

A worker answers one request at a time. Anything unexpected (no answer in time, a closed
stream, a garbled frame, a reply that does not match the protocol) kills the worker and
raises :class:`SandboxError`: the caller never waits forever and a worker in an unknown state
is never reused. A caller that is cancelled while it waits kills the worker at once (the job
with it); the pool then replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from forethought.exceptions import SandboxError
from forethought.sandbox._protocol import encode_frame, frame_length
from forethought.sandbox._wire import ReadyFrame, ReplyError, check

M = TypeVar("M", bound=BaseModel)

STALL_GRACE_S = 0.25
"""Extra seconds given to a reply whose deadline passed: if the host itself was stopped
(SIGSTOP, a suspended machine) past the deadline, a reply already waiting still lands."""


class Worker(ABC):
    """One warm runner, ready for requests."""

    def __init__(self) -> None:
        self.uses = 0
        self.created = time.monotonic()
        self.last_used = self.created
        self.ready: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._dead = False

    @property
    def alive(self) -> bool:
        return not self._dead

    @abstractmethod
    async def start(self, wait_s: float) -> None:
        """Start the runner and wait for its ready frame."""

    @abstractmethod
    async def _send(self, data: bytes, payload: bytes = b"") -> None: ...

    @abstractmethod
    async def _read_exact(self, n: int) -> bytes: ...

    @abstractmethod
    async def _terminate(self) -> None:
        """Kill the runner and everything it started; must not raise."""

    @abstractmethod
    def describe(self) -> str:
        """A short name for error messages."""

    async def _read_frame(self) -> Any:
        n = frame_length(await self._read_exact(4))
        return json.loads(await self._read_exact(n))

    async def read_ready(self, wait_s: float) -> None:
        try:
            self.ready = await asyncio.wait_for(self._read_frame(), wait_s)
        except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
            await self.kill()
            raise SandboxError(f"{self.describe()} did not start: "
                               f"{self._why(exc)}{self.diagnostics()}") from None
        try:
            check(ReadyFrame, self.ready)
        except ReplyError:
            await self.kill()
            raise SandboxError(f"{self.describe()} sent {self.ready!r} instead of its ready "
                               f"frame{self.diagnostics()}") from None

    async def request(self, frame: Mapping[str, Any], wait_s: float,
                      payload: bytes = b"") -> dict[str, Any]:
        """Send one request (and ``payload``, raw bytes after it) and wait at most
        ``wait_s`` seconds for the reply.
        """
        if self._dead:
            raise SandboxError(f"{self.describe()} was already stopped")
        async with self._lock:
            self.last_used = time.monotonic()
            try:
                await asyncio.wait_for(self._send(encode_frame(frame), payload), wait_s)
                reply = await self._reply(wait_s)
            except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
                await self.kill()
                raise SandboxError(f"{self.describe()} failed during a request: "
                                   f"{self._why(exc)}; it was killed{self.diagnostics()}"
                                   ) from None
            except asyncio.CancelledError:
                # The caller gave up (a deadline, a cancelled agent): the job must not run on
                # unobserved. Killing the worker stops it; the pool starts a replacement.
                await asyncio.shield(self.kill())
                raise
            self.last_used = time.monotonic()
        if not isinstance(reply, dict):
            await self.kill()
            raise SandboxError(f"{self.describe()} sent a reply that is not a JSON object; "
                               f"it was killed")
        answer = cast("dict[str, Any]", reply)
        if "fatal" in answer:
            await self.kill()
            raise SandboxError(f"{self.describe()} failed: {answer['fatal']}")
        return answer

    async def call(self, frame: Mapping[str, Any], model: type[M], wait_s: float,
                   payload: bytes = b"") -> M:
        """:meth:`request`, with the reply checked against ``model`` (see ``_wire.py``)."""
        reply = await self.request(frame, wait_s, payload)
        try:
            return check(model, reply)
        except ReplyError as exc:
            raise await self.rejected(exc) from None

    async def rejected(self, exc: ReplyError) -> SandboxError:
        """Kill this worker for a reply that breaks the protocol; the error to raise."""
        await self.kill()
        return SandboxError(f"{self.describe()} sent a reply that does not match the sandbox "
                            f"protocol ({exc}); it was killed and is replaced")

    async def _reply(self, wait_s: float) -> Any:
        # The read is not cancelled by the deadline itself, so that a reply that arrived
        # while the host was stopped is still read (see STALL_GRACE_S).
        reader = asyncio.ensure_future(self._read_frame())
        try:
            done, _ = await asyncio.wait({reader}, timeout=wait_s)
            if not done:
                done, _ = await asyncio.wait({reader}, timeout=STALL_GRACE_S)
            if not done:
                raise TimeoutError
            return reader.result()
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader

    @staticmethod
    def _why(exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return "no answer in time"
        if isinstance(exc, asyncio.IncompleteReadError):
            return "it exited"
        return f"{type(exc).__name__}: {exc}"

    def diagnostics(self) -> str:
        """Extra context (the runner's stderr) for an error message."""
        return ""

    async def close(self, wait_s: float = 10.0) -> None:
        """Stop the worker gracefully if it can (it cleans up after itself), else kill it."""
        del wait_s
        await self.kill()

    async def kill(self) -> None:
        if not self._dead:
            self._dead = True
            await self._terminate()


class ProcessWorker(Worker):
    """A runner as a local subprocess, in its own session and its own directory."""

    def __init__(self, *, argv: list[str], cwd: str, env: Mapping[str, str],
                 uid_base: int | None, user: int | None = None,
                 pass_fds: Sequence[int] = (), kind: str = "process") -> None:
        super().__init__()
        self.kind = kind
        self.argv, self.cwd, self.env, self.uid_base = argv, cwd, dict(env), uid_base
        self.user = user
        """Run the runner under this uid (and gid), without supplementary groups."""
        self.pass_fds = tuple(pass_fds)
        """Descriptors handed to the runner; closed here once it started."""
        self.proc: asyncio.subprocess.Process | None = None
        self.on_exit: Callable[[], None] | None = None
        """Called once the runner is gone (e.g. to delete its directory)."""
        self._stderr = bytearray()
        self._stderr_task: asyncio.Task[None] | None = None

    def describe(self) -> str:
        pid = self.proc.pid if self.proc else "?"
        return f"sandbox {self.kind} worker (pid {pid})"

    async def start(self, wait_s: float) -> None:
        who: dict[str, Any] = {}
        if self.user is not None:
            who = {"user": self.user, "group": self.user, "extra_groups": []}
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, cwd=self.cwd, env=self.env, start_new_session=True,
                limit=1 << 20, pass_fds=self.pass_fds, **who)
        except OSError as exc:
            self._dead = True
            raise SandboxError(f"cannot start the sandbox runner {self.argv[0]!r}: {exc}"
                               ) from None
        finally:
            for fd in self.pass_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._stderr_task = asyncio.create_task(self._collect_stderr())
        await self.read_ready(wait_s)

    async def _collect_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(4096):
            self._stderr += chunk
            del self._stderr[:-4000]

    def diagnostics(self) -> str:
        text = self._stderr.decode("utf-8", "replace").strip()
        return f"; runner stderr: {text[-1500:]}" if text else ""

    async def _send(self, data: bytes, payload: bytes = b"") -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(data)
        if payload:
            self.proc.stdin.write(payload)
        await self.proc.stdin.drain()

    async def _read_exact(self, n: int) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        return await self.proc.stdout.readexactly(n)

    async def close(self, wait_s: float = 10.0) -> None:
        """Ask the runner to clean up and exit (end of its stdin); kill it if it lingers."""
        if self._dead or self.proc is None:
            return
        with contextlib.suppress(OSError, RuntimeError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), wait_s)
        await self.kill()

    async def _terminate(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)
        if self.uid_base is not None and proc.returncode != 0:
            # The runner did not exit cleanly: its jobs' processes may be left; kill them
            # all by their uid.
            await asyncio.to_thread(kill_uid, self.uid_base + proc.pid)
        if self.on_exit is not None:
            await asyncio.to_thread(self.on_exit)  # e.g. deleting a large work dir
        if self._stderr_task is not None:
            self._stderr_task.cancel()
        with contextlib.suppress(OSError, RuntimeError):
            if proc.stdin is not None:
                proc.stdin.close()


def kill_uid(uid: int) -> None:
    """Kill every process of ``uid`` (a worker's throwaway uid): ``kill -9 -1`` run as that
    uid signals exactly the processes it owns (all but itself).

    The shell's builtin is used, not this interpreter: a throwaway uid may not be able to
    read it (a pyenv or virtualenv Python under ``/root``).
    """
    cmd = ["/bin/sh", "-c", "kill -9 -1"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(cmd, user=uid, group=uid, extra_groups=[], env={}, timeout=10,
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
