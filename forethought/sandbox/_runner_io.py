"""The in-sandbox program, part two: the runner's side of a job (pipes, files, cleanup).

Appended to ``_runner_job.py`` by ``runner_source()`` (the marked import is dropped then).
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import shutil
import signal
import socket
import stat
import struct
import sys
import time
from typing import Any

from forethought.sandbox._runner_job import (  # runner-source: drop
    EFBIG,
    Zygote,
    json,
    write_frame,
)

CHUNK = 65536
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


class Job:
    """One job process (C) and the runner's ends of its pipes."""

    def __init__(self, zyg: Zygote, spec: dict[str, Any], stdin: bytes, cap: int) -> None:
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
        self.ctl = mine
        self.ctl_open = True
        self.stdin, self.in_w = stdin, in_w
        self.out, self.err = Capture(cap), Capture(cap)
        self.readers: dict[int, str] = {out_r: "out", err_r: "err"}
        self.meta = bytearray()
        self.status: dict[str, Any] | None = None
        write_frame(mine.fileno(), spec)
        if stdin:
            os.set_blocking(in_w, False)
        else:
            self.close_stdin()

    def frame(self) -> dict[str, Any] | None:
        """The next complete frame the job sent on its control socket, if any."""
        if len(self.meta) < 4:
            return None
        (n,) = struct.unpack(">I", bytes(self.meta[:4]))
        if len(self.meta) < 4 + n:
            return None
        body = bytes(self.meta[4:4 + n])
        del self.meta[:4 + n]
        try:
            return json.loads(body.decode("utf-8", "replace"))
        except ValueError:
            return None

    def pump(self, deadline: float, want_frame: bool) -> dict[str, Any] | None:
        """Move data until the job exits (or, with ``want_frame``, answers) or ``deadline``."""
        while True:
            if want_frame:
                got = self.frame()
                if got is not None:
                    self.drain(0)
                    return got
            if self.status is not None:
                if want_frame:
                    self.drain(0.05)
                    return self.frame()
                return None
            rlist: list[Any] = [*self.readers, self.zyg.sock, 0]
            if self.ctl_open and len(self.meta) < 8 << 20:
                rlist.append(self.ctl)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready_r, ready_w, _ = select.select(rlist, [self.in_w] if self.in_w >= 0 else [],
                                                [], left)
            if ready_w:
                self.feed_stdin()
            for r in ready_r:
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
                else:
                    self.read(r)

    def feed_stdin(self) -> None:
        try:
            n = os.write(self.in_w, self.stdin[:CHUNK])
            self.stdin = self.stdin[n:]
        except OSError:
            self.stdin = b""
        if not self.stdin:
            self.close_stdin()

    def close_stdin(self) -> None:
        os.close(self.in_w)
        self.in_w = -1

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
                return
            for fd in ready:
                self.read(fd)
        if self.ctl_open:
            while select.select([self.ctl], [], [], 0)[0]:
                chunk = self.ctl.recv(CHUNK)
                self.meta += chunk
                if not chunk:
                    self.ctl_open = False
                    break

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
        self.ctl.close()


def count_processes(uid: int) -> int:
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                n += os.stat(f"/proc/{entry}").st_uid == uid
    return n


def safe_parts(rel: str) -> list[str]:
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or rel.startswith("/") or ".." in parts:
        raise ValueError(f"bad path {rel!r}")
    return parts


def write_files(root: str, files: dict[str, str], uid: int | None) -> None:
    for rel, b64 in files.items():
        parts = safe_parts(rel)
        path = root
        for part in parts[:-1]:
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                os.mkdir(path, 0o700)
                if uid is not None:
                    os.chown(path, uid, uid)
        path = os.path.join(path, parts[-1])
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(b64))
        if uid is not None:
            os.chown(path, uid, uid)


def read_file_inside(root: str, rel: str, budget: int) -> bytes | str:
    """A file under ``root``, read without following a symlink or hard link out of it; a
    string says why it could not be read.
    """
    try:
        parts = safe_parts(rel)
    except ValueError:
        return "not a relative path inside the work dir"
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for part in parts[:-1]:
            fds.append(os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                               dir_fd=fds[-1]))
        fds.append(os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK,
                           dir_fd=fds[-1]))
        st = os.fstat(fds[-1])
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return "not a regular file"
        if st.st_size > budget:
            return f"larger than the {budget} bytes left for output files"
        data = b""
        while len(data) <= budget:
            chunk = os.read(fds[-1], CHUNK)
            if not chunk:
                break
            data += chunk
        return data[:budget]
    except OSError as exc:
        return exc.strerror or "cannot read"
    finally:
        for fd in fds:
            os.close(fd)


def rmtree(path: str, on_error: Any) -> None:
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=on_error)
    else:
        shutil.rmtree(path, onerror=on_error)


def wipe(path: str, keep_root: bool, owner: int | None = None) -> None:
    """Delete what is in ``path`` (only entries of ``owner`` if given), whatever permissions
    the job left, then ``path`` itself unless ``keep_root``.
    """
    def force(_fn: Any, p: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
                rmtree(p, force)
            else:
                os.unlink(p)
        except OSError:
            pass

    with contextlib.suppress(OSError):  # the job may have locked its own work dir
        if owner is None:
            os.chmod(path, 0o700)
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        p = os.path.join(path, name)
        try:
            st = os.lstat(p)
            if owner is not None and st.st_uid != owner:
                continue
            if stat.S_ISDIR(st.st_mode):
                os.chmod(p, 0o700)
                rmtree(p, force)
            else:
                os.unlink(p)
        except OSError:
            pass
    if not keep_root:
        rmtree(path, force)


def oom_kills() -> int:
    """The container's count of out-of-memory kills (cgroup v1 or v2); -1 when unknown."""
    for path in ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"):
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            continue
    return -1


def limit_hit(sig: int | None, status: dict[str, Any], error: dict[str, Any] | None,
              limits: dict[str, Any], timed_out: bool, memory: bool) -> str | None:
    if timed_out:
        return "wall_time"
    cpu_limit = limits.get("cpu_s")
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and not memory and cpu_limit
                                 and status.get("cpu_s", 0) >= cpu_limit):
        return "cpu_time"
    if memory:
        return "memory"
    if sig == signal.SIGXFSZ or (error is not None and error.get("errno") == EFBIG):
        return "file_size"
    return None
