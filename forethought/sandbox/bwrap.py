"""The namespace backend: every worker is a bubblewrap (``bwrap``) sandbox.

Each worker runs the runner as PID 1 of new user, mount, PID, network, IPC, UTS (and, where
the kernel has them, cgroup) namespaces:

* the filesystem is an empty read-only root holding, read-only, the Python runtime and
  nothing else of the host (the interpreter, its standard library, the shared libraries
  they load, ``/bin/sh`` and a few coreutils: ``runtime.py``), a minimal ``/etc/passwd``;
* the writable places are private tmpfs mounts with size caps: the work dir ``/work``
  (``Limits.disk_mb``) and ``/tmp``, ``/var/tmp``, ``/run``, ``/dev/shm`` (each
  ``Limits.memory_mb / 8``), emptied after every job, so nothing one job writes reaches the
  next and no job can fill the host's memory through them;
* ``/proc`` shows only the worker's own processes; there is no network, not even loopback;
* the code runs as uid 65534 inside with no capabilities, cannot create further user
  namespaces, and a seccomp filter denies keyrings, bpf, perf, io_uring, ptrace, mounts and
  module loading (``_seccomp.py``); on the host the whole worker runs under a throwaway uid
  when the host is root (so the kernel's process limit applies to it), else under the
  host's own uid, which the namespaces keep away from everything the host owns;
* ``--die-with-parent``: the worker dies with the host process.

Limits are rlimits per job (CPU, address space, processes, file size, open files) plus the
tmpfs caps above; there is no cgroup, so memory is an address-space limit per process
rather than a total (the Docker backend has a total).

This needs bubblewrap 0.8 or newer (``--size``, ``--disable-userns``) and a kernel that lets
the worker's uid create user namespaces; :func:`bwrap_unavailable_reason` says why not when
it cannot work. Debian: ``apt-get install bubblewrap``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from forethought.exceptions import SandboxError, UserError
from forethought.sandbox._protocol import runner_source
from forethought.sandbox._seccomp import seccomp_program
from forethought.sandbox.base import Isolation, Limits
from forethought.sandbox.pool import PoolConfig
from forethought.sandbox.pooled import PooledSandbox
from forethought.sandbox.process import interpreter_for_uid_drop
from forethought.sandbox.runtime import RuntimeFiles, runtime_files
from forethought.sandbox.worker import ProcessWorker, Worker

MIN_VERSION = (0, 8, 0)
UID_BASE = 2_100_000_000
"""Throwaway host uids of workers (when the host is root): ``UID_BASE + (host pid mod 10**6)
* 1000 + a serial``, far from real accounts and from the plain backend's range."""
SANDBOX_UID = 65534
SCRATCH = ("/tmp", "/var/tmp", "/run", "/dev/shm")
_RUNNER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
_PASSWD = (f"root:x:0:0:root:/root:/bin/sh\n"
           f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/work:/bin/sh\n")
_GROUP = f"root:x:0:\nsandbox:x:{SANDBOX_UID}:\n"
_CONFIG = json.dumps({"container": True, "work": "/work", "per_job_dir": False,
                      "drop_uid": False, "unshare": False, "rlimit_memory": True,
                      "rlimit_processes": True, "landlock": None,
                      "scratch": [*SCRATCH, "/dev/mqueue"]})
_serial = itertools.count()


def throwaway_uid(pid: int | None = None) -> int:
    """A host uid for one worker of host process ``pid`` (default: this one)."""
    pid = os.getpid() if pid is None else pid
    return UID_BASE + (pid % 1_000_000) * 1000 + next(_serial) % 1000


def scratch_mb(limits: Limits) -> int:
    """The size cap of each scratch tmpfs (``/tmp``, ``/run``, ``/dev/shm``...)."""
    return max(1, limits.memory_mb // 8)


def bwrap_version(path: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else None


def default_python() -> str | None:
    """The interpreter workers run: this one, or as root one a throwaway uid can read."""
    if os.geteuid() == 0:
        return interpreter_for_uid_drop(sys.executable)
    return shutil.which(sys.executable)


def _pipe_with(data: bytes) -> int:
    """The read end of a pipe holding ``data`` (bubblewrap reads it to the end)."""
    r, w = os.pipe()
    try:
        os.write(w, data)  # small (< 4 kB): fits the pipe buffer
    finally:
        os.close(w)
    return r


def bwrap_argv(bwrap: str, runtime: RuntimeFiles, limits: Limits, *, data_fds: Sequence[int],
               seccomp_fd: int | None, ro_binds: Sequence[str] = (),
               command: Sequence[str]) -> list[str]:
    """The bubblewrap command line of one worker (``data_fds``: /etc/passwd, /etc/group)."""
    argv = [bwrap, "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net",
            "--unshare-uts", "--unshare-cgroup-try", "--disable-userns", "--die-with-parent",
            "--as-pid-1", "--new-session", "--uid", str(SANDBOX_UID), "--gid",
            str(SANDBOX_UID), "--hostname", "sandbox", "--cap-drop", "ALL"]
    for path in (*runtime.dirs, *runtime.files, *runtime.links, *ro_binds):
        argv += ["--ro-bind", str(path), str(path)]
    for name, path in runtime.tools.items():
        argv += ["--ro-bind", str(path), f"/bin/{name}"]
    exe = str(runtime.interpreter.executable)
    for link in ("/usr/local/bin/python3", "/usr/local/bin/python", "/usr/bin/python3"):
        if link != exe:
            argv += ["--symlink", exe, link]
    if "env" in runtime.tools:
        argv += ["--symlink", "/bin/env", "/usr/bin/env"]
    argv += ["--ro-bind-data", str(data_fds[0]), "/etc/passwd",
             "--ro-bind-data", str(data_fds[1]), "/etc/group",
             "--proc", "/proc", "--dev", "/dev",
             "--size", str(limits.disk_mb << 20), "--tmpfs", "/work"]
    for path in SCRATCH:
        argv += ["--size", str(scratch_mb(limits) << 20), "--tmpfs", path]
    argv += ["--mqueue", "/dev/mqueue", "--remount-ro", "/dev", "--remount-ro", "/",
             "--chdir", "/work"]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return [*argv, "--", *command]


@cache
def _probe(bwrap: str, python: str) -> str | None:
    version = bwrap_version(bwrap)
    if version is None or version < MIN_VERSION:
        found = ".".join(map(str, version)) if version else "an unknown version"
        return (f"bubblewrap at {bwrap} is {found}; the namespace sandbox needs 0.8.0 or "
                f"newer (--size for tmpfs caps, --disable-userns)")
    try:
        runtime = runtime_files(python)
    except (SandboxError, UserError) as exc:
        return f"the namespace sandbox cannot use {python!r}: {exc}"
    fds = [_pipe_with(_PASSWD.encode()), _pipe_with(_GROUP.encode())]
    program = seccomp_program()
    if program is not None:
        fds.append(_pipe_with(program))
    argv = bwrap_argv(bwrap, runtime, Limits(), data_fds=fds[:2],
                      seccomp_fd=fds[2] if program is not None else None,
                      command=[str(runtime.interpreter.executable), "-I", "-S", "-c",
                               "import os; print(os.getpid(), os.getuid())"])
    uid = throwaway_uid() if os.geteuid() == 0 else None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False,
                              pass_fds=fds, env=_RUNNER_ENV, cwd="/", user=uid, group=uid,
                              extra_groups=[] if uid is not None else None)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not be started: {exc}"
    finally:
        for fd in fds:
            os.close(fd)
    if proc.returncode != 0 or proc.stdout.split() != ["1", str(SANDBOX_UID)]:
        why = proc.stderr.strip()[-400:] or f"exit status {proc.returncode}"
        return f"bubblewrap cannot create the namespace sandbox here: {why}"
    return None


def bwrap_unavailable_reason(python: str | None = None) -> str | None:
    """``None`` when the namespace backend works here, else why not (checked once per
    process and interpreter, by starting a sandbox).
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap is not installed (no 'bwrap' on PATH; Debian: apt-get install " \
               "bubblewrap)"
    chosen = python or default_python()
    if chosen is None:
        return ("no Python interpreter a throwaway uid can read (the host runs as root); "
                "install the system python3 or pass python=")
    return _probe(bwrap, chosen)


class BwrapSandbox(PooledSandbox):
    """Runs code in bubblewrap namespaces; see the module docstring.

    Args:
        limits: Default limits. Memory and disk size set the tmpfs caps of a worker: a call
            asking for others gets its own worker (a cold start).
        pool: How many warm workers to keep.
        python: The interpreter (default: this one; as root, one a throwaway uid can read,
            e.g. the system's ``/usr/bin/python3``: bubblewrap runs as that uid and cannot
            bind what it cannot reach, such as a pyenv Python under ``/root``).
        ro_binds: More host paths to expose read-only at the same place (e.g. a
            ``site-packages`` with numpy); nothing else of the host is visible.
        seccomp: Install the seccomp filter (default); :attr:`seccomp` says whether one is
            in force (there is none on architectures without a table).
    """

    isolation: Isolation = "namespace"

    def __init__(self, *, limits: Limits | None = None, pool: PoolConfig | None = None,
                 python: str | None = None, ro_binds: Sequence[str | Path] = (),
                 seccomp: bool = True) -> None:
        super().__init__(limits=limits, pool=pool)
        chosen = shutil.which(python) if python else default_python()
        if chosen is None:
            raise UserError(f"python interpreter {python or sys.executable!r} not found (or "
                            f"not readable by a throwaway uid); pass python= a path")
        self.python = chosen
        self.ro_binds = [str(Path(p).resolve()) for p in ro_binds]
        for path in self.ro_binds:
            if not os.path.exists(path):
                raise UserError(f"ro_binds path {path!r} does not exist")
        self.seccomp = seccomp and seccomp_program() is not None
        self.as_uid = os.geteuid() == 0
        self._runtime: RuntimeFiles | None = None
        self._bwrap = ""

    async def _prepare(self) -> None:
        why = await asyncio.to_thread(bwrap_unavailable_reason, self.python)
        if why is not None:
            raise SandboxError(f"the namespace sandbox cannot run: {why}")
        self._bwrap = shutil.which("bwrap") or "bwrap"
        self._runtime = await asyncio.to_thread(runtime_files, self.python)

    def _needs_own_worker(self, limits: Limits) -> bool:
        mine = self.limits
        return (limits.memory_mb, limits.disk_mb) != (mine.memory_mb, mine.disk_mb)

    async def _new_worker(self, limits: Limits) -> Worker:
        await self._ensure_prepared()
        assert self._runtime is not None
        fds = [_pipe_with(_PASSWD.encode()), _pipe_with(_GROUP.encode())]
        program = seccomp_program() if self.seccomp else None
        if program is not None:
            fds.append(_pipe_with(program))
        runtime = self._runtime
        command = [str(runtime.interpreter.executable), "-I", "-c", runner_source(), _CONFIG]
        argv = bwrap_argv(self._bwrap, runtime, limits, data_fds=fds[:2],
                          seccomp_fd=fds[2] if program is not None else None,
                          ro_binds=self.ro_binds, command=command)
        worker = ProcessWorker(argv=argv, cwd="/", env=_RUNNER_ENV, uid_base=None,
                               user=throwaway_uid() if self.as_uid else None, pass_fds=fds,
                               kind="namespace")
        await worker.start(self.pool_config.start_timeout_s)
        return worker
