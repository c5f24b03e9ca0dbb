"""Host-side handles on sandbox workers: one runner process (or container) each.

A worker answers one request at a time. Anything unexpected (no answer in time, a closed
stream, a garbled frame) kills the worker and raises :class:`SandboxError`: the caller
never waits forever and a worker in an unknown state is never reused.
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
from collections.abc import Callable, Mapping
from typing import Any

from forethought.exceptions import SandboxError
from forethought.sandbox._protocol import encode_frame, frame_length


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
    async def _send(self, data: bytes) -> None: ...

    @abstractmethod
    async def _read_exact(self, n: int) -> bytes: ...

    @abstractmethod
    async def _terminate(self) -> None:
        """Kill the runner and everything it started; must not raise."""

    @abstractmethod
    def describe(self) -> str:
        """A short name for error messages."""

    async def _read_frame(self) -> dict[str, Any]:
        n = frame_length(await self._read_exact(4))
        data: dict[str, Any] = json.loads(await self._read_exact(n))
        return data

    async def read_ready(self, wait_s: float) -> None:
        try:
            self.ready = await asyncio.wait_for(self._read_frame(), wait_s)
        except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
            await self.kill()
            raise SandboxError(f"{self.describe()} did not start: "
                               f"{self._why(exc)}{self.diagnostics()}") from None
        if not self.ready.get("ready"):
            await self.kill()
            raise SandboxError(f"{self.describe()} sent {self.ready!r} instead of its ready "
                               f"frame{self.diagnostics()}")

    async def request(self, frame: Mapping[str, Any], wait_s: float) -> dict[str, Any]:
        """Send one request and wait at most ``wait_s`` seconds for the reply."""
        if self._dead:
            raise SandboxError(f"{self.describe()} was already stopped")
        async with self._lock:
            self.last_used = time.monotonic()
            try:
                await asyncio.wait_for(self._send(encode_frame(frame)), wait_s)
                reply = await asyncio.wait_for(self._read_frame(), wait_s)
            except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
                await self.kill()
                raise SandboxError(f"{self.describe()} failed during a request: "
                                   f"{self._why(exc)}; it was killed{self.diagnostics()}"
                                   ) from None
            except asyncio.CancelledError:
                await asyncio.shield(self.kill())
                raise
            self.last_used = time.monotonic()
        if "fatal" in reply:
            await self.kill()
            raise SandboxError(f"{self.describe()} failed: {reply['fatal']}")
        return reply

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
                 uid_base: int | None) -> None:
        super().__init__()
        self.argv, self.cwd, self.env, self.uid_base = argv, cwd, dict(env), uid_base
        self.proc: asyncio.subprocess.Process | None = None
        self.on_exit: Callable[[], None] | None = None
        """Called once the runner is gone (e.g. to delete its directory)."""
        self._stderr = bytearray()
        self._stderr_task: asyncio.Task[None] | None = None

    def describe(self) -> str:
        pid = self.proc.pid if self.proc else "?"
        return f"sandbox process worker (pid {pid})"

    async def start(self, wait_s: float) -> None:
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, cwd=self.cwd, env=self.env, start_new_session=True,
                limit=1 << 20)
        except OSError as exc:
            self._dead = True
            raise SandboxError(f"cannot start the sandbox runner {self.argv[0]!r}: {exc}"
                               ) from None
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

    async def _send(self, data: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(data)
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
            self.on_exit()
        if self._stderr_task is not None:
            self._stderr_task.cancel()
        with contextlib.suppress(OSError, RuntimeError):
            if proc.stdin is not None:
                proc.stdin.close()


def kill_uid(uid: int) -> None:
    """Kill every process of ``uid`` (a worker's throwaway uid): ``kill -9 -1`` run as that
    uid signals exactly the processes it owns.
    """
    import sys

    cmd = [sys.executable, "-I", "-S", "-c", "import os, signal; os.kill(-1, signal.SIGKILL)"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(cmd, user=uid, group=uid, extra_groups=[], env={}, timeout=10,
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
