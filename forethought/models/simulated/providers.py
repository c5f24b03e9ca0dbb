"""Task packs that teach the simulator their instances.

A pack registers a *provider* under the ``forethought.simulated_tasks`` entry-point group: a
function that, given a question, returns the :class:`SimulatedTask` it describes (with its
reference answer), or ``None`` when the question is not one of the pack's. The simulator asks
the providers about any question it does not know already, so a recipe can run a pack's
questions offline with ``model: simulated`` (NATURAL PLAN's provider recognises its prompts,
dataset instances or new ones, and solves new ones exactly with z3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from forethought.exceptions import UserError
from forethought.models.simulated.task import SimulatedTask

Provider = Callable[[str], SimulatedTask | None]

_loaded: list[Provider] | None = None


def providers() -> list[Provider]:
    """The registered providers (entry points loaded on first use)."""
    global _loaded
    if _loaded is None:
        from importlib.metadata import entry_points

        found: list[Provider] = []
        for ep in entry_points(group="forethought.simulated_tasks"):
            obj: object = ep.load()
            if not callable(obj):
                raise UserError(f"entry point {ep.name!r} ({ep.value}) of group "
                                f"'forethought.simulated_tasks' is not a function")
            found.append(cast(Provider, obj))
        _loaded = found
    return _loaded


def recognise(question: str) -> SimulatedTask | None:
    """The first provider's task for ``question``, or ``None``."""
    for provider in providers():
        task = provider(question)
        if task is not None:
            return task
    return None
