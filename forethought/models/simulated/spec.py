"""Parsing model spec strings such as ``"simulated:seed=3,skill=0.6"``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from forethought.exceptions import UserError


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise ValueError(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


_KEYS: dict[str, tuple[Callable[[str], Any], str]] = {
    "seed": (int, "an integer"),
    "skill": (_float, "a number"),
    "steepness": (_float, "a number"),
    "distractor_skew": (_float, "a number"),
    "judge_fpr": (_float, "a number"),
    "judge_fnr": (_float, "a number"),
    "judge_difficulty_slope": (_float, "a number"),
    "score_noise": (_float, "a number"),
    "plan_error": (_float, "a number"),
    "repair_rate": (_float, "a number"),
    "extract_omission": (_float, "a number"),
    "extract_hallucination": (_float, "a number"),
    "extract_formal": (_float, "a number"),
    "extract_invalid": (_float, "a number"),
    "rating_noise": (_float, "a number"),
    "mean_latency_s": (_float, "a number"),
    "latency_sigma": (_float, "a number"),
    "input_price_per_mtok": (_float, "a number"),
    "output_price_per_mtok": (_float, "a number"),
    "sleep": (_bool, "true or false"),
    "time_scale": (_float, "a number"),
    "name": (str, "a name"),
    "profile": (str, "a profile name or JSON path"),
}
SPEC_KEYS: tuple[str, ...] = tuple(_KEYS)
"""The keys a spec string may set: the keyword arguments of ``SimulatedModel``."""


def parse_spec(spec: str) -> dict[str, Any]:
    """The keyword arguments named by ``"simulated"`` or ``"simulated:key=value,..."``.

    Raises :class:`UserError` naming the bad part and what would be valid.
    """
    head, _, options = spec.strip().partition(":")
    if head.strip() != "simulated":
        raise UserError(f"model spec {spec!r} does not name the simulated model; "
                        f"write 'simulated' or 'simulated:key=value,...'")
    kwargs: dict[str, Any] = {}
    valid = ", ".join(SPEC_KEYS)
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, eq, raw = (s.strip() for s in item.partition("="))
        if not eq:
            raise UserError(f"model spec {spec!r}: {item!r} is not key=value; valid keys: {valid}")
        if key not in _KEYS:
            raise UserError(f"model spec {spec!r}: unknown key {key!r}; valid keys: {valid}")
        if key in kwargs:
            raise UserError(f"model spec {spec!r}: key {key!r} is given twice")
        convert, expected = _KEYS[key]
        try:
            kwargs[key] = convert(raw)
        except ValueError:
            raise UserError(f"model spec {spec!r}: {key}={raw!r} must be {expected}") from None
    return kwargs
