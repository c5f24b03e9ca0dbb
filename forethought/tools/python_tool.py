"""The ``python`` tool: model-written code, run in a sandbox, with what a model needs back.

Registered as ``python`` (a :class:`ToolFactory`), so a recipe can say::

    tools:
      - name: python
        backend: auto          # docker when a daemon answers, else bubblewrap, else plain
        isolation: strict      # refuse the plain process fallback (default: best)
        wall_s: 10
        max_output_chars: 4000

and code can pass ``python_toolset(sandbox=...)`` to an :class:`~forethought.Agent`. The tool
is a :class:`Toolset`: the sandbox's warm pool starts and stops with the agent.

A call returns the code's stdout and the value of its last expression (like a notebook
cell). An exception, a syntax error, a non-zero exit or a stopped run is sent back to the
model as a retry (with the short traceback) so the planner can fix the code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

import pydantic

from forethought.exceptions import ModelRetry, SandboxError
from forethought.sandbox.base import (
    LIMIT_RANGES,
    STRONG_ISOLATION,
    ExecResult,
    IsolationPolicy,
    Limits,
    Sandbox,
    Session,
    warn_weak_isolation,
)
from forethought.sandbox.factory import Backend, make_sandbox
from forethought.sandbox.pool import PoolConfig
from forethought.sandbox.pooled import REPLY_GRACE_S
from forethought.sandbox.verify import UnitTestReport, UnitTestResult, run_tests
from forethought.tools.base import Tool, ToolFactory, Toolset

if TYPE_CHECKING:
    from forethought.runtime.context import RunContext

__all__ = ["PythonTool", "PythonToolFactory", "PythonToolOptions", "PythonToolset",
           "UnitTestReport", "UnitTestResult", "format_result", "python_tool",
           "python_toolset", "run_tests"]

DESCRIPTION = ("Run Python code in an isolated sandbox (no network, no access to the host) and "
               "return what it prints and the value of its last expression, like a notebook "
               "cell. Use it for exact arithmetic, counting, simulations and checking answers. "
               "Only the standard library is guaranteed to be available.")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return (f"{text[:head]}\n... [{len(text) - limit} characters cut] ...\n"
            f"{text[len(text) - tail:]}")


def format_result(result: ExecResult, *, max_chars: int = 4000) -> str:
    """The model-facing text of a successful run: stdout, then the last value."""
    parts: list[str] = []
    if result.stdout.strip():
        out = result.stdout.rstrip("\n")
        if result.stdout_truncated:
            out += f"\n[stdout cut: {result.stdout_bytes} bytes in all]"
        parts.append(out)
    if result.value is not None:
        parts.append(result.value)
    if result.note:
        parts.append(f"[{result.note}]")
    return _clip("\n".join(parts), max_chars) if parts else "(no output)"


def failure_message(result: ExecResult, *, max_chars: int = 4000) -> str:
    """Why a run failed, with the short traceback and the output before it."""
    if result.limit is not None:
        what = {"wall_time": "ran out of time", "cpu_time": "used up its CPU time",
                "memory": "ran out of memory", "file_size": "wrote a file larger than allowed",
                }[result.limit]
        head = f"the code {what} and was stopped"
    elif result.error is not None:
        head = f"the code raised {result.error.type}"
    elif result.exit_code is None:
        head = "the code's process was lost"
    else:
        head = f"the code exited with status {result.exit_code}"
    parts = [head + (f" ({result.note})" if result.note else "")]
    if result.error is not None and result.error.traceback.strip():
        parts.append(result.error.traceback.rstrip())
    elif result.stderr.strip():
        parts.append("stderr:\n" + result.stderr.strip()[-max_chars // 2:])
    if result.stdout.strip():
        parts.append("stdout before that:\n" + result.stdout.rstrip())
    return _clip("\n".join(parts), max_chars)


class PythonTool(Tool):
    """Runs the model's code in a sandbox (or a stateful session of one)."""

    name = "python"
    description = DESCRIPTION

    def __init__(self, sandbox: Sandbox, *, max_output_chars: int = 4000,
                 stateful: bool = False) -> None:
        self.parameters = {
            "type": "object",
            "properties": {"code": {"type": "string",
                                    "description": "Python source; the value of the last "
                                                   "expression is returned"}},
            "required": ["code"], "additionalProperties": False}
        self.sandbox = sandbox
        self.max_output_chars = max_output_chars
        self.stateful = stateful
        self.timeout_s = sandbox.limits.wall_s + REPLY_GRACE_S + 5
        self._session: Session | None = None

    async def call(self, args: dict[str, Any], ctx: RunContext | None = None) -> str:
        code = args.get("code")
        if set(args) - {"code"} or not isinstance(code, str):
            raise ModelRetry(f"python takes one argument, code (a string), got {sorted(args)}")
        if not code.strip():
            raise ModelRetry("the code is empty; write Python that prints or ends with the "
                             "value you need")
        result = await self._run(code)
        if not result.ok:
            raise ModelRetry(failure_message(result, max_chars=self.max_output_chars))
        return format_result(result, max_chars=self.max_output_chars)

    async def _run(self, code: str) -> ExecResult:
        if not self.stateful:
            return await self.sandbox.run(code)
        note = None
        if self._session is not None and not self._session.alive:
            note = "the previous session ended, so this one started empty"
            self._session = None
        if self._session is None:
            self._session = self.sandbox.session()
        result = await self._session.run(code)
        if note and not result.note:
            result.note = note
        return result

    async def close_session(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.aclose()


class PythonToolset(Toolset):
    """The ``python`` tool with its sandbox's lifecycle (started and stopped by the Agent).

    Over ``sandbox`` if one is given (its owner closes it; a sandbox belongs to one event
    loop, so use it with ``await agent.arun`` or ``async with agent``), else over a new
    sandbox of ``backend`` made at each start and closed at each stop.
    """

    name = "python"

    def __init__(self, sandbox: Sandbox | None = None, *, backend: Backend = "auto",
                 image: str | None = None, limits: Limits | None = None,
                 pool: PoolConfig | None = None, max_output_chars: int = 4000,
                 stateful: bool = False, isolation: IsolationPolicy = "best") -> None:
        self._given = sandbox
        self.isolation = isolation
        self._backend: dict[str, Any] = {"backend": backend, "image": image,
                                         "limits": limits, "pool": pool,
                                         "isolation": isolation}
        self.sandbox: Sandbox | None = sandbox
        self.max_output_chars = max_output_chars
        self.stateful = stateful
        self._tool: PythonTool | None = None

    async def start(self) -> None:
        if self.sandbox is None:
            self.sandbox = make_sandbox(**self._backend)
        if self.isolation == "strict" and self.sandbox.isolation not in STRONG_ISOLATION:
            raise SandboxError(f"isolation='strict' refuses a sandbox whose isolation is "
                               f"{self.sandbox.isolation!r}; give a DockerSandbox or a "
                               f"BwrapSandbox")
        await self.sandbox.start()
        warn_weak_isolation(self.sandbox.isolation, where="the python tool")
        self._tool = PythonTool(self.sandbox, max_output_chars=self.max_output_chars,
                                stateful=self.stateful)

    async def stop(self) -> None:
        tool, self._tool = self._tool, None
        if tool is not None:
            await tool.close_session()
        if self._given is None and self.sandbox is not None:
            sandbox, self.sandbox = self.sandbox, None
            await sandbox.aclose()

    def tools(self) -> list[Tool]:
        return [self._tool] if self._tool is not None else []


def _range(name: str) -> tuple[float, float]:
    return LIMIT_RANGES[name]


class PythonToolOptions(pydantic.BaseModel):
    """Options of the ``python`` tool in a recipe."""

    model_config = pydantic.ConfigDict(extra="forbid")

    backend: Backend = "auto"
    isolation: IsolationPolicy = pydantic.Field(
        default="best", description="'strict': a container or namespaces, never the plain "
                                    "process sandbox")
    image: str | None = pydantic.Field(default=None, description="Docker image (docker only)")
    pool_size: int = pydantic.Field(default=2, ge=0, le=64, strict=True,
                                    description="Warm workers kept ready, 0 to 64")
    max_workers: int = pydantic.Field(default=8, ge=1, le=256, strict=True,
                                      description="Live workers at most, 1 to 256")
    max_idle_s: float = pydantic.Field(
        default=300.0, gt=0, le=86_400,
        description="Seconds an idle worker is kept, above 0 and at most 86400")
    wall_s: float = pydantic.Field(
        default=10.0, ge=_range("wall_s")[0], le=3600,
        description="Seconds of real time per call, 0.01 to 3600")
    cpu_s: float | None = pydantic.Field(
        default=10.0, ge=_range("cpu_s")[0], le=3600,
        description="Seconds of CPU time per call, 0.01 to 3600 (null: no limit)")
    memory_mb: int = pydantic.Field(
        default=512, ge=_range("memory_mb")[0], le=_range("memory_mb")[1], strict=True,
        description="Memory per call in MiB, 32 to 262144 (256 GiB)")
    processes: int = pydantic.Field(
        default=64, ge=_range("processes")[0], le=4096, strict=True,
        description="Processes and threads per call, 1 to 4096")
    file_size_mb: int = pydantic.Field(
        default=64, ge=_range("file_size_mb")[0], le=_range("file_size_mb")[1], strict=True,
        description="Largest file the code may write, in MiB, 1 to 65536")
    max_output_chars: int = pydantic.Field(
        default=4000, ge=100, le=1_000_000, strict=True,
        description="Characters of output the model sees, 100 to 1,000,000")
    stateful: bool = pydantic.Field(default=False, description="keep variables between calls")

    @pydantic.model_validator(mode="after")
    def _pool_fits(self) -> Self:
        if self.pool_size > self.max_workers:
            raise ValueError(f"pool_size={self.pool_size} is larger than "
                             f"max_workers={self.max_workers}")
        return self


def python_toolset(sandbox: Sandbox | None = None, *, backend: Backend = "auto",
                   image: str | None = None, limits: Limits | None = None,
                   pool: PoolConfig | None = None, max_output_chars: int = 4000,
                   stateful: bool = False, isolation: IsolationPolicy = "best"
                   ) -> PythonToolset:
    """The python tool for an Agent: ``Agent(model, tools=[python_toolset()])``.

    Args:
        sandbox: Run in this sandbox (you close it); default: a new one per agent run.
        backend: ``"auto"`` (Docker when a daemon answers, else bubblewrap, else the plain
            process sandbox), ``"docker"``, ``"bwrap"`` or ``"process"``.
        image: The Docker image (docker only).
        limits: Limits of every call.
        pool: Warm workers to keep.
        max_output_chars: What the model sees of the output, at most.
        stateful: Keep variables between calls (one session per agent run).
        isolation: ``"strict"`` refuses to run code anywhere weaker than a container or
            namespaces (:class:`SandboxError` at start); ``"best"`` takes what there is.
    """
    return PythonToolset(sandbox, backend=backend, image=image, limits=limits, pool=pool,
                         max_output_chars=max_output_chars, stateful=stateful,
                         isolation=isolation)


class PythonToolFactory(ToolFactory):
    """Builds the ``python`` toolset from recipe options."""

    name = "python"
    Options = PythonToolOptions

    def build(self, options: pydantic.BaseModel) -> Toolset:
        assert isinstance(options, PythonToolOptions)
        limits = Limits(wall_s=options.wall_s, cpu_s=options.cpu_s,
                        memory_mb=options.memory_mb, processes=options.processes,
                        file_size_mb=options.file_size_mb)
        pool = PoolConfig(size=options.pool_size, max_workers=options.max_workers,
                          max_idle_s=options.max_idle_s)
        return python_toolset(backend=options.backend, image=options.image, limits=limits,
                              pool=pool, max_output_chars=options.max_output_chars,
                              stateful=options.stateful, isolation=options.isolation)


python_tool = PythonToolFactory()
"""The registered ``python`` tool factory (entry point ``forethought.tools:python``)."""
