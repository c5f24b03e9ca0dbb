"""A plot of accuracy (with its 95 % interval) against cost, model calls or tokens, one point
per eval (``forethought eval --compare ... --plot FILE.png``). matplotlib comes with the
``plot`` extra and is imported only here.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forethought.eval.compare import CompareRow
from forethought.exceptions import UserError

AXES = {"cost": "cost (USD)", "calls": "model calls", "tokens": "tokens"}


def _pyplot() -> Any:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        raise UserError("plotting needs matplotlib: pip install 'forethought[plot]'") from None
    matplotlib.use("Agg")  # files only: never open a window
    return importlib.import_module("matplotlib.pyplot")


def plot_evals(rows: Sequence[CompareRow], path: Path, *, x_axis: str = "cost") -> None:
    """Accuracy (with its 95 % interval) against ``x_axis`` for each eval, into a PNG."""
    if x_axis not in AXES:
        raise UserError(f"--x {x_axis!r}: valid axes are {', '.join(map(repr, AXES))}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for row in rows:
        t = row.summary.total
        low, high = t.interval()
        x = row.x(x_axis)
        ax.errorbar([x], [t.accuracy], yerr=[[t.accuracy - low], [high - t.accuracy]],
                    fmt="o", capsize=4, label=f"{row.name} · {row.strategy} ({row.eval_id})")
    ax.set_xlabel(AXES[x_axis])
    ax.set_ylabel("accuracy (95% Wilson interval)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
