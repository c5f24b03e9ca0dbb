"""A cancelled caller (a deadline, a cancelled agent) kills its job at once, in every backend.

Whatever awaits the job (``Sandbox.run``, a session cell, ``run_tests``, the ``python``
tool), cancelling the awaiting task must stop the job's processes promptly without blocking
the event loop, replace the worker, and leave the pool clean for the next job.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
import pytest_asyncio
from sandbox_support import BACKENDS, healthy, host_processes_with, make_sandbox

from forethought.exceptions import SandboxError
from forethought.sandbox import Limits, PoolConfig, Sandbox, Session, run_tests
from forethought.tools.python_tool import PythonTool

pytestmark = pytest.mark.asyncio(loop_scope="module")

KINDS = ["run", "session-cell", "run_tests", "python-tool"]


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    sb = make_sandbox(request.param, limits=Limits(wall_s=60, cpu_s=60),
                      pool=PoolConfig(size=1, max_workers=2))
    async with sb:
        yield sb


async def start_job(sandbox: Sandbox, kind: str, marker: str,
                    ) -> tuple[Awaitable[Any], Session | None]:
    """A job of ``kind`` that runs ``sleep <marker>`` (findable on the host by its argv)."""
    code = f"import os\nos.system('sleep {marker}')"
    if kind == "run":
        return sandbox.run(f"sleep {marker}", language="shell"), None
    if kind == "session-cell":
        session = sandbox.session()
        assert (await session.run("x = 1")).ok
        return session.run(code), session
    if kind == "run_tests":
        return run_tests(sandbox, code + "\ndef f():\n    return 1", ["assert f() == 1"]), None
    return PythonTool(sandbox).call({"code": code}), None


async def wait_for(condition: Any, within: float, what: str) -> float:
    started = time.perf_counter()
    while not condition():
        assert time.perf_counter() - started < within, f"{what} after {within} s"
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


@pytest.mark.parametrize("kind", KINDS)
async def test_a_cancelled_caller_kills_the_job_and_the_pool_stays_clean(
        sandbox: Sandbox, kind: str) -> None:
    marker = f"{3000 + secrets.randbelow(5000)}.{secrets.randbelow(10**6):06d}"
    job, session = await start_job(sandbox, kind, marker)
    task = asyncio.ensure_future(job)
    await wait_for(lambda: host_processes_with(marker), 15, "the job never started")
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - t - 0.005)

    tick = asyncio.create_task(ticker())
    cancelled = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gone_after = time.perf_counter() - cancelled
    tick.cancel()  # (the scans of /proc below block the loop themselves)
    gone_after += await wait_for(lambda: not host_processes_with(marker), 10,
                                 "the job still runs")
    teardown = 5.0 if sandbox.isolation == "container" else 1.0  # removing a container
    assert gone_after < teardown, f"the job ran on for {gone_after:.2f} s after the cancel"
    assert max(lags, default=0) < 0.1, f"the event loop stalled for {max(lags):.3f} s"
    if session is not None:
        assert not session.alive
        with pytest.raises(SandboxError, match="the session has ended"):
            await session.run("x")
    await healthy(sandbox)
    pool = sandbox.pool  # type: ignore[attr-defined]
    await wait_for(lambda: pool.live == pool.idle >= 1, 30, "the pool did not settle")
