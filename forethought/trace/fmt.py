"""Short renderings of durations, tokens, costs and values, shared by the trace views."""

from __future__ import annotations

import json
import time
from typing import Any


def duration(seconds: float | None) -> str:
    """``850µs``, ``12ms``, ``1.23s``, ``2m03s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes:.0f}m{rest:02.0f}s"


def tokens(prompt: int, completion: int) -> str:
    return f"{prompt}+{completion} tok"


def cost(usd: float) -> str:
    return f"${usd:.4f}"


def when(ts: float | None) -> str:
    """A local date and time, to the second."""
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def one_line(text: str | None, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(1, limit - 1)] + "…"


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
