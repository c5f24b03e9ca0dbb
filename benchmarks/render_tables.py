"""Turn the JSON lines printed by the benchmarks into the Markdown tables of BENCHMARKS.md.

Run: ``uv run python benchmarks/render_tables.py out/*.jsonl``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render(records: list[dict[str, Any]]) -> str:
    out: list[str] = []
    overhead = [r for r in records if r["kind"] == "runtime_overhead"]
    if overhead:
        out.append(table(
            ["shape", "tracing", "events/node exec / base", "executor µs/node",
             "baseline µs/node", "ratio", "overhead µs/node", "≤ 100 µs", "ratio ≤ 2",
             "task loop µs/node (executor ÷ it)"],
            [[r["shape"], r["tracing"],
              f"{r['executor_events_per_node']:g} / {r['baseline_events_per_node']:g}",
              r["executor_us_per_node"], r["baseline_us_per_node"], r["ratio"],
              r["overhead_us_per_node"], r["us_per_node_verdict"], r["ratio_verdict"],
              f"{r['task_loop_us_per_node']} ({r['ratio_vs_task_loop']})"
              if "task_loop_us_per_node" in r else ""]
             for r in overhead]))
    speedup = [r for r in records if r["kind"] == "parallel_speedup"]
    if speedup:
        out.append(table(
            ["W", "forethought ms", "÷ critical path (≤ 1.10)", "sequential ms",
             "speed-up (ideal)", "LangGraph ms", "forethought ÷ LangGraph"],
            [[r["width"], r["forethought_makespan_ms"],
              f"{r['makespan_over_critical_path']} {r['makespan_verdict']}",
              r["sequential_makespan_ms"],
              f"{r['speedup_vs_sequential']} ({r['ideal_speedup']})",
              r["langgraph_makespan_ms"], r["forethought_over_langgraph"]] for r in speedup]))
    startup = [r for r in records if r["kind"] == "startup"]
    if startup:
        out.append(table(
            ["command", "median s", "min s", "max s", "target", "verdict"],
            [[r["what"], r["median_s"], r["min_s"], r["max_s"],
              f"< {r['target_s']} s" if "target_s" in r else "", r.get("verdict", "")]
             for r in startup]))
    for r in records:
        if r["kind"] == "importtime":
            heavy = ", ".join(f"{m['module']} {m['cumulative_us'] / 1000:.1f} ms"
                              for m in r["heaviest_cumulative"])
            out.append(f"`-X importtime` {r['what']}: {r['modules']} modules, "
                       f"{r['total_us'] / 1000:.1f} ms total; heaviest (cumulative): {heavy}")
        elif r["kind"] == "lazy_import":
            out.append(f"litellm loaded {r['what']}: {r['loaded']} ({r['verdict']})")
    return "\n\n".join(out)


def main(paths: list[str]) -> None:
    records = [json.loads(line) for p in paths
               for line in Path(p).read_text(encoding="utf-8").splitlines() if line.strip()]
    print(render(records))


if __name__ == "__main__":
    main(sys.argv[1:])
