"""Exact checks per second on NATURAL PLAN, and formalise-and-solve's exact match.

Data: ``../shared/data/natural_plan``: 100 instances per domain (calendar scheduling,
meeting planning, trip planning) with golden plans and Gemini 1.5 Pro's five-shot answers
(``pred_5shot_pro``). Each prompt is parsed once into its constraint set (every constraint
hard, with a registered exact checker); parse time is reported apart.

- ``check``: every golden plan, then every published answer, checked against its constraint
  set by the synchronous plan checker (``check_plan``: each constraint's checker, in this
  thread), and by ``check_constraints`` (the async path a verification agent uses: each
  check in a worker thread, all of an answer's checks at once). Figures: constraint checks
  per second and plans per second, median of the repetitions. Target: the 300 golden plans
  checked in under 1 s by the plan checker. Every golden plan must pass and the answers'
  verdicts must be the same by both paths, or the benchmark fails.
- ``solve``: each constraint set formalised in z3 (the ``smt`` tool's JSON format) and
  solved; the plan is checked exactly and scored with NATURAL PLAN's exact match. Calendar
  must match all 100 golden plans (the golden-slot rule, docs/natural_plan.md).

Run: ``uv run python benchmarks/verifier_throughput.py [--quick]``
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

from _common import emit, machine, parse_args, round_floats

from forethought.agents.constraints import ConstraintSet, check_constraints
from forethought.models.scripted import ScriptedModel
from forethought.runtime.context import RunContext
from forethought.tasks.natural_plan import (
    DOMAINS,
    Instance,
    check_plan,
    constraints_for,
    exact_match,
    load_instances,
    solve,
)
from forethought.tasks.natural_plan.plans import clear_plan_caches

TARGET_S = 1.0


def _sync_pass(items: list[tuple[ConstraintSet, str]]) -> tuple[float, list[list[str]]]:
    clear_plan_caches()  # every pass parses each plan afresh (once for all its checks)
    start = time.perf_counter()
    statuses = [[r.status for r in check_plan(cs, plan)] for cs, plan in items]
    return time.perf_counter() - start, statuses


async def _async_pass(items: list[tuple[ConstraintSet, str]]) -> tuple[float, list[list[str]]]:
    ctx = RunContext(model=ScriptedModel([]))
    clear_plan_caches()
    start = time.perf_counter()
    results = [await check_constraints(ctx, cs, plan) for cs, plan in items]
    return time.perf_counter() - start, [[r.status for r in rs] for rs in results]


def _median_pass(items: list[tuple[ConstraintSet, str]], repetitions: int,
                 ) -> tuple[float, float, list[list[str]], list[list[str]]]:
    sync_t, async_t = [], []
    sync_s: list[list[str]] = []
    async_s: list[list[str]] = []
    for _ in range(repetitions):
        t, sync_s = _sync_pass(items)
        sync_t.append(t)
        t, async_s = asyncio.run(_async_pass(items))
        async_t.append(t)
    return statistics.median(sync_t), statistics.median(async_t), sync_s, async_s


def main() -> int:
    args = parse_args("Exact checks per second on NATURAL PLAN; formalise-and-solve")
    count = 10 if args.quick else 100
    repetitions = 1 if args.quick else 5
    emit(machine())
    failures: list[str] = []
    data: dict[str, list[tuple[Instance, ConstraintSet]]] = {}
    for domain in DOMAINS:
        instances = load_instances(domain)[:count]
        start = time.perf_counter()
        sets = [constraints_for(domain, i.prompt_0shot, instance_id=i.id) for i in instances]
        parse_s = time.perf_counter() - start
        data[domain] = list(zip(instances, sets, strict=True))
        emit(round_floats({"kind": "parse", "domain": domain, "instances": len(sets),
                           "constraints": sum(len(s) for s in sets), "seconds": parse_s,
                           "ms_per_prompt": 1000 * parse_s / len(sets)}, 4))
    _sync_pass([(cs, i.golden_plan) for i, cs in data["calendar"][:5]])  # warm-up
    golden_total = 0.0
    for domain, pairs in data.items():
        for which in ("golden", "pred_5shot_pro"):
            items = [(cs, i.golden_plan if which == "golden" else str(i.record[which]))
                     for i, cs in pairs]
            checks = sum(len(cs) for cs, _ in items)
            sync_s, async_s, sync_st, async_st = _median_pass(items, repetitions)
            accepted = sum(all(s == "satisfied" for s in st) for st in sync_st)
            if which == "golden":
                golden_total += sync_s
                if accepted != len(items):
                    failures.append(f"{domain}: {len(items) - accepted} golden plans rejected")
            if sync_st != async_st:
                failures.append(f"{domain} {which}: the two checking paths disagree")
            emit(round_floats({
                "kind": "check", "domain": domain, "plans": which, "count": len(items),
                "constraint_checks": checks, "accepted": accepted,
                "plan_checker_s": sync_s, "plan_checker_checks_per_s": checks / sync_s,
                "plan_checker_plans_per_s": len(items) / sync_s,
                "check_constraints_s": async_s,
                "check_constraints_checks_per_s": checks / async_s}, 4))
    emit(round_floats({"kind": "target", "what": "all golden plans checked by the plan "
                       "checker", "plans": sum(len(p) for p in data.values()),
                       "seconds": golden_total, "target_s": TARGET_S,
                       "pass": "pass" if golden_total < TARGET_S else "fail"}, 4))
    for domain, pairs in data.items():
        times: list[float] = []
        em = valid = 0
        statuses: dict[str, int] = {}
        for inst, cs in pairs:
            solution = solve(cs)
            times.append(solution.duration_s)
            statuses[solution.status] = statuses.get(solution.status, 0) + 1
            if solution.plan is None:
                continue
            valid += all(r.status == "satisfied" for r in check_plan(cs, solution.plan))
            em += int(exact_match(solution.plan, inst))
        record: dict[str, Any] = {
            "kind": "solve", "domain": domain, "instances": len(pairs), "statuses": statuses,
            "valid_plans": valid, "exact_match": em, "exact_match_rate": em / len(pairs),
            "total_s": sum(times), "median_ms": 1000 * statistics.median(times),
            "max_ms": 1000 * max(times)}
        if domain == "calendar" and em != len(pairs):
            failures.append(f"calendar: z3 matched {em} of {len(pairs)} golden plans")
        if valid != len(pairs):
            failures.append(f"{domain}: {len(pairs) - valid} z3 plans are not valid")
        emit(round_floats(record, 4))
    emit({"kind": "summary", "benchmark": "verifier_throughput", "quick": args.quick,
          "failures": failures})
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
