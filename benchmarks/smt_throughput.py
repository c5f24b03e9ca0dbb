"""Throughput of the ``smt`` tool on calendar scheduling, with every answer checked.

Data: ``../shared/data/natural_plan/calendar_scheduling_100_constraints.json``: 100 NATURAL
PLAN calendar-scheduling instances as structured constraints (meeting duration in hours, busy
ranges per weekday in decimal hours; written by the calendar-planning repo's authors) with
NATURAL PLAN's golden plans. Each instance becomes three JSON constraint problems, solved
through :func:`forethought.tools.smt.asolve_smt` exactly as the tool does (validation, a
fresh z3 context in a worker thread, compile, solve):

- ``earliest``: a day index and a start minute inside working hours (9:00-17:00) that avoid
  every busy range, minimising ``day * 1440 + start``. Checked against a minute-by-minute
  sweep for the earliest free slot, and compared with NATURAL PLAN's golden plan (one valid
  slot, not always the earliest: the count of exact matches is reported, and the answer must
  never be later than the golden slot).
- ``feasible``: the same without the objective; the answer is checked against the
  constraints by plain Python.
- ``infeasible``: the meeting made 30 minutes longer than the longest free window (found by
  a minute-by-minute sweep), with ``unsat_core``; the answer must be ``unsat``.

The ``earliest`` problems are also solved from SMT-LIB text, to compare the two front ends.
Figures: problems per second solved one after another and ``nproc`` at a time (z3 releases
the GIL while it searches, so the cores can work in parallel; compiling the constraints is
Python and holds it), median of the repetitions.

Run: ``uv run python benchmarks/smt_throughput.py [--quick]``
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import emit, machine, parse_args, round_floats

from forethought.tools.smt import SmtResult, asolve_smt

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "natural_plan" / \
    "calendar_scheduling_100_constraints.json"
WEEK = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
DAY_START, DAY_END = 9 * 60, 17 * 60
GOLDEN = re.compile(r"(\w+day), (\d+):(\d+) - (\d+):(\d+)")

Busy = dict[int, list[tuple[int, int]]]
"""Day index -> busy (start, end) minute ranges."""


def minutes(hours: float) -> int:
    return round(hours * 60)


def read_instance(raw: dict[str, Any]) -> tuple[list[str], int, Busy]:
    ranges = raw["constraints"]["disallowed_ranges"]
    days = [d for d in WEEK if any(r["day"] == d for r in ranges)]
    busy: Busy = {i: [] for i in range(len(days))}
    for r in ranges:
        busy[days.index(r["day"])].append((minutes(r["start"]), minutes(r["end"])))
    return days, minutes(raw["constraints"]["meeting_duration"]), busy


def free(busy: Busy, day: int, start: int, duration: int) -> bool:
    return start >= DAY_START and start + duration <= DAY_END and all(
        start + duration <= s or start >= e for s, e in busy[day])


def longest_window(busy: Busy) -> int:
    best = 0
    for day in busy:
        run = 0
        for minute in range(DAY_START, DAY_END):
            run = run + 1 if free(busy, day, minute, 1) else 0
            best = max(best, run)
    return best


def problem(days: list[str], duration: int, busy: Busy, *, earliest: bool) -> dict[str, Any]:
    constraints = [f"day != {d} or start + {duration} <= {s} or start >= {e}"
                   for d, ranges in busy.items() for s, e in ranges]
    out: dict[str, Any] = {
        "variables": {"day": {"type": "int", "min": 0, "max": len(days) - 1},
                      "start": {"type": "int", "min": DAY_START,
                                "max": max(DAY_START, DAY_END - duration)}},
        "constraints": [f"start + {duration} <= {DAY_END}", *constraints]}
    if earliest:
        out["minimize"] = "day * 1440 + start"
    return out


def smtlib(days: list[str], duration: int, busy: Busy) -> str:
    lines = ["(declare-const day Int)", "(declare-const start Int)",
             f"(assert (and (>= day 0) (<= day {len(days) - 1}) (>= start {DAY_START}) "
             f"(<= (+ start {duration}) {DAY_END})))"]
    lines += [f"(assert (or (not (= day {d})) (<= (+ start {duration}) {s}) (>= start {e})))"
              for d, ranges in busy.items() for s, e in ranges]
    lines.append("(minimize (+ (* 1440 day) start))")
    return "\n".join(lines)


def golden(raw: dict[str, Any], days: list[str]) -> tuple[int, int, int]:
    """Day index, start and end minute of NATURAL PLAN's golden plan."""
    m = GOLDEN.search(raw["golden_plan"])
    assert m is not None, raw["golden_plan"]
    start = int(m.group(2)) * 60 + int(m.group(3))
    end = int(m.group(4)) * 60 + int(m.group(5))
    return days.index(m.group(1)), start, end


Job = tuple[str, Callable[[], Awaitable[SmtResult]], Callable[[SmtResult], bool]]


def first_free(busy: Busy, duration: int) -> tuple[int, int] | None:
    return next(((d, s) for d in sorted(busy) for s in range(DAY_START, DAY_END)
                 if free(busy, d, s, duration)), None)


def answer(r: SmtResult) -> tuple[int, int]:
    assert r.model is not None
    return int(r.model["day"]), int(r.model["start"])


def jobs_for(raw: dict[str, Any]) -> list[Job]:
    days, duration, busy = read_instance(raw)
    gold_day, gold_start, gold_end = golden(raw, days)
    assert gold_end - gold_start == duration and free(busy, gold_day, gold_start, duration)
    longer = longest_window(busy) + 30
    earliest_slot = first_free(busy, duration)

    def is_earliest(r: SmtResult) -> bool:
        return r.status == "sat" and answer(r) == earliest_slot \
            and answer(r) <= (gold_day, gold_start)

    def is_valid(r: SmtResult) -> bool:
        return r.status == "sat" and free(busy, *answer(r), duration)

    def is_unsat(r: SmtResult) -> bool:
        return r.status == "unsat" and bool(r.unsat_core) and not any(
            free(busy, d, s, longer) for d in busy for s in range(DAY_START, DAY_END))

    earliest = problem(days, duration, busy, earliest=True)
    feasible = problem(days, duration, busy, earliest=False)
    infeasible = problem(days, longer, busy, earliest=False)
    script = smtlib(days, duration, busy)
    return [("earliest", lambda: asolve_smt(earliest), is_earliest),
            ("feasible", lambda: asolve_smt(feasible), is_valid),
            ("infeasible", lambda: asolve_smt(infeasible, unsat_core=True), is_unsat),
            ("earliest_smtlib", lambda: asolve_smt(script), is_earliest)]


async def run_all(jobs: list[Job], concurrency: int) -> tuple[float, list[SmtResult]]:
    """Solve every job, at most ``concurrency`` at a time; seconds taken and the results."""
    gate = asyncio.Semaphore(concurrency)

    async def one(make: Callable[[], Awaitable[SmtResult]]) -> SmtResult:
        async with gate:
            return await make()

    start = time.perf_counter()
    results = list(await asyncio.gather(*(one(make) for _, make, _ in jobs)))
    return time.perf_counter() - start, results


async def main() -> None:
    args = parse_args("Throughput of the smt tool on calendar scheduling")
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    instances = list(raw.values())[:20] if args.quick else list(raw.values())
    repetitions = 1 if args.quick else 3
    jobs = [job for inst in instances for job in jobs_for(inst)]
    golds = []
    for inst in instances:
        days, _, _ = read_instance(inst)
        golds.append(golden(inst, days)[:2])
    emit(machine())
    await run_all(jobs[:8], concurrency=1)  # warm-up: z3 import, thread pool
    for concurrency in (1, os.cpu_count() or 1):
        mode = "sequential" if concurrency == 1 else f"{concurrency} at a time"
        timings: list[float] = []
        results: list[SmtResult] = []
        for _ in range(repetitions):
            elapsed, results = await run_all(jobs, concurrency)
            timings.append(elapsed)
        seconds = statistics.median(timings)
        for kind in ("earliest", "feasible", "infeasible", "earliest_smtlib"):
            picked = [(r, check) for (k, _, check), r in zip(jobs, results, strict=True)
                      if k == kind]
            correct = sum(check(r) for r, check in picked)
            extra: dict[str, Any] = {}
            if kind.startswith("earliest"):
                extra["equal_to_golden"] = sum(
                    r.status == "sat" and answer(r) == gold for (r, _), gold in
                    zip(picked, golds, strict=True))
            emit(round_floats({
                "kind": "check", "mode": mode, "problems": kind, "count": len(picked),
                "correct": correct,
                "statuses": {s: sum(r.status == s for r, _ in picked)
                             for s in ("sat", "unsat", "unknown")},
                "mean_solve_ms": 1000 * statistics.fmean(r.duration_s for r, _ in picked),
                **extra}))
        total_correct = sum(check(r) for (_, _, check), r in zip(jobs, results, strict=True))
        emit(round_floats({
            "kind": "summary", "benchmark": "smt_throughput", "mode": mode,
            "quick": args.quick, "problems": len(jobs), "correct": total_correct,
            "seconds": seconds, "problems_per_s": len(jobs) / seconds,
            "repetitions": repetitions, "timings": [round(t, 3) for t in timings]}))


if __name__ == "__main__":
    asyncio.run(main())
