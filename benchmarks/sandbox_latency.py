"""Sandbox latency: cold start and warm pool, per backend, beside a fresh ``docker run``.

For each backend (process always; Docker when a daemon answers):

* ``cold``: a sandbox whose pool keeps no warm worker, so each ``print(1)`` starts a worker
  (a runner process, or a container) and runs in it;
* ``warm``: ``print(1)`` through a warm pool, one call after another;
* ``throughput``: executions per second with 2 and 8 concurrent callers (pool size = callers).

Side by side, in the same run: ``docker run --rm`` of ``python3 -c 'print(1)'`` in the same
image with the same lockdown flags, once per call (the naive way to sandbox each call).
Targets: warm Docker p50 <= 30 ms, warm process p50 <= 15 ms, warm Docker >= 5x faster than
a fresh ``docker run``.

Run: ``uv run python benchmarks/sandbox_latency.py [--quick]``
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import emit, machine, parse_args, round_floats, verdict

from forethought.sandbox import (
    DEFAULT_IMAGE,
    DockerSandbox,
    PoolConfig,
    ProcessSandbox,
    Sandbox,
    docker_unavailable_reason,
)

TARGET_WARM_MS = {"docker": 30.0, "process": 15.0}
TARGET_SPEEDUP = 5.0
CODE = "print(1)"


def make(backend: str, pool: PoolConfig) -> Sandbox:
    return DockerSandbox(pool=pool) if backend == "docker" else ProcessSandbox(pool=pool)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000,
            "mean_ms": statistics.fmean(ordered) * 1000}


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    samples: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        result = await call()
        samples.append(time.perf_counter() - start)
        if getattr(result, "stdout", "1\n") != "1\n":
            raise RuntimeError(f"unexpected result {result!r}")
    return samples


async def cold(backend: str, runs: int) -> dict[str, Any]:
    sandbox = make(backend, PoolConfig(size=0, max_workers=1, max_uses=1))
    await sandbox.run(CODE)  # the daemon check, image lookup and leftover sweep: once
    samples = await timed(runs, lambda: sandbox.run(CODE))
    await sandbox.aclose()
    return {"kind": "latency", "backend": backend, "mode": "cold", "runs": runs,
            **percentiles(samples)}


async def warm(backend: str, runs: int) -> dict[str, Any]:
    async with make(backend, PoolConfig(size=2, max_workers=2)) as sandbox:
        await timed(10, lambda: sandbox.run(CODE))
        samples = await timed(runs, lambda: sandbox.run(CODE))
        started = sandbox.pool.started  # type: ignore[attr-defined]
    stats = percentiles(samples)
    return {"kind": "latency", "backend": backend, "mode": "warm", "runs": runs, **stats,
            "workers_started": started, "target_p50_ms": TARGET_WARM_MS[backend],
            "verdict": verdict(stats["p50_ms"], TARGET_WARM_MS[backend])}


async def throughput(backend: str, callers: int, runs: int) -> dict[str, Any]:
    async with make(backend, PoolConfig(size=callers, max_workers=callers)) as sandbox:
        await asyncio.gather(*(sandbox.run(CODE) for _ in range(callers * 2)))
        per_caller = runs // callers

        async def caller() -> None:
            for _ in range(per_caller):
                r = await sandbox.run(CODE)
                if r.stdout != "1\n":
                    raise RuntimeError(f"unexpected result {r!r}")

        start = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        elapsed = time.perf_counter() - start
    return {"kind": "throughput", "backend": backend, "callers": callers,
            "executions": per_caller * callers, "seconds": elapsed,
            "executions_per_s": per_caller * callers / elapsed}


def docker_run(runs: int) -> dict[str, Any] | None:
    cli = shutil.which("docker")
    if cli is None:
        return None
    argv = [cli, "run", "--rm", "--network", "none", "--read-only", "--user", "65534:65534",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--memory", "576m",
            "--pids-limit", "68", DEFAULT_IMAGE, "python3", "-I", "-c", CODE]
    samples: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        samples.append(time.perf_counter() - start)
        if out != "1\n":
            raise RuntimeError(f"docker run printed {out!r}")
    return {"kind": "latency", "backend": "docker", "mode": "docker_run", "runs": runs,
            **percentiles(samples)}


async def main() -> None:
    args = parse_args(__doc__ or "")
    runs = 20 if args.quick else 200
    emit(machine())
    skip = docker_unavailable_reason()
    backends = ["process"] if skip else ["process", "docker"]
    emit({"kind": "config", "runs": runs, "backends": backends, "docker_skipped": skip,
          "code": CODE, "image": DEFAULT_IMAGE})
    warm_docker: float | None = None
    for backend in backends:
        emit(round_floats(await cold(backend, runs)))
        record = await warm(backend, runs)
        emit(round_floats(record))
        if backend == "docker":
            warm_docker = record["p50_ms"]
        for callers in (2, 8):
            emit(round_floats(await throughput(backend, callers, runs * 2)))
    if warm_docker is not None:
        baseline = docker_run(runs)
        if baseline is not None:
            emit(round_floats(baseline))
            speedup = baseline["p50_ms"] / warm_docker
            emit(round_floats({"kind": "speedup", "warm_docker_p50_ms": warm_docker,
                               "docker_run_p50_ms": baseline["p50_ms"], "speedup": speedup,
                               "target": TARGET_SPEEDUP,
                               "verdict": "pass" if speedup >= TARGET_SPEEDUP else "fail"}))


if __name__ == "__main__":
    asyncio.run(main())
