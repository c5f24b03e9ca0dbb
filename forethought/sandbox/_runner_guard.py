"""The in-sandbox program, part zero: Landlock rules for the plain process backend's jobs.

Landlock (Linux 5.13+) lets an unprivileged process give up access to the filesystem for
itself and its descendants. The plain process backend has no mount namespace, so this is
what keeps a job from reading world-readable host files, ``/proc`` (other processes' command
lines) and writing to ``/dev/shm``, ``/run/lock`` or ``/tmp``: the zygote builds one ruleset
(read the Python runtime, read and write the worker's directory, use a few device files) and
every job restricts itself to it before running code. Newer ABIs also forbid TCP (ABI 4) and
signals or abstract unix sockets reaching outside the job (ABI 6).

Stdlib only, like the rest of the runner; ``runner_source()`` puts this file first.
"""

from __future__ import annotations

import os
import stat
import struct
from typing import Any

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION, RULE_PATH_BENEATH, PR_SET_NO_NEW_PRIVS = 1, 1, 38
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1, 2, 4, 8
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1, 2
LANDLOCK_FD = 4
"""Where a job finds the ruleset the zygote built (the job closes every other descriptor)."""


def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when it has none (or ctypes is missing)."""
    try:
        return max(0, int(_libc().syscall(SYS_CREATE_RULESET, None, 0,
                                          CREATE_RULESET_VERSION)))
    except Exception:  # noqa: BLE001 - no ctypes, no Landlock
        return 0


def fs_rights(abi: int) -> int:
    """Every filesystem right the ABI knows (all of them are handled, i.e. denied unless a
    rule grants them).
    """
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def _check(result: int, what: str) -> int:
    if result < 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"Landlock: {what}: {os.strerror(err)}")
    return result


class Ruleset:
    """One Landlock ruleset, built from lists of paths; see the module docstring."""

    def __init__(self, abi: int, *, read: list[str], write: list[str],
                 devices: list[str]) -> None:
        self.abi = abi
        libc = _libc()
        handled = fs_rights(abi)
        attr = struct.pack("=QQQ", handled,
                           NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                           SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0)
        size = 24 if abi >= 6 else 16 if abi >= 4 else 8
        self.fd = _check(libc.syscall(SYS_CREATE_RULESET, attr[:size], size, 0),
                         "cannot create a ruleset")
        file_read = FS_READ_FILE | FS_EXECUTE
        file_rw = (FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV) & handled
        for paths, dir_rights, file_rights in (
                (read, file_read | FS_READ_DIR, file_read),
                (devices, 0, file_rw),
                (write, handled, handled)):
            for path in paths:
                self._allow(libc, path, dir_rights, file_rights)

    def _allow(self, libc: Any, path: str, dir_rights: int, file_rights: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return  # not there (or not ours to see): nothing to allow
        try:
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            rights = dir_rights if is_dir else file_rights & (
                FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV)
            if rights:
                rule = struct.pack("=Qi", rights, fd)
                _check(libc.syscall(SYS_ADD_RULE, self.fd, RULE_PATH_BENEATH, rule, 0),
                       f"cannot allow {path!r}")
        finally:
            os.close(fd)


def restrict_self(fd: int) -> None:
    """Confine this process (and what it starts) to the ruleset ``fd``; raises OSError."""
    libc = _libc()
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "cannot set no_new_privs")
    _check(libc.syscall(SYS_RESTRICT_SELF, fd, 0), "cannot restrict the job")
