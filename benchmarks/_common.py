"""Helpers shared by the benchmark scripts: JSON-lines output, statistics, machine facts.

Every benchmark prints one JSON object per line on stdout, so its output can be piped into
``jq`` or collected by CI; human notes go to stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def emit(record: dict[str, Any]) -> None:
    """Print one JSON object on its own line and flush (so partial runs still report)."""
    print(json.dumps(record, default=str), flush=True)


def round_floats(record: dict[str, Any], digits: int = 3) -> dict[str, Any]:
    """``record`` with every float rounded, for readable output."""
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in record.items()}


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line every benchmark accepts: ``--quick`` for a fast smoke run."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="a small, fast smoke run (figures are not meaningful)")
    return parser.parse_args(argv)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(value: float, target: float) -> str:
    """``"pass"`` when ``value`` is at most ``target``, else ``"fail"``."""
    return "pass" if value <= target else "fail"


async def time_async(fn: Callable[[], Awaitable[object]]) -> float:
    """Seconds taken by one ``await fn()``, after a garbage collection so that earlier
    repetitions' garbage is not charged to this one."""
    gc.collect()
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    kib = int(line.split()[1])
                    return f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine() -> dict[str, Any]:
    """The facts needed to compare figures across machines."""
    return {
        "kind": "machine",
        "cpu": cpu_model(),
        "nproc": os.cpu_count(),
        "memory": memory_total(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


@contextmanager
def fake_server(*, text: str = "ok", usage: tuple[int, int] = (11, 7), delay_s: float = 0.0,
                capacity: int | None = None) -> Iterator[str]:
    """The in-repo OpenAI-compatible test server (tests/fake_openai.py) on 127.0.0.1, in its
    own process so its threads do not compete with the client's event loop for one GIL;
    yields its base URL and stops it on exit.
    """
    command = [sys.executable, "-m", "tests.fake_openai", "--text", text, "--usage",
               str(usage[0]), str(usage[1]), "--delay", str(delay_s)]
    if capacity is not None:
        command += ["--capacity", str(capacity)]
    proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
