"""The sandbox interface: run untrusted code under limits, get an :class:`ExecResult` back.

Every backend (Docker containers, bubblewrap namespaces, plain processes) implements
:class:`Sandbox`; the rest of forethought only sees this module. A sandbox is honest about
how isolated it is (:attr:`Sandbox.isolation`), and its failures are results or
:class:`SandboxError`, never a hang.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

from forethought.exceptions import UserError

Isolation = Literal["container", "namespace", "process", "process-same-user"]
"""How isolated a sandbox's code is, strongest first.

``container``: a Docker container (no network, read-only root holding only the sandbox
image, no capabilities, cgroup limits). ``namespace``: bubblewrap (new user, mount, PID,
network, IPC and UTS namespaces; the host's filesystem reduced to the Python runtime,
read-only; private size-capped tmpfs for every writable path; rlimits). ``process``: a
plain subprocess under a throwaway uid (the host runs as root) with rlimits, no network, and
(where the kernel has Landlock) no access to files outside the Python runtime and its work
dir. ``process-same-user``: a plain subprocess under the host's own uid with rlimits; without
Landlock it can read whatever the host user can and reach the network."""

IsolationPolicy = Literal["best", "strict"]
"""``best``: the strongest backend available, down to the plain process backend (with a
:class:`WeakIsolationWarning`). ``strict``: a container or namespaces, or refuse to run."""

STRONG_ISOLATION: tuple[Isolation, ...] = ("container", "namespace")
"""The levels ``isolation="strict"`` accepts."""

Language = Literal["python", "shell"]
LimitName = Literal["wall_time", "cpu_time", "memory", "file_size"]


LIMIT_RANGES: dict[str, tuple[float, float]] = {
    "wall_s": (0.01, 86_400), "cpu_s": (0.01, 86_400), "memory_mb": (32, 262_144),
    "processes": (1, 65_536), "output_bytes": (0, 1 << 30), "file_size_mb": (1, 65_536),
    "disk_mb": (1, 65_536), "open_files": (16, 65_536), "output_files_mb": (0, 4096)}
"""The least and most each :class:`Limits` field may be: wide enough for any real job (a
day of time, 256 GiB of memory), narrow enough to catch a typo (``memory_mb: 1e23``) before
the kernel or Docker does."""


@dataclass(kw_only=True, frozen=True)
class Limits:
    """What one run may use. Every limit is enforced by the kernel or the runner, not by
    asking the code nicely.
    """

    wall_s: float = 10.0
    """Seconds of real time before the run is killed."""
    cpu_s: float | None = 10.0
    """Seconds of CPU time (RLIMIT_CPU) before the run is killed; ``None`` for no limit."""
    memory_mb: int = 512
    """Memory: the container's cgroup limit (Docker), else RLIMIT_AS of each process. The
    namespace backend also caps each of its scratch tmpfs (``/tmp``, ``/run``, ``/dev/shm``...)
    at an eighth of it."""
    processes: int = 64
    """Processes and threads: the pids cgroup (Docker), else RLIMIT_NPROC."""
    output_bytes: int = 1_000_000
    """Bytes kept of stdout and of stderr each; the rest is counted and dropped."""
    file_size_mb: int = 64
    """Largest file the code may write (RLIMIT_FSIZE)."""
    disk_mb: int = 256
    """Size of the writable work dir (a tmpfs; Docker and namespace backends)."""
    open_files: int = 256
    """Open file descriptors (RLIMIT_NOFILE)."""
    output_files_mb: int = 16
    """Bytes of requested output files returned, in all."""

    def __post_init__(self) -> None:
        for name, (low, high) in LIMIT_RANGES.items():
            value = getattr(self, name)
            if value is None and name == "cpu_s":
                continue
            integral = name not in ("wall_s", "cpu_s")
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or (integral and not isinstance(value, int)):
                raise UserError(f"Limits.{name}={value!r} must be "
                                f"{'an integer' if integral else 'a number'}")
            if value < low:
                raise UserError(f"Limits.{name}={value!r} is too small; use at least {low}")
            if not value <= high:  # also refuses NaN
                raise UserError(f"Limits.{name}={value!r} is too large; use at most {high:,}")

    def to_wire(self) -> dict[str, Any]:
        """The limits as the in-sandbox runner reads them."""
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s,
                "memory_bytes": self.memory_mb << 20, "processes": self.processes,
                "output_bytes": self.output_bytes, "file_size_bytes": self.file_size_mb << 20,
                "open_files": self.open_files, "output_files_bytes": self.output_files_mb << 20}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True, frozen=True)
class PythonError:
    """An exception the code did not catch, with a traceback of the code's own frames."""

    type: str
    """The exception class name, e.g. ``"ZeroDivisionError"`` or ``"SyntaxError"``."""
    message: str
    traceback: str
    """Short: only frames of the code that ran, none of the sandbox's."""
    line: int | None = None
    """Line of the code where it was raised, when known."""


@dataclass(kw_only=True)
class ExecResult:
    """What happened when code ran in a sandbox."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    """0 on success; negative for a signal (-9: killed); ``None`` when unknown."""
    duration_s: float = 0.0
    timed_out: bool = False
    """Stopped by the wall-time or CPU-time limit."""
    killed_for_memory: bool = False
    """Stopped by the memory limit (an out-of-memory kill or a MemoryError it did not catch)."""
    limit: LimitName | None = None
    """Which limit stopped the code, if one did."""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_bytes: int = 0
    """Bytes written to stdout in all (kept or not)."""
    stderr_bytes: int = 0
    value: str | None = None
    """``repr`` of the value of the code's last expression (Python), like a notebook."""
    error: PythonError | None = None
    files: dict[str, bytes] = field(default_factory=dict[str, bytes])
    """Requested output files that were found."""
    missing_files: dict[str, str] = field(default_factory=dict[str, str])
    """Requested output files that could not be returned, with the reason."""
    cpu_s: float | None = None
    max_rss_mb: float | None = None
    isolation: Isolation = "process"
    note: str | None = None
    """Set when the sandbox itself had to step in (a worker lost, a session that ended)."""

    @property
    def ok(self) -> bool:
        """Ran to the end with exit code 0."""
        return self.exit_code == 0 and not self.timed_out and self.error is None


class WeakIsolationWarning(UserWarning):
    """Untrusted code is about to run in the plain process sandbox (no container, no
    namespaces).
    """


_warned: set[str] = set()


def warn_weak_isolation(isolation: Isolation, *, where: str) -> None:
    """Warn once per process and isolation level that model-written code runs in the plain
    process sandbox (neither a container nor namespaces).
    """
    if isolation in STRONG_ISOLATION or isolation in _warned:
        return
    _warned.add(isolation)
    detail = ("under a throwaway uid with resource limits" if isolation == "process" else
              "under YOUR user id with resource limits: without Landlock it can read your "
              "files and reach the network")
    warnings.warn(WeakIsolationWarning(
        f"{where} runs model-written code in a process sandbox ({isolation!r}), {detail}. "
        "Install bubblewrap (apt-get install bubblewrap) for namespace isolation, or start "
        "a Docker daemon (and build the image: python -m forethought.sandbox.image) for "
        "container isolation; isolation='strict' refuses to run without one of them."),
        stacklevel=3)


class Session(ABC):
    """A stateful Python session: variables, imports and files persist between calls,
    like a notebook kernel. Use it as ``async with sandbox.session() as s: await s.run(...)``.
    """

    @property
    @abstractmethod
    def alive(self) -> bool:
        """False once the session ended (closed, or its process was killed by a limit)."""

    @abstractmethod
    async def run(self, code: str, *, limits: Limits | None = None) -> ExecResult:
        """Run one cell. Raises :class:`SandboxError` once the session has ended."""

    @abstractmethod
    async def aclose(self) -> None:
        """End the session (safe to call twice)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()


class Sandbox(ABC):
    """Runs untrusted code. Backends: :class:`DockerSandbox`, :class:`BwrapSandbox`,
    :class:`ProcessSandbox`.

    Use as ``async with`` (or call :meth:`start` / :meth:`aclose`): starting warms the pool
    of workers so that calls do not pay a cold start.
    """

    isolation: Isolation
    limits: Limits

    async def start(self) -> None:  # noqa: B027 - optional warm-up, empty by default
        """Acquire resources ahead of the first call (warm workers)."""

    @abstractmethod
    async def run(self, code: str, *, language: Language = "python", stdin: str = "",
                  files: Mapping[str, str | bytes] | None = None,
                  env: Mapping[str, str] | None = None, limits: Limits | None = None,
                  output_files: Sequence[str] = ()) -> ExecResult:
        """Run ``code`` once in a clean environment.

        Args:
            code: Python source, or a ``/bin/sh`` command line for ``language="shell"``.
            language: ``"python"`` or ``"shell"``.
            stdin: Text fed to the code's standard input: at most ``MAX_STDIN_BYTES``
                (128 MiB) once UTF-8 encoded; more raises :class:`UserError` at once.
            files: Files to place in the work dir first (relative path -> content).
            env: Environment variables (the host's are never passed on).
            limits: Overrides the sandbox's default :class:`Limits`.
            output_files: Relative paths to read back from the work dir afterwards.
        """

    @abstractmethod
    def session(self, *, limits: Limits | None = None,
                files: Mapping[str, str | bytes] | None = None,
                env: Mapping[str, str] | None = None) -> Session:
        """A stateful Python session (a notebook-like kernel) holding one worker."""

    @abstractmethod
    async def aclose(self) -> None:
        """Stop every worker this sandbox started (safe to call twice)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} isolation={self.isolation!r}>"
