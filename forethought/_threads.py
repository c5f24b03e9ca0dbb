"""Where synchronous user code (sync tools, ``Compute`` actions) runs: a pool of our own.

A Python thread cannot be stopped. When a run's deadline passes, the run stops awaiting a sync
tool and returns, but the thread finishes its work in the background. On asyncio's default
executor that would make ``asyncio.run`` (every sync wrapper) wait for the thread at shutdown,
so a 6-second sync tool under ``max_seconds=1`` would still hold ``Agent.run`` for 6 seconds.
This pool is not the loop's, so runs return at their deadline; the interpreter still waits
for such threads when it exits. Long work that must really stop belongs in an async tool or
the sandbox, which kill it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="forethought-sync")


async def in_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in the shared pool, awaited without blocking the loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, functools.partial(fn, *args, **kwargs))
