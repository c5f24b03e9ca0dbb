"""The in-sandbox program, part two: the runner's side of a job (its pipes, its control
channel, its exit).

Appended to ``_runner_job.py`` by ``runner_source()`` (the marked import is dropped then).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import socket
import struct
import time
from typing import Any, cast

from forethought.sandbox._runner_job import (  # runner-source: drop
    Zygote,
    descendants,
    json,
    write_frame,
)

CHUNK = 65536
STDIN_SLICE = 1 << 20
META_MAX = 8 << 20
"""The largest answer a job may send on its control channel (a value is cut at 20 kB)."""
F_SETPIPE_SZ = 1031
EARLY_INPUT = bytearray()
"""Bytes the host sent while a job ran (a well-behaved host sends none)."""


class HostGone(Exception):  # noqa: N818 - a signal, not an error
    """The host closed the runner's stdin: it is gone, so the job is stopped at once."""


class Capture:
    """The first ``cap`` bytes of a stream, and how many bytes it had in all."""

    def __init__(self, cap: int) -> None:
        self.buf = bytearray()
        self.total = 0
        self.cap = cap

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap - len(self.buf)
        if room > 0:
            self.buf += data[:room]

    def text(self) -> str:
        return self.buf.decode("utf-8", "replace")


class ProtocolViolation(Exception):  # noqa: N818 - a verdict on the job, reported to the host
    """The job wrote something on its control channel that is not one well-formed answer."""


META_KEYS = {"value", "error", "exit"}
ERROR_KEYS = {"type": str, "message": str, "traceback": str}


def check_meta(data: Any) -> dict[str, Any]:
    """``data`` if it is a job's answer as ``run_python`` writes it; else ProtocolViolation
    (the code can write on the control channel itself, so nothing in it is trusted).
    """
    if not isinstance(data, dict):
        raise ProtocolViolation(f"an answer that is not an object: {type(data).__name__}")
    meta = cast("dict[str, Any]", data)
    extra = set(meta) - META_KEYS
    if extra:
        raise ProtocolViolation(f"an answer with unknown fields {sorted(extra)!r}")
    value, exit_ = meta.get("value"), meta.get("exit")
    if value is not None and not isinstance(value, str):
        raise ProtocolViolation(f"a value of type {type(value).__name__}, not a string")
    if not _is_int(exit_):
        raise ProtocolViolation(f"an exit status {exit_!r} that is not an integer")
    if meta.get("error") is not None:
        _check_error(meta["error"])
    return meta


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_error(data: Any) -> None:
    if not isinstance(data, dict):
        raise ProtocolViolation(f"an error of type {type(data).__name__}")
    error = cast("dict[str, Any]", data)
    if set(error) - {*ERROR_KEYS, "line", "errno"}:
        raise ProtocolViolation("an error with unknown fields")
    for key, kind in ERROR_KEYS.items():
        if not isinstance(error.get(key), kind):
            raise ProtocolViolation(f"an error whose {key!r} is not a string")
    for key in ("line", "errno"):
        if error.get(key) is not None and not _is_int(error[key]):
            raise ProtocolViolation(f"an error whose {key!r} is not an integer")


def open_pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux 5.3+), else None."""
    try:
        return os.pidfd_open(pid)  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        return None


class Job:
    """One job process (C) and the runner's ends of its pipes."""

    def __init__(self, zyg: Zygote, spec: dict[str, Any], stdin: bytes | bytearray,
                 cap: int) -> None:
        self.zyg = zyg
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        mine, theirs = socket.socketpair()
        zyg.send({"op": "spawn"}, [in_r, out_w, err_w, theirs.fileno()])
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        theirs.close()
        reply = zyg.recv_line(30)
        if reply is None:
            raise RuntimeError("the zygote did not start the job")
        self.pid: int = reply["pid"]
        self.pidfd = open_pidfd(self.pid)
        self.ctl = mine
        self.ctl_open = True
        self.stdin, self.stdin_at, self.in_w = memoryview(stdin), 0, in_w
        self.out, self.err = Capture(cap), Capture(cap)
        self.readers: dict[int, str] = {out_r: "out", err_r: "err"}
        self.meta = bytearray()
        self.status: dict[str, Any] | None = None
        write_frame(mine.fileno(), spec)
        if stdin:
            os.set_blocking(in_w, False)
            with contextlib.suppress(OSError):  # fewer, larger writes for a large stdin
                fcntl.fcntl(in_w, F_SETPIPE_SZ, 1 << 20)
        else:
            self.close_stdin()

    def frame(self) -> dict[str, Any] | None:
        """The next complete frame the job sent on its control socket, if any."""
        if len(self.meta) < 4:
            return None
        (n,) = struct.unpack(">I", bytes(self.meta[:4]))
        if n > META_MAX:
            raise ProtocolViolation(f"a frame of {n} bytes (at most {META_MAX})")
        if len(self.meta) < 4 + n:
            return None
        body = bytes(self.meta[4:4 + n])
        del self.meta[:4 + n]
        try:
            return check_meta(json.loads(body.decode("utf-8")))
        except ValueError:
            raise ProtocolViolation("a frame that is not JSON") from None

    def exited(self) -> bool:
        """True once the job process has ended (whether or not the zygote said so)."""
        if self.pidfd is not None:
            return bool(select.select([self.pidfd], [], [], 0)[0])
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except (OSError, IndexError):
            return True

    def pump(self, deadline: float, want_frame: bool) -> dict[str, Any] | None:
        """Move data until the job exits (or, with ``want_frame``, answers) or ``deadline``."""
        while True:
            if want_frame:
                got = self.frame()
                if got is not None:
                    self.drain(0)
                    return got
            self.check_exit()
            if self.status is not None:
                if want_frame:
                    self.drain(0.05)
                    return self.frame()
                return None
            rlist: list[Any] = [*self.readers, self.zyg.sock, 0]
            if self.pidfd is not None:
                rlist.append(self.pidfd)
            if self.ctl_open and len(self.meta) < META_MAX + 4:
                rlist.append(self.ctl)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            wait = left if self.pidfd is not None else min(left, 0.1)
            ready_r, ready_w, _ = select.select(rlist, [self.in_w] if self.in_w >= 0 else [],
                                                [], wait)
            if ready_w:
                self.feed_stdin()
            self.on_ready(ready_r)

    def check_exit(self) -> None:
        if self.status is None and self.exited():
            # The job is gone but the zygote did not say so: the code may have stopped it
            # (SIGSTOP). Wake it and wait a moment for the exit status, no longer.
            self.wait_status(1.0)
            if self.status is None:
                self.status = {"zygote_stopped": True}

    def on_ready(self, ready: list[Any]) -> None:
        for r in ready:
            if r == 0:
                data = os.read(0, CHUNK)
                if not data:
                    raise HostGone
                EARLY_INPUT.extend(data)
            elif r is self.zyg.sock:
                self.status = self.zyg_status(0) or self.status
            elif r is self.ctl:
                chunk = self.ctl.recv(CHUNK)
                self.meta += chunk
                self.ctl_open = bool(chunk)
            elif r in self.readers:
                self.read(r)

    def feed_stdin(self) -> None:
        try:
            end = self.stdin_at + STDIN_SLICE
            self.stdin_at += os.write(self.in_w, self.stdin[self.stdin_at:end])
        except OSError:  # the job closed its end: the rest is not wanted
            self.stdin_at = len(self.stdin)
        if self.stdin_at >= len(self.stdin):
            self.close_stdin()

    def close_stdin(self) -> None:
        os.close(self.in_w)
        self.in_w = -1
        self.stdin = memoryview(b"")

    def read(self, fd: int) -> None:
        data = os.read(fd, CHUNK)
        if data:
            (self.out if self.readers[fd] == "out" else self.err).feed(data)
        else:
            os.close(fd)
            del self.readers[fd]

    def drain(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while self.readers:
            left = max(0.0, end - time.monotonic())
            ready, _, _ = select.select(list(self.readers), [], [], left)
            if not ready:
                break
            for fd in ready:
                self.read(fd)
        if self.ctl_open:
            while len(self.meta) < META_MAX + 4 and select.select([self.ctl], [], [], 0)[0]:
                chunk = self.ctl.recv(CHUNK)
                self.meta += chunk
                if not chunk:
                    self.ctl_open = False
                    break

    def leftover(self) -> None:
        """Raise ProtocolViolation if the control channel holds more than the answer taken."""
        if self.meta:
            got = self.frame()
            raise ProtocolViolation("more than one answer" if got is not None else
                                    "bytes that are not a complete frame")

    def kill(self) -> None:
        for fn in (os.killpg, os.kill):
            with contextlib.suppress(OSError):
                fn(self.pid, signal.SIGKILL)

    def zyg_status(self, timeout: float) -> dict[str, Any] | None:
        """The zygote's report that the job ended (the job may have killed the zygote)."""
        try:
            return self.zyg.recv_line(timeout)
        except (EOFError, OSError):
            self.kill()
            return {"zygote_died": True}

    def wait_status(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while self.status is None and time.monotonic() < end:
            self.status = self.zyg_status(max(0.0, end - time.monotonic()))

    def close(self) -> None:
        for fd in list(self.readers):
            os.close(fd)
        self.readers.clear()
        if self.in_w >= 0:
            self.close_stdin()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.ctl.close()


def zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def prune(root: int, keep: int) -> bool:
    """Kill every descendant of ``root`` but ``keep`` (what a session cell left running);
    True when none is left.
    """
    for attempt in range(300):
        left = [p for p in descendants(root) if p != keep and not zombie(p)]
        if not left:
            return True
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.001 * min(attempt + 1, 10))
    return False
