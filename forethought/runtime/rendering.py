"""How values are shown to a model and in events: one rendering for tool outputs everywhere."""

from __future__ import annotations

import json
from typing import Any


def render_output(value: Any) -> str:
    """How a tool's output is shown to a model."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
