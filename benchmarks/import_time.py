"""Start-up cost: ``import forethought`` and ``forethought --help`` in fresh interpreters.

Each command runs as a new subprocess, once to warm the bytecode cache and the OS file cache,
then N times (7 by default); the median wall time is reported next to a bare ``python -c pass``
so the interpreter's own start-up can be told apart. ``python -X importtime`` gives the
heaviest modules, and a probe checks that litellm (seconds to import) is *not* loaded by
either command.

Run: ``uv run --group bench python benchmarks/import_time.py [--quick]``
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import emit, machine, parse_args, round_floats, verdict

TARGET_S = 0.5

HELP_PROBE = """\
import sys
from forethought.cli import main
sys.argv = ["forethought", "--help"]
try:
    main()
except SystemExit:
    pass
print("LITELLM_LOADED=" + str("litellm" in sys.modules), file=sys.stderr)
"""

IMPORT_PROBE = """\
import sys
import forethought
print("LITELLM_LOADED=" + str("litellm" in sys.modules), file=sys.stderr)
"""


def help_command() -> list[str]:
    """The installed console script if there is one, else the module."""
    script = Path(sys.executable).parent / "forethought"
    if script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-m", "forethought.cli", "--help"]


def wall_time(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)!r} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return elapsed


def timed(name: str, cmd: list[str], runs: int, target: float | None) -> dict[str, Any]:
    wall_time(cmd)  # warm-up: bytecode and file caches
    samples = [wall_time(cmd) for _ in range(runs)]
    med = statistics.median(samples)
    record: dict[str, Any] = {
        "kind": "startup", "what": name, "command": " ".join(cmd), "runs": runs,
        "median_s": med, "min_s": min(samples), "max_s": max(samples),
    }
    if target is not None:
        record["target_s"] = target
        record["verdict"] = verdict(med, target)
    return round_floats(record, 4)


@dataclass(kw_only=True)
class ImportEntry:
    module: str
    self_us: int
    cumulative_us: int
    depth: int


def parse_importtime(stderr: str) -> list[ImportEntry]:
    """Parse ``-X importtime`` lines: ``import time: self [us] | cumulative | package``."""
    entries: list[ImportEntry] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:"):].split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header line
        name = fields[2].rstrip()
        stripped = name.lstrip()
        entries.append(ImportEntry(module=stripped, self_us=int(fields[0]),
                                   cumulative_us=int(fields[1]),
                                   depth=(len(name) - len(stripped) - 1) // 2))
    return entries


def importtime(name: str, code: str, top: int = 5) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"-X importtime {code!r} exited {proc.returncode}: "
                           f"{proc.stderr[-2000:]}")
    entries = parse_importtime(proc.stderr)
    total = sum(e.self_us for e in entries)
    by_cumulative = sorted(entries, key=lambda e: e.cumulative_us, reverse=True)
    by_self = sorted(entries, key=lambda e: e.self_us, reverse=True)
    return {
        "kind": "importtime", "what": name, "modules": len(entries), "total_us": total,
        "heaviest_cumulative": [{"module": e.module, "cumulative_us": e.cumulative_us}
                                for e in by_cumulative[:top]],
        "heaviest_self": [{"module": e.module, "self_us": e.self_us} for e in by_self[:top]],
    }


def litellm_probe(name: str, code: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    marker = [line for line in proc.stderr.splitlines() if line.startswith("LITELLM_LOADED=")]
    if proc.returncode != 0 or not marker:
        raise RuntimeError(f"probe {name!r} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    loaded = marker[-1].endswith("True")
    return {"kind": "lazy_import", "what": name, "module": "litellm",
            "loaded": loaded, "expected": False, "verdict": "fail" if loaded else "pass"}


def main(quick: bool) -> None:
    runs = 3 if quick else 7
    emit(machine())
    emit({"kind": "config", "benchmark": "import_time", "runs": runs, "warmup": 1,
          "statistic": "median", "quick": quick, "targets": {"wall time": f"< {TARGET_S} s"}})
    emit(timed("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"], runs, None))
    emit(timed("import forethought", [sys.executable, "-c", "import forethought"], runs,
               TARGET_S))
    emit(timed("forethought --help", help_command(), runs, TARGET_S))
    emit(timed("from forethought import Agent (informative)",
               [sys.executable, "-c", "from forethought import Agent"], runs, None))
    emit(importtime("import forethought", "import forethought"))
    emit(importtime("forethought --help", HELP_PROBE))
    emit(litellm_probe("after import forethought", IMPORT_PROBE))
    emit(litellm_probe("after forethought --help", HELP_PROBE))


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "", sys.argv[1:])
    main(args.quick)
