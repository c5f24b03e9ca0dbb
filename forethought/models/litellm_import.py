"""litellm, imported once, off the event loop.

``import litellm`` takes seconds (8 s on a loaded 2-core machine). Paid on the event loop it
would stall every task of the run and count against ``max_seconds``. So the import runs in a
worker thread, started when something first needs litellm (:func:`warm_up`, called when an
``Agent`` with a LiteLLM model is built), and async code awaits :func:`ready`, which waits for
that thread without blocking the loop. The tokenizer the budget counts prompts with is loaded
in the same thread.

Never ``import litellm`` directly from async code: if the worker thread holds the module's
import lock, the event loop would block on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import Any


class _DropLoopChangeNotice(logging.Filter):
    """Drops LiteLLM's warning that its logging worker met a new event loop.

    Every ``asyncio.run`` (our sync wrappers) starts one; the message is noise for our users.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "event loop changed" not in record.getMessage()


_lock = threading.Lock()
_done = threading.Event()
_thread: threading.Thread | None = None
_error: BaseException | None = None
_configured = False


def import_now() -> Any:
    """Import and configure litellm in the calling thread (blocking): local cost map (no
    fetch from the internet), no debug banners. For synchronous callers and worker threads.
    """
    global _configured
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    with _lock:
        if not _configured:
            litellm.suppress_debug_info = True
            logging.getLogger("LiteLLM").addFilter(_DropLoopChangeNotice())
            _configured = True
    return litellm


def _worker() -> None:
    global _error
    try:
        lm = import_now()
        # Load the default tokenizer (tiktoken, shipped inside litellm: no download) so the
        # first budget reservation does not pay for it on the loop.
        lm.token_counter(text="warm up")
    except BaseException as exc:  # noqa: BLE001 - reported to whoever awaits ready()
        _error = exc
    finally:
        _done.set()


def warm_up() -> None:
    """Start importing litellm in a background thread, unless it is imported or under way."""
    global _thread
    if _configured:
        return
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_worker, name="forethought-import-litellm",
                                       daemon=True)
            _thread.start()


async def ready() -> Any:
    """litellm, once imported: waits for the import thread without blocking the event loop."""
    if _configured:
        return sys.modules["litellm"]
    warm_up()
    if not _done.is_set():
        await asyncio.to_thread(_done.wait)
    if _error is not None:
        raise _error
    return import_now()


def imported() -> Any | None:
    """Litellm if it is already imported and configured, else ``None`` (never imports)."""
    return sys.modules["litellm"] if _configured else None
