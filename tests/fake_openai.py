"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests of real clients.

Each test queues behaviours; every ``POST /v1/chat/completions`` takes the next one::

    server.reply("hello")                                 # a normal JSON completion
    server.reply("a", "b", "c")                           # three choices (n=3)
    server.reply(tool_calls=[fake_openai.tool_call("add", '{"a": 1}')])
    server.error(429, "slow down", headers={"Retry-After": "1"})
    server.hang(5.0)                                      # say nothing, then close
    server.raw(200, b'{"choices": [')                     # any status and body, as given
    server.reply("slow", trickle=(16, 0.5))               # the body 16 bytes every 0.5 s
    server.default = Reply(texts=("ok",), delay_s=0.2)    # when the queue is empty

A request with ``"stream": true`` gets the same reply as server-sent events: the text in
``chunks`` (or word by word), tool-call deltas, a finish chunk, a usage chunk when
``stream_options.include_usage`` is set, and ``data: [DONE]``.

Every request body is recorded in :attr:`FakeOpenAI.requests` with its arrival time, and the
peak number of requests handled at once in :attr:`FakeOpenAI.max_in_flight`. Use the
:func:`fake_openai` fixture: it starts the server and shuts it down (releasing any hang) at
teardown.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias, cast

import pytest

MODEL = "openai/test-model"
API_KEY = "sk-test"


def tool_call(name: str, arguments: str, *, id: str = "call_1") -> dict[str, Any]:
    """A tool call in the OpenAI wire format."""
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


@dataclass(kw_only=True)
class Reply:
    """A successful completion: one choice per text."""

    texts: tuple[str, ...] = ("ok",)
    tool_calls: Sequence[dict[str, Any]] = ()
    """Tool calls of the first choice (wire format, see :func:`tool_call`)."""
    finish_reason: str | None = None
    """Defaults to ``"tool_calls"`` when there are tool calls, else ``"stop"``."""
    usage: tuple[int, int] | None = (11, 7)
    """Prompt and completion tokens; ``None`` leaves usage out."""
    delay_s: float = 0.0
    """Wait before answering."""
    chunks: Sequence[str] | None = None
    """How the first text is split when streamed; default word by word."""
    chunk_delay_s: float = 0.0
    break_after: int | None = None
    """When streaming, drop the connection after this many events (a body cut short)."""
    trickle: tuple[int, float] | None = None
    """Send a non-streamed body ``(bytes, seconds)`` at a time: a server that trickles."""


@dataclass(kw_only=True)
class Error:
    """An error status with an OpenAI-style JSON error body."""

    status: int
    message: str = "error"
    headers: dict[str, str] = field(default_factory=dict[str, str])
    delay_s: float = 0.0


@dataclass(kw_only=True)
class Raw:
    """Exactly this status and body (e.g. a 200 whose JSON is malformed)."""

    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(kw_only=True)
class Hang:
    """Read the request, say nothing for ``seconds`` (or until shutdown), then close."""

    seconds: float


Behaviour: TypeAlias = Reply | Error | Hang | Raw


@dataclass(kw_only=True)
class Received:
    """One request the server received."""

    body: dict[str, Any]
    headers: dict[str, str]
    """Lower-cased names."""
    at: float
    """``time.monotonic()`` when the request arrived."""


class FakeOpenAI:
    """The server state shared by the test and the handler threads."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.default: Behaviour | None = None
        """Used when the queue is empty; ``None`` answers 400 "no scripted behaviour left"."""
        self.capacity: int | None = None
        """Requests handled at once; beyond it a request gets 429 (no Retry-After)."""
        self.rejected = 0
        """Requests answered 429 for being over :attr:`capacity`."""
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self.port: int = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    # -- scripting -------------------------------------------------------------------------

    def push(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def reply(self, *texts: str, tool_calls: Sequence[dict[str, Any]] = (),
              usage: tuple[int, int] | None = (11, 7), delay_s: float = 0.0,
              chunks: Sequence[str] | None = None, chunk_delay_s: float = 0.0,
              finish_reason: str | None = None, break_after: int | None = None,
              trickle: tuple[int, float] | None = None) -> None:
        self.push(Reply(texts=texts or ("",), tool_calls=tool_calls, usage=usage,
                        delay_s=delay_s, chunks=chunks, chunk_delay_s=chunk_delay_s,
                        finish_reason=finish_reason, break_after=break_after, trickle=trickle))

    def raw(self, status: int, body: bytes, *, content_type: str = "application/json") -> None:
        self.push(Raw(status=status, body=body, content_type=content_type))

    def error(self, status: int, message: str = "error", *,
              headers: dict[str, str] | None = None) -> None:
        self.push(Error(status=status, message=message, headers=headers or {}))

    def hang(self, seconds: float) -> None:
        self.push(Hang(seconds=seconds))

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()  # joins the handler threads
        self._thread.join()

    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- used by the handler ---------------------------------------------------------------

    def _take(self, received: Received) -> Behaviour | None:
        with self._lock:
            self.requests.append(received)
            self.in_flight += 1
            if self.capacity is not None and self.in_flight > self.capacity:
                self.rejected += 1
                return Error(status=429, message="too many requests in flight")
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self._queue.popleft() if self._queue else self.default

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Server(ThreadingHTTPServer):
    fake: FakeOpenAI
    request_queue_size = 512  # bursts of hundreds of connections (the default backlog is 5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: nothing idles at shutdown

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeOpenAI:
        return cast(_Server, self.server).fake

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        body: dict[str, Any] = json.loads(raw or b"{}")
        received = Received(body=body, headers={k.lower(): v for k, v in self.headers.items()},
                            at=time.monotonic())
        behaviour = self.fake._take(received)
        try:
            self._behave(behaviour, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); nothing to tell it
        finally:
            self.fake._done()

    def _behave(self, behaviour: Behaviour | None, body: dict[str, Any]) -> None:
        if behaviour is None:
            self._send_json(400, _error_body("fake_openai: no scripted behaviour left", 400))
        elif isinstance(behaviour, Hang):
            self.fake.stopping.wait(behaviour.seconds)
            self.close_connection = True
        elif isinstance(behaviour, Raw):
            self._send(behaviour.status, behaviour.body, behaviour.content_type)
        elif isinstance(behaviour, Error):
            self._sleep(behaviour.delay_s)
            self._send_json(behaviour.status, _error_body(behaviour.message, behaviour.status),
                            behaviour.headers)
        else:
            self._sleep(behaviour.delay_s)
            if body.get("stream"):
                self._stream(behaviour, body)
            elif behaviour.trickle is not None:
                self._trickle(json.dumps(_completion(behaviour, body)).encode(), *behaviour.trickle)
            else:
                self._send_json(200, _completion(behaviour, body))

    def _sleep(self, seconds: float) -> None:
        if seconds:
            self.fake.stopping.wait(seconds)

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _trickle(self, payload: bytes, size: int, every_s: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        for start in range(0, len(payload), size):
            if self.fake.stopping.is_set():
                return
            self.wfile.write(payload[start:start + size])
            self.wfile.flush()
            self._sleep(every_s)

    def _send_json(self, status: int, data: dict[str, Any],
                   headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if reply.break_after is not None:  # promise more than is sent, so the cut is an error
            self.send_header("Content-Length", "1000000")
        self.end_headers()
        for sent, event in enumerate(_stream_events(reply, body)):
            if sent == reply.break_after:
                self.close_connection = True
                return
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()
            self._sleep(reply.chunk_delay_s)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def _error_body(message: str, status: int) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error",
            429: "rate_limit_error"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _finish(reply: Reply, index: int) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if index == 0 and reply.tool_calls else "stop"


def _usage(reply: Reply) -> dict[str, int] | None:
    if reply.usage is None:
        return None
    prompt, completion = reply.usage
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _completion(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    choices: list[dict[str, Any]] = []
    for i, text in enumerate(reply.texts):
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if i == 0 and reply.tool_calls:
            message["tool_calls"] = list(reply.tool_calls)
        choices.append({"index": i, "message": message, "finish_reason": _finish(reply, i),
                        "logprobs": None})
    out: dict[str, Any] = {"id": "chatcmpl-fake", "object": "chat.completion",
                           "created": int(time.time()), "model": body.get("model", "test-model"),
                           "choices": choices}
    usage = _usage(reply)
    if usage is not None:
        out["usage"] = usage
    return out


def _stream_events(reply: Reply, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model", "test-model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    text = reply.texts[0] if reply.texts else ""
    pieces = list(reply.chunks) if reply.chunks is not None else re.findall(r"\S+\s*|\s+", text)
    yield chunk({"role": "assistant", "content": ""})
    for piece in pieces:
        if piece:
            yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        args: str = call["function"]["arguments"]
        half = len(args) // 2
        yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                     "function": {"name": call["function"]["name"],
                                                  "arguments": args[:half]}}]})
        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": args[half:]}}]})
    yield chunk({}, _finish(reply, 0))
    usage = _usage(reply)
    if usage is not None and (body.get("stream_options") or {}).get("include_usage"):
        yield {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
               "created": int(time.time()), "model": body.get("model", "test-model"),
               "choices": [], "usage": usage}


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started :class:`FakeOpenAI`; stopped cleanly at teardown."""
    with FakeOpenAI() as server:
        yield server


def serve_forever(text: str, usage: tuple[int, int], delay_s: float,
                  capacity: int | None = None) -> None:
    """Serve one default reply until stdin closes, printing the base URL first: a server in
    its own process, so that a benchmark's client does not share a GIL with it.
    """
    import sys

    with FakeOpenAI() as server:
        server.default = Reply(texts=(text,), usage=usage, delay_s=delay_s)
        server.capacity = capacity
        print(server.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Serve one reply on 127.0.0.1 until stdin closes")
    parser.add_argument("--text", default="ok")
    parser.add_argument("--usage", type=int, nargs=2, default=(11, 7))
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--capacity", type=int, default=None)
    options = parser.parse_args()
    serve_forever(options.text, (options.usage[0], options.usage[1]), options.delay,
                  options.capacity)
