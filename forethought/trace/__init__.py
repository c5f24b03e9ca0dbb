"""Seeing runs: the run rebuilt from the store as a tree, the terminal and HTML views, and the
OpenTelemetry exporter (the ``otel`` extra, imported only when used).
"""

from forethought.trace.model import CallTrace, NodeTrace, RunTrace, Step, build_trace

__all__ = ["CallTrace", "NodeTrace", "RunTrace", "Step", "build_trace"]
