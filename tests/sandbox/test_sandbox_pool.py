"""The warm pool: reuse, replacement, limits on size and idle time, and never a hang."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest
from sandbox_support import (
    BACKENDS,
    make_sandbox,
    our_containers,
    sandbox_uid_processes,
    stray_processes,
)

from forethought.exceptions import SandboxError, UserError
from forethought.sandbox import PoolConfig, ProcessSandbox, WarmPool
from forethought.sandbox._wire import ExecReply
from forethought.sandbox.worker import ProcessWorker, Worker


class FakeWorker(Worker):
    """A worker that answers every request with ``{"clean": clean}`` after ``delay``."""

    made = 0

    def __init__(self, *, clean: bool = True, delay: float = 0.0) -> None:
        super().__init__()
        FakeWorker.made += 1
        self.number = FakeWorker.made
        self.clean, self.delay = clean, delay
        self.stopped = False

    def describe(self) -> str:
        return f"fake worker {self.number}"

    async def start(self, wait_s: float) -> None:
        del wait_s

    async def _send(self, data: bytes, payload: bytes = b"") -> None:
        del data, payload

    async def _read_exact(self, n: int) -> bytes:
        raise AssertionError("not used")

    async def request(self, frame: Any, wait_s: float, payload: bytes = b"") -> dict[str, Any]:
        await asyncio.sleep(self.delay)
        return {"clean": self.clean}

    async def _terminate(self) -> None:
        self.stopped = True


def fake_pool(config: PoolConfig, **worker: Any) -> tuple[WarmPool, list[FakeWorker]]:
    made: list[FakeWorker] = []

    async def factory() -> Worker:
        await asyncio.sleep(0.01)
        w = FakeWorker(**worker)
        made.append(w)
        return w

    return WarmPool(factory, config), made


async def test_workers_are_reused_until_max_uses() -> None:
    pool, made = fake_pool(PoolConfig(size=1, max_workers=2, max_uses=3))
    await pool.start()
    seen = []
    for _ in range(6):
        w = await pool.acquire()
        seen.append(w)
        await pool.release(w, reusable=True)
    await asyncio.sleep(0.05)
    assert [made.index(w) for w in seen] == [0, 0, 0, 1, 1, 1]  # type: ignore[arg-type]
    assert made[0].stopped and made[1].stopped  # each served max_uses calls
    assert len(made) == 3 and not made[2].stopped  # the warm replacement
    await pool.aclose()
    assert all(w.stopped for w in made)


async def test_a_dirty_worker_is_never_handed_out_again() -> None:
    pool, made = fake_pool(PoolConfig(size=1, max_workers=1))
    w1 = await pool.acquire()
    await pool.release(w1, reusable=False)
    w2 = await pool.acquire()
    assert w2 is not w1 and made[0] is w1 and made[0].stopped
    await pool.release(w2, reusable=True)
    await pool.aclose()
    assert len(made) == 2


async def test_callers_beyond_max_workers_wait_for_a_free_worker() -> None:
    pool, made = fake_pool(PoolConfig(size=0, max_workers=2))

    async def call() -> float:
        w = await pool.acquire()
        await asyncio.sleep(0.05)
        await pool.release(w, reusable=True)
        return time.perf_counter()

    start = time.perf_counter()
    ends = await asyncio.gather(*(call() for _ in range(6)))
    assert len(made) == 2 and pool.live == 2
    assert max(ends) - start >= 0.15  # three waves of two
    await pool.aclose()


async def test_idle_workers_are_retired_and_the_pool_refills_on_demand() -> None:
    pool, made = fake_pool(PoolConfig(size=2, max_workers=4, max_idle_s=0.1))
    await pool.start()
    assert pool.idle == 2
    await asyncio.sleep(0.35)
    assert pool.idle == 0 and pool.live == 0 and all(w.stopped for w in made)
    w = await pool.acquire()
    await pool.release(w, reusable=True)
    await asyncio.sleep(0.05)
    assert pool.idle == 3  # the refill started two while the cold one was busy
    await pool.aclose()


async def test_a_closed_pool_refuses_work() -> None:
    pool, _ = fake_pool(PoolConfig(size=1))
    await pool.aclose()
    with pytest.raises(SandboxError, match="the sandbox was closed"):
        await pool.acquire()


def test_pool_config_is_validated() -> None:
    with pytest.raises(UserError, match=r"pool size=3, max_workers=2: need"):
        PoolConfig(size=3, max_workers=2)
    with pytest.raises(UserError, match="must be positive"):
        PoolConfig(max_uses=0)


async def test_a_worker_that_stops_answering_is_killed_with_a_typed_error() -> None:
    # A "runner" that says it is ready, then never answers.
    silent = ("import json, struct, sys, time\n"
              "d = json.dumps({'ready': True, 'pid': 1, 'python': '3'}).encode()\n"
              "sys.stdout.buffer.write(struct.pack('>I', len(d)) + d)\n"
              "sys.stdout.flush()\ntime.sleep(60)\n")
    worker = ProcessWorker(argv=[sys.executable, "-c", silent], cwd=".", env={},
                           uid_base=None)
    await worker.start(10)
    started = time.perf_counter()
    with pytest.raises(SandboxError, match=r"failed during a request: no answer in time; "
                                           r"it was killed"):
        await worker.request({"op": "exec"}, wait_s=0.5)
    assert time.perf_counter() - started < 3 and not worker.alive
    assert worker.proc is not None and worker.proc.returncode is not None


async def test_a_reply_of_the_wrong_shape_is_a_sandbox_error_and_kills_the_worker() -> None:
    # A "runner" that answers every request with a stdout that is not a string.
    liar = ("import json, struct, sys\n"
            "def send(obj):\n"
            "    d = json.dumps(obj).encode()\n"
            "    sys.stdout.buffer.write(struct.pack('>I', len(d)) + d)\n"
            "    sys.stdout.flush()\n"
            "send({'ready': True, 'pid': 1, 'python': '3'})\n"
            "while sys.stdin.buffer.read(4):\n"
            "    send({'stdout': 5, 'clean': True, 'surprise': 1})\n")
    worker = ProcessWorker(argv=[sys.executable, "-c", liar], cwd=".", env={}, uid_base=None)
    await worker.start(10)
    with pytest.raises(SandboxError, match=r"sent a reply that does not match the sandbox "
                                           r"protocol \(stdout: Input should be a valid "
                                           r"string; surprise: Extra inputs are not "
                                           r"permitted\); it was killed and is replaced"):
        await worker.call({"op": "exec"}, ExecReply, 5)
    assert not worker.alive


async def test_a_runner_that_cannot_start_is_a_typed_error() -> None:
    sandbox = ProcessSandbox(python=sys.executable, landlock=False)
    sandbox.python = "/bin/false"
    with pytest.raises(SandboxError, match="did not start: it exited"):
        await sandbox.run("1")
    await sandbox.aclose()


async def test_jobs_never_run_unconfined_when_landlock_cannot_be_set_up() -> None:
    sandbox = ProcessSandbox(python=sys.executable)
    if not sandbox.landlock_abi:
        pytest.skip("this kernel has no Landlock")
    sandbox.python = "/bin/false"  # its runtime files cannot be listed
    with pytest.raises(SandboxError, match=r"could not probe interpreter '/bin/false' .*the "
                                           r"process sandbox cannot confine jobs with "
                                           r"Landlock \(pass landlock=False"):
        await sandbox.run("1")
    await sandbox.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_concurrent_callers_share_the_warm_pool(backend: str) -> None:
    sandbox = make_sandbox(backend, pool=PoolConfig(size=2, max_workers=4))
    async with sandbox:
        results = await asyncio.gather(*(sandbox.run(f"import os\n({i}, os.listdir('.'))")
                                         for i in range(24)))
        assert [r.value for r in results] == [f"({i}, [])" for i in range(24)]
        pool = sandbox.pool  # type: ignore[attr-defined]
        assert pool.started <= 4
    assert pool.live == 0 and sandbox_uid_processes() == [] and our_containers() == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_nothing_of_one_job_reaches_the_next_on_the_same_worker(backend: str) -> None:
    sandbox = make_sandbox(backend, pool=PoolConfig(size=1, max_workers=1))
    async with sandbox:
        first = await sandbox.run(
            "import os, subprocess, sys, fractions\n"
            "SECRET = 'job-one-data'\n"
            "open('notes.txt', 'w').write(SECRET)\n"
            "os.environ['LEFT'] = SECRET\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],\n"
            "                 start_new_session=True)\n"
            "os.getpid()")
        second = await sandbox.run(
            "import os, sys\n"
            "(os.listdir('.'), 'SECRET' in globals(), 'fractions' in sys.modules,\n"
            " 'LEFT' in os.environ)")
        assert first.ok and second.ok, (first, second)
        assert second.value == "([], False, False, False)"
        assert sandbox.pool.started == 1  # type: ignore[attr-defined]
        assert stray_processes(sandbox) == []  # the background sleeper was killed


def test_a_sandbox_belongs_to_the_event_loop_that_started_it() -> None:
    sandbox = ProcessSandbox(pool=PoolConfig(size=1))

    async def first() -> None:
        assert (await sandbox.run("1")).value == "1"

    async def second() -> None:
        with pytest.raises(SandboxError, match="started in another event loop"):
            await sandbox.run("1")

    asyncio.run(first())
    asyncio.run(second())
    asyncio.run(sandbox.aclose())
