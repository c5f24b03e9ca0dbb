"""The in-sandbox program, part three: files in and out of the work dir, cleanup, and what
stopped a job.

Appended after ``_runner_io.py`` by ``runner_source()`` (the marked import is dropped then).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import stat
import sys
from typing import Any

from forethought.sandbox._runner_io import (  # runner-source: drop
    CHUNK,
)
from forethought.sandbox._runner_job import (  # runner-source: drop
    EFBIG,
)


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
