"""Progress of long index builds: a callback, or a rich progress bar on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``; stages are ``"tokenize"``, ``"index"`` and
``"embed"``. ``done`` grows from 0 to ``total`` within a stage."""

Progress = ProgressCallback | bool | None
"""A callback; ``True`` for a progress bar; ``False`` for silence; ``None`` (the default) for
a bar only when stderr is a terminal and the corpus has at least :data:`LARGE_CORPUS`
passages."""

LARGE_CORPUS = 20_000


@contextmanager
def reporter(progress: Progress, size: int) -> Generator[ProgressCallback | None, None, None]:
    """The callback to report to while building an index of ``size`` passages."""
    if callable(progress):
        yield progress
        return
    show = progress if progress is not None else (size >= LARGE_CORPUS and sys.stderr.isatty())
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    tasks: dict[str, Any] = {}
    with RichProgress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
