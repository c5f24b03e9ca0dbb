"""Sandbox latency: cold start and warm pool, per backend, beside a fresh ``docker run``.

Backends: the plain process backend always; bubblewrap namespaces when ``bwrap`` can create
them here; Docker when a daemon answers. For each:

* ``cold``: a sandbox whose pool keeps no warm worker, so each ``print(1)`` starts a worker
  (a runner process, a bubblewrap sandbox, or a container) and runs in it;
* ``warm``: ``print(1)`` through a warm pool, one call after another;
* ``throughput``: executions per second with 2 and 8 concurrent callers (pool size = callers).

Warm calls and throughput blocks are interleaved across the backends (round by round), so
that they are measured under the same machine load and their ratios mean something. A
``summary`` line puts warm p50 and executions per second side by side.

Side by side, in the same run: ``docker run --rm`` of ``python3 -c 'print(1)'`` in the same
image with the same lockdown flags, once per call (the naive way to sandbox each call).
Targets: warm Docker p50 <= 30 ms, warm process p50 <= 15 ms, warm bwrap p50 <= 15 ms and
within 2x of the plain process backend, warm Docker >= 5x faster than a fresh
``docker run``.

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
    BwrapSandbox,
    DockerSandbox,
    PoolConfig,
    ProcessSandbox,
    Sandbox,
    bwrap_unavailable_reason,
    docker_unavailable_reason,
)

TARGET_WARM_MS = {"docker": 30.0, "bwrap": 15.0, "process": 15.0}
TARGET_BWRAP_RATIO = 2.0
TARGET_SPEEDUP = 5.0
CODE = "print(1)"
ROUNDS = 4
"""Throughput blocks per backend, interleaved."""


def make(backend: str, pool: PoolConfig) -> Sandbox:
    if backend == "docker":
        return DockerSandbox(pool=pool)
    if backend == "bwrap":
        return BwrapSandbox(pool=pool)
    return ProcessSandbox(pool=pool)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000,
            "mean_ms": statistics.fmean(ordered) * 1000}


async def timed_call(call: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    result = await call()
    elapsed = time.perf_counter() - start
    if getattr(result, "stdout", "1\n") != "1\n":
        raise RuntimeError(f"unexpected result {result!r}")
    return elapsed


async def cold(backend: str, runs: int) -> dict[str, Any]:
    sandbox = make(backend, PoolConfig(size=0, max_workers=1, max_uses=1))
    await sandbox.run(CODE)  # the daemon check, image lookup, runtime probe: once
    samples = [await timed_call(lambda: sandbox.run(CODE)) for _ in range(runs)]
    await sandbox.aclose()
    return {"kind": "latency", "backend": backend, "mode": "cold", "runs": runs,
            **percentiles(samples)}


async def warm(backends: list[str], runs: int) -> dict[str, dict[str, Any]]:
    """Warm latency of every backend, one call of each per round."""
    sandboxes = {b: make(b, PoolConfig(size=2, max_workers=2)) for b in backends}
    samples: dict[str, list[float]] = {b: [] for b in backends}
    try:
        for sandbox in sandboxes.values():
            await sandbox.start()
            for _ in range(10):
                await timed_call(lambda sb=sandbox: sb.run(CODE))
        for _ in range(runs):
            for backend, sandbox in sandboxes.items():
                samples[backend].append(await timed_call(lambda sb=sandbox: sb.run(CODE)))
        started = {b: sb.pool.started for b, sb in sandboxes.items()}  # type: ignore[attr-defined]
    finally:
        for sandbox in sandboxes.values():
            await sandbox.aclose()
    out: dict[str, dict[str, Any]] = {}
    for backend in backends:
        stats = percentiles(samples[backend])
        out[backend] = {"kind": "latency", "backend": backend, "mode": "warm", "runs": runs,
                        **stats, "workers_started": started[backend],
                        "target_p50_ms": TARGET_WARM_MS[backend],
                        "verdict": verdict(stats["p50_ms"], TARGET_WARM_MS[backend])}
    return out


async def throughput(backends: list[str], callers: int, runs: int) -> dict[str, dict[str, Any]]:
    """Executions per second of every backend with ``callers`` concurrent callers, measured
    in ``ROUNDS`` interleaved blocks."""
    sandboxes = {b: make(b, PoolConfig(size=callers, max_workers=callers)) for b in backends}
    done = dict.fromkeys(backends, 0)
    seconds = dict.fromkeys(backends, 0.0)
    per_caller = max(1, runs // callers // ROUNDS)

    async def caller(sandbox: Sandbox) -> None:
        for _ in range(per_caller):
            r = await sandbox.run(CODE)
            if r.stdout != "1\n":
                raise RuntimeError(f"unexpected result {r!r}")

    try:
        for sandbox in sandboxes.values():
            await sandbox.start()
            await asyncio.gather(*(sandbox.run(CODE) for _ in range(callers * 2)))
        for _ in range(ROUNDS):
            for backend, sandbox in sandboxes.items():
                start = time.perf_counter()
                await asyncio.gather(*(caller(sandbox) for _ in range(callers)))
                seconds[backend] += time.perf_counter() - start
                done[backend] += per_caller * callers
    finally:
        for sandbox in sandboxes.values():
            await sandbox.aclose()
    return {b: {"kind": "throughput", "backend": b, "callers": callers,
                "executions": done[b], "seconds": seconds[b],
                "executions_per_s": done[b] / seconds[b]} for b in backends}


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
    skip = {"docker": docker_unavailable_reason(), "bwrap": bwrap_unavailable_reason()}
    backends = ["process"] + [b for b in ("bwrap", "docker") if skip[b] is None]
    emit({"kind": "config", "runs": runs, "backends": backends,
          "docker_skipped": skip["docker"], "bwrap_skipped": skip["bwrap"], "code": CODE,
          "image": DEFAULT_IMAGE, "interleaved": True})
    for backend in backends:
        emit(round_floats(await cold(backend, max(10, runs // 4))))
    warm_records = await warm(backends, runs)
    for record in warm_records.values():
        emit(round_floats(record))
    rates: dict[int, dict[str, dict[str, Any]]] = {}
    for callers in (2, 8):
        rates[callers] = await throughput(backends, callers, runs * 2)
        for record in rates[callers].values():
            emit(round_floats(record))
    emit(round_floats({"kind": "summary", **{
        f"{b}_warm_p50_ms": warm_records[b]["p50_ms"] for b in backends}, **{
        f"{b}_executions_per_s_{c}": rates[c][b]["executions_per_s"]
        for c in (2, 8) for b in backends}}))
    if "bwrap" in warm_records:
        ratio = warm_records["bwrap"]["p50_ms"] / warm_records["process"]["p50_ms"]
        emit(round_floats({"kind": "ratio", "bwrap_warm_p50_ms": warm_records["bwrap"]["p50_ms"],
                           "process_warm_p50_ms": warm_records["process"]["p50_ms"],
                           "bwrap_over_process": ratio, "target": TARGET_BWRAP_RATIO,
                           "verdict": verdict(ratio, TARGET_BWRAP_RATIO)}))
    if "docker" in warm_records:
        warm_docker = warm_records["docker"]["p50_ms"]
        baseline = docker_run(max(10, runs // 4))
        if baseline is not None:
            emit(round_floats(baseline))
            speedup = baseline["p50_ms"] / warm_docker
            emit(round_floats({"kind": "speedup", "warm_docker_p50_ms": warm_docker,
                               "docker_run_p50_ms": baseline["p50_ms"], "speedup": speedup,
                               "target": TARGET_SPEEDUP,
                               "verdict": "pass" if speedup >= TARGET_SPEEDUP else "fail"}))


if __name__ == "__main__":
    asyncio.run(main())
