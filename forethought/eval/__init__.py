"""Dataset runs: ``forethought eval`` and its SDK (datasets, metrics, resume, Ray).

Names are imported on first use, so that importing the command line stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forethought.eval.api import EvalReport, aevaluate, evaluate
    from forethought.eval.config import EvalConfig
    from forethought.eval.datasets import Instance, load_dataset
    from forethought.eval.metrics import Metric, Score, make_metric, metric_names, register_metric
    from forethought.eval.results import InstanceResult, Summary, wilson

_WHERE = {
    "EvalReport": "api", "aevaluate": "api", "evaluate": "api", "EvalConfig": "config",
    "Instance": "datasets", "load_dataset": "datasets", "Metric": "metrics", "Score": "metrics",
    "make_metric": "metrics", "metric_names": "metrics", "register_metric": "metrics",
    "InstanceResult": "results", "Summary": "results", "wilson": "results",
}

__all__ = [
    "EvalConfig",
    "EvalReport",
    "Instance",
    "InstanceResult",
    "Metric",
    "Score",
    "Summary",
    "aevaluate",
    "evaluate",
    "load_dataset",
    "make_metric",
    "metric_names",
    "register_metric",
    "wilson",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'forethought.eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"forethought.eval.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
