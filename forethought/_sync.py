"""The one way synchronous wrappers run their async core."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from forethought.exceptions import UserError

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], *, name: str, async_form: str) -> T:
    """Run ``coro`` to completion from synchronous code.

    Inside a running event loop this is a mistake (``asyncio.run`` would fail and blocking the
    loop would stall it), so the :class:`UserError` names the async form to await instead. The
    check happens before, not around, ``asyncio.run``: errors from the run must not carry a
    stray "no running event loop" as their context.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        inside_loop = False
    else:
        inside_loop = True
    if inside_loop:
        coro.close()
        raise UserError(f"{name} was called inside a running event loop; use "
                        f"'await {async_form}' there")
    return asyncio.run(coro)
