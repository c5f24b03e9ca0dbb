"""Headless Chromium driven over the DevTools protocol on a pipe: no port, no websocket
library, nothing but the standard library. Used by the trace page tests and by
``benchmarks/trace_page.py``.

Chromium started with ``--remote-debugging-pipe`` reads protocol messages from fd 3 and
writes replies and events to fd 4, each a JSON object ended by a NUL byte.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--remote-debugging-pipe")


# Moves our pipe ends to the fds Chromium expects (3 and 4), then becomes Chromium. Going
# through fds >= 10 first keeps one end from overwriting the other when it already is 3 or 4.
_SHIM = """
import fcntl, os, sys
cmd, out = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])
for fd in sys.argv[1:3]:
    os.close(int(fd))
os.dup2(cmd, 3)
os.dup2(out, 4)
os.close(cmd)
os.close(out)
os.execv(sys.argv[3], sys.argv[3:])
"""


class ChromiumError(RuntimeError):
    pass


class Chromium:
    """One headless browser with a fresh profile; use as a context manager."""

    def __init__(self, *, width: int = 1400, height: int = 900, timeout_s: float = 60.0
                 ) -> None:
        self.timeout_s = timeout_s
        self.profile = tempfile.mkdtemp(prefix="forethought-chromium-")
        self.log = Path(self.profile) / "stderr.log"
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        argv = [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "about:blank"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", _SHIM, str(cmd_r), str(out_w),
                                          *argv],
                                         pass_fds=(cmd_r, out_w), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log)
        os.close(cmd_r)
        os.close(out_w)
        self._w, self._r = cmd_w, out_r
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    # -- protocol ---------------------------------------------------------------------------

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChromiumError(f"no reply from Chromium within {self.timeout_s}s; "
                                    f"stderr: {self.log.read_text(errors='replace')[-2000:]}")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise ChromiumError("Chromium closed the pipe; stderr: "
                                        + self.log.read_text(errors="replace")[-2000:])
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ChromiumError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, *, session: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event["method"] == method and (session is None
                                                  or event.get("sessionId") == session):
                    self.events.remove(event)
                    return event.get("params", {})
            seen = len(self.events)
            reply = self._read_message(deadline)
            if "method" in reply:
                self.events.append(reply)

    # -- pages ------------------------------------------------------------------------------

    def open(self, url: str) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Page.enable", "Network.enable", "Runtime.enable"):
            self.send(method, session=session)
        page = Page(self, session)
        page.started = time.perf_counter()
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session=session)
        page.loaded = time.perf_counter()
        return page

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                # Chromium may close the pipe before it answers.
                with contextlib.suppress(ChromiumError, OSError):
                    self.send("Browser.close")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        finally:
            os.close(self._w)
            os.close(self._r)
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session
        self.started = 0.0
        self.loaded = 0.0

    def evaluate(self, expression: str) -> Any:
        result = self.browser.send("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.session)
        if "exceptionDetails" in result:
            raise ChromiumError(f"{expression[:80]!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float | None = None) -> Any:
        deadline = time.monotonic() + (timeout_s or self.browser.timeout_s)
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.02)
        raise ChromiumError(f"{expression!r} stayed false")

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.browser.send("Page.captureScreenshot", params, session=self.session)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def requests(self) -> list[str]:
        """Every URL the page asked for (from the protocol's ``Network.requestWillBeSent``)."""
        return [e["params"]["request"]["url"] for e in self.browser.events
                if e["method"] == "Network.requestWillBeSent"
                and e.get("sessionId") == self.session]

    def console_errors(self) -> list[str]:
        out: list[str] = []
        for e in self.browser.events:
            if e.get("sessionId") != self.session:
                continue
            if e["method"] == "Runtime.exceptionThrown":
                out.append(json.dumps(e["params"]["exceptionDetails"])[:500])
            elif e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error":
                out.append(json.dumps(e["params"]["args"])[:500])
        return out
