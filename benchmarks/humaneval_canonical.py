"""HumanEval canonical solutions: all 164 pass their own tests in each sandbox backend.

A correctness check of ``run_tests`` and the sandboxes at the scale of a code benchmark:
each problem's ``prompt + canonical_solution`` runs against its ``check(candidate)`` tests
(split per assert) in a warm pool of 4 workers, 4 problems at a time. Target: 164/164 per
backend; the total time is reported beside it.

Data: ../shared/data/humaneval/HumanEval.jsonl.gz (MIT, see its LICENSE).
Run: ``uv run python benchmarks/humaneval_canonical.py [--quick]``
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path
from typing import Any

from _common import emit, machine, parse_args, round_floats

from forethought.sandbox import (
    DockerSandbox,
    PoolConfig,
    ProcessSandbox,
    Sandbox,
    docker_unavailable_reason,
    run_tests,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "humaneval"
CONCURRENCY = 4


def problems() -> list[dict[str, Any]]:
    with gzip.open(DATA / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


async def evaluate(sandbox: Sandbox, items: list[dict[str, Any]]) -> dict[str, Any]:
    gate = asyncio.Semaphore(CONCURRENCY)
    failures: list[str] = []
    tests = 0

    async def one(p: dict[str, Any]) -> None:
        nonlocal tests
        async with gate:
            report = await run_tests(sandbox, p["prompt"] + p["canonical_solution"],
                                     p["test"], entry_point=p["entry_point"])
        tests += report.total
        if not report.all_passed:
            failures.append(f"{p['task_id']}: {report.summary()}")

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in items))
    elapsed = time.perf_counter() - start
    return {"passed": len(items) - len(failures), "total": len(items), "tests": tests,
            "seconds": elapsed, "per_problem_ms": elapsed / len(items) * 1000,
            "failures": failures[:5]}


async def main() -> None:
    args = parse_args(__doc__ or "")
    items = problems()[:20] if args.quick else problems()
    emit(machine())
    skip = docker_unavailable_reason()
    backends = ["process"] if skip else ["process", "docker"]
    emit({"kind": "config", "problems": len(items), "backends": backends,
          "docker_skipped": skip, "concurrency": CONCURRENCY})
    for backend in backends:
        pool = PoolConfig(size=CONCURRENCY, max_workers=CONCURRENCY)
        sandbox: Sandbox = DockerSandbox(pool=pool) if backend == "docker" else \
            ProcessSandbox(pool=pool)
        async with sandbox:
            result = await evaluate(sandbox, items)
        emit(round_floats({"kind": "humaneval_canonical", "backend": backend,
                           "isolation": sandbox.isolation, **result,
                           "target": f"{len(items)}/{len(items)}",
                           "verdict": "pass" if result["passed"] == len(items) else "fail"}))


if __name__ == "__main__":
    asyncio.run(main())
