"""Admission at dispatch: a model call meets the budget when it is actually sent.

A model that queues requests (a concurrency limit, a rate limiter) must not let the budget
check happen before the queue: every call waiting behind the limit would pass the check while
the budget still looks unspent, and go out after it is spent. So the run context does not
check the budget itself for such models. It installs a :class:`Gate` for the duration of the
call, and the model calls :func:`dispatching` at the moment it sends the request (after its
queue); the gate then reserves the call's worst case against the budget, waits, or refuses
with :class:`~forethought.exceptions.BudgetExceeded`.

Models that send at once (offline models, most wrappers) need nothing: for them the run context
admits the call itself, right before calling the model, which is the same moment.

The gate travels in a :class:`contextvars.ContextVar`, so the :class:`Model` protocol keeps its
one-argument ``request`` method; tasks a model spawns inherit the gate with the context.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from forethought.models.base import Model
    from forethought.models.messages import ModelRequest


class Gate(Protocol):
    """Admits one dispatch of a model call against a budget (raises ``BudgetExceeded``)."""

    async def admit(self, model: Model, request: ModelRequest) -> None: ...


_current: ContextVar[Gate | None] = ContextVar("forethought_admission_gate", default=None)


def current_gate() -> Gate | None:
    """The gate installed for the current call, if any (wrappers that add dispatches of
    their own wrap it).
    """
    return _current.get()


async def dispatching(model: Model, request: ModelRequest) -> None:
    """Called by a model at the moment it sends ``request`` (after any queue of its own).

    With no gate installed (a model used directly, outside a run) this does nothing. A model
    that sends several requests for one call (a hedged duplicate, a fallback) calls it before
    each one: each is a dispatch the budget must see.
    """
    gate = _current.get()
    if gate is not None:
        await gate.admit(model, request)


@contextmanager
def gated(gate: Gate) -> Generator[None]:
    """Install ``gate`` for the calls made inside the block (in this task and its children)."""
    token = _current.set(gate)
    try:
        yield
    finally:
        _current.reset(token)
