"""Seeing runs: a run rebuilt from the store as a tree (:func:`build_trace`), the terminal and
HTML views, and the OpenTelemetry exporter (:class:`OTelExporter`, the ``otel`` extra).

Names load on first use, so the command line can import this package without paying for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forethought.trace.html import render_page, write_page
    from forethought.trace.model import CallTrace, NodeTrace, RunTrace, Step, build_trace
    from forethought.trace.otel import OTelExporter

_LAZY = {
    "CallTrace": "forethought.trace.model",
    "NodeTrace": "forethought.trace.model",
    "RunTrace": "forethought.trace.model",
    "Step": "forethought.trace.model",
    "build_trace": "forethought.trace.model",
    "render_page": "forethought.trace.html",
    "write_page": "forethought.trace.html",
    "OTelExporter": "forethought.trace.otel",
}

__all__ = ["CallTrace", "NodeTrace", "OTelExporter", "RunTrace", "Step", "build_trace",
           "render_page", "write_page"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'forethought.trace' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
