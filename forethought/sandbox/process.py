"""The plain process backend: the last fallback, when neither Docker nor bubblewrap works.

Each worker is a runner subprocess (Python in isolated mode ``-I``) in a fresh directory,
with a scrubbed environment, in its own session. Every job gets a fresh work directory and
runs under rlimits (CPU, address space, processes, file size, open files); a timeout kills
the job's whole process tree.

Where the kernel has Landlock (Linux 5.13+), every job is also confined by it: it can read
only the Python runtime (the files ``runtime.py`` lists) and its own work dir, write only
its work dir, and use ``/dev/null`` and friends; so world-readable host files, ``/proc``
(other processes' command lines), ``/tmp``, ``/dev/shm`` and ``/run/lock`` are out of its
reach. Landlock ABI 4 also forbids TCP, ABI 6 signals to processes outside the job.

How strong the rest is depends on who runs the host:

* as root (CI, containers) the job drops to a throwaway uid per worker, so it cannot signal
  the host, its process limit counts only its own processes, and it gets a fresh network
  namespace (no network, not even loopback) and IPC namespace. Isolation: ``"process"``.
* as an ordinary user the job runs under that user's own uid; without Landlock it can read
  what the user can and reach the network. Isolation: ``"process-same-user"``.

What a job leaves in world-writable directories (``/tmp``, ``/var/tmp``, ``/dev/shm``,
``/run/lock``) is deleted after it. Memory is an address-space rlimit per process, not a
total. This is not a security boundary the way a container or namespaces are; the python
tool warns once when model-written code runs here, and ``isolation="strict"`` refuses it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path

from forethought.exceptions import SandboxError, UserError
from forethought.sandbox._protocol import runner_source
from forethought.sandbox._runner_guard import landlock_abi
from forethought.sandbox.base import Isolation, Limits
from forethought.sandbox.pool import PoolConfig
from forethought.sandbox.pooled import PooledSandbox
from forethought.sandbox.runtime import RuntimeFiles, runtime_files
from forethought.sandbox.worker import ProcessWorker, Worker

UID_BASE = 1_900_000_000
"""Throwaway uids are ``UID_BASE + the runner's pid``: unique among live workers and far
from any real account."""
_DIR_PREFIX = "forethought-sandbox-"
_RUNNER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/dev/mqueue")
"""World-writable directories: what a job's uid leaves there is deleted after the job."""
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def _others_can_read(path: Path) -> bool:
    """True when a stranger uid can reach and read ``path`` (every directory above it
    searchable by "others").
    """
    try:
        resolved = path.resolve()
        for parent in resolved.parents:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        return bool(os.stat(resolved).st_mode & stat.S_IROTH)
    except OSError:
        return False


def _stdlib_of(python: str) -> Path | None:
    """The standard-library directory of ``python`` (found without running it when it is
    this interpreter).
    """
    if Path(python).resolve() == Path(sys.executable).resolve():
        return Path(os.__file__).parent
    exe = Path(python).resolve()
    for lib in ("lib", "lib64"):
        for cand in sorted((exe.parent.parent / lib).glob("python3*")):
            if (cand / "os.py").exists():
                return cand
    return None


def interpreter_for_uid_drop(preferred: str) -> str | None:
    """An interpreter a throwaway uid can run (its stdlib readable by others), trying
    ``preferred`` first, then the system's python3.
    """
    for cand in (preferred, "/usr/bin/python3", "/usr/local/bin/python3"):
        found = shutil.which(cand)
        if found is None:
            continue
        stdlib = _stdlib_of(found)
        if stdlib is not None and _others_can_read(Path(found)) \
                and _others_can_read(stdlib / "os.py"):
            return found
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_leftover_dirs(base: Path) -> int:
    """Delete work directories of hosts that died without cleaning up; returns how many."""
    removed = 0
    for entry in base.glob(f"{_DIR_PREFIX}*"):
        m = re.match(rf"{_DIR_PREFIX}(\d+)-", entry.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


class ProcessSandbox(PooledSandbox):
    """Runs code in local subprocesses under rlimits; see the module docstring.

    Args:
        limits: Default limits of each run.
        pool: How many warm workers to keep.
        python: The interpreter that runs the code (default: this one; as root, one a
            throwaway uid can read, e.g. the system's ``/usr/bin/python3``).
        drop_privileges: As root, run jobs under throwaway uids (default). Without root it
            has no effect. Turning it off as root also loses the process limit (the kernel
            does not apply RLIMIT_NPROC to root), so a fork bomb runs until the wall time.
        isolate_network: As root, give every job an empty network namespace (default).
        work_root: Where worker directories go (default: the system temp dir).
        landlock: Confine jobs with Landlock: ``None`` (default) where the kernel has it,
            ``True`` to require it (:class:`SandboxError` if the kernel has none), ``False``
            never. :attr:`landlock_abi` says which ABI is in force (0: none).
    """

    def __init__(self, *, limits: Limits | None = None, pool: PoolConfig | None = None,
                 python: str | None = None, drop_privileges: bool = True,
                 isolate_network: bool = True, work_root: str | Path | None = None,
                 landlock: bool | None = None) -> None:
        super().__init__(limits=limits, pool=pool)
        self.landlock_abi = landlock_abi() if landlock is not False else 0
        if landlock and not self.landlock_abi:
            raise SandboxError("landlock=True, but this kernel has no Landlock (Linux 5.13+ "
                               "with CONFIG_SECURITY_LANDLOCK, and 'landlock' in the lsm= "
                               "list); pass landlock=None to run without it")
        self._runtime: RuntimeFiles | None = None
        wanted = python or sys.executable
        self.drop_uid = drop_privileges and os.geteuid() == 0
        chosen = interpreter_for_uid_drop(wanted) if self.drop_uid else shutil.which(wanted)
        if chosen is None and self.drop_uid:
            # No interpreter a stranger uid can read: keep the host's uid, and say so.
            self.drop_uid = False
            chosen = shutil.which(wanted)
        if chosen is None:
            raise UserError(f"python interpreter {wanted!r} not found; pass python= a path")
        self.python = chosen
        self.isolation: Isolation = "process" if self.drop_uid else "process-same-user"
        self.isolate_network = isolate_network and self.drop_uid
        self.work_root = Path(work_root or tempfile.gettempdir())

    async def _prepare(self) -> None:
        self.work_root.mkdir(parents=True, exist_ok=True)
        reap_leftover_dirs(self.work_root)
        await self._landlock_runtime()

    async def _landlock_runtime(self) -> RuntimeFiles | None:
        """The runtime files jobs may read under Landlock (None when it is off)."""
        if self.landlock_abi and self._runtime is None:
            try:
                self._runtime = await asyncio.to_thread(runtime_files, self.python)
            except SandboxError as exc:  # never run jobs less confined than promised
                raise SandboxError(f"{exc}; without that list the process sandbox cannot "
                                   f"confine jobs with Landlock (pass landlock=False to run "
                                   f"without it)") from None
        return self._runtime

    def _config(self, work: str, runtime: RuntimeFiles | None) -> str:
        rules = None
        if runtime is not None:
            rules = {"abi": self.landlock_abi, "write": [work], "devices": list(DEVICES),
                     "read": [str(p) for p in runtime.readable()]}
        return json.dumps({
            "container": False, "work": work, "per_job_dir": True,
            "drop_uid": self.drop_uid, "uid_base": UID_BASE, "unshare": self.isolate_network,
            "rlimit_memory": True, "rlimit_processes": True, "landlock": rules,
            "scratch": list(SCRATCH) if self.drop_uid else []})

    async def _new_worker(self, limits: Limits) -> Worker:
        del limits  # every limit of the process backend is applied per job
        runtime = await self._landlock_runtime()
        work = tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-", dir=self.work_root)
        os.chmod(work, 0o711)
        argv = [self.python, "-I", "-c", runner_source(), self._config(work, runtime)]
        worker = ProcessWorker(argv=argv, cwd=work, env=_RUNNER_ENV,
                               uid_base=UID_BASE if self.drop_uid else None)
        try:
            await worker.start(self.pool_config.start_timeout_s)
        except SandboxError:
            shutil.rmtree(work, ignore_errors=True)
            raise
        worker.on_exit = lambda: shutil.rmtree(work, ignore_errors=True)
        return worker
