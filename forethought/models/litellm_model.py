"""LiteLLMModel: any provider LiteLLM knows, behind the :class:`Model` protocol.

Give it a LiteLLM model string; credentials come from LiteLLM's usual environment variables
(``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...) or the ``api_key`` argument::

    from forethought.models.litellm_model import LiteLLMModel

    model = LiteLLMModel("openai/gpt-4o-mini")
    model = LiteLLMModel("anthropic/claude-3-5-haiku-latest", max_concurrency=4)
    model = LiteLLMModel("ollama/qwen2.5", api_base="http://localhost:11434")
    model = LiteLLMModel("hosted_vllm/Qwen/Qwen2.5-7B-Instruct", api_base="http://gpu:8000/v1")

What this layer adds on top of ``litellm.acompletion``:

- retries with tenacity on 429, 5xx, timeouts and connection errors (exponential backoff with
  jitter, or the provider's ``Retry-After`` when it sends one), never on other 4xx; LiteLLM's
  and the OpenAI SDK's own retries are switched off so there is one policy;
- a limit on requests in flight: fixed per instance (``max_concurrency``), or adaptive
  (``concurrency="adaptive"``: grows while the provider keeps up, shrinks on 429s and
  timeouts, shared by every run in the process; see :mod:`forethought.models.concurrency`);
- provider failures surface as :class:`~forethought.exceptions.ModelHTTPError` (with the
  status) or :class:`~forethought.exceptions.ModelError` (timeouts, connection errors), with
  the provider's message and the original exception chained;
- :class:`~forethought.models.messages.Usage` with tokens, cost (0.0 for models LiteLLM has
  no price for) and latency.

litellm is imported on first use, never when forethought is imported: it takes seconds.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar, cast

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
)

from forethought.exceptions import ModelError, UserError
from forethought.models import litellm_import
from forethought.models.admission import dispatching
from forethought.models.base import Model, TextCallback
from forethought.models.concurrency import ConcurrencyLimit, FixedLimit, shared_limit
from forethought.models.messages import (
    Choice,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ToolCall,
    Usage,
)
from forethought.models.provider_errors import (
    MALFORMED_ATTEMPTS,
    RetryWait,
    classify,
    is_retryable,
    model_error,
)
from forethought.models.truncation import truncation_warnings

if TYPE_CHECKING:
    import litellm

T = TypeVar("T")

KEYLESS_PLACEHOLDER = "sk-no-key-required"
"""Sent as the key of ``openai/...`` models pointed at a local server (``api_base``) when no
key is configured: the OpenAI client refuses to send without one, local servers ignore it."""


# -- reading litellm's response objects -----------------------------------------------------


def _get(obj: Any, name: str) -> Any:
    """A field of a litellm/pydantic object or a plain dict, ``None`` when missing."""
    if isinstance(obj, Mapping):
        return cast("Mapping[str, Any]", obj).get(name)
    return getattr(obj, name, None)


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    calls: list[ToolCall] = []
    for call in raw or ():
        function = _get(call, "function")
        calls.append(ToolCall(id=str(_get(call, "id") or ""),
                              name=str(_get(function, "name") or ""),
                              arguments=str(_get(function, "arguments") or "")))
    return tuple(calls)


def _choices(response: Any) -> list[Choice]:
    raw = sorted(_get(response, "choices") or (), key=lambda c: int(_get(c, "index") or 0))
    out: list[Choice] = []
    for choice in raw:
        message = _get(choice, "message")
        out.append(Choice(text=str(_get(message, "content") or ""),
                          tool_calls=_tool_calls(_get(message, "tool_calls")),
                          finish_reason=_get(choice, "finish_reason")))
    return out


def _token_counts(usage: Any) -> tuple[int, int]:
    return int(_get(usage, "prompt_tokens") or 0), int(_get(usage, "completion_tokens") or 0)


def _estimate_tokens(chars: int) -> int:
    return max(1, chars // 4)  # about four characters per token; only when usage is missing


@dataclass
class _StreamState:
    """What the chunks of a stream add up to."""

    texts: dict[int, list[str]] = field(default_factory=dict[int, list[str]])
    calls: dict[tuple[int, int], dict[str, str]] = field(
        default_factory=dict[tuple[int, int], dict[str, str]])
    finish: dict[int, str | None] = field(default_factory=dict[int, str | None])
    deltas: dict[int, int] = field(default_factory=dict[int, int])
    """Chunks that carried text or tool-call arguments, per sample (a server that streams one
    token per chunk: its completion tokens)."""
    usage: Any = None

    def add(self, chunk: Any, on_text: TextCallback) -> None:
        if (usage := _get(chunk, "usage")) is not None:
            self.usage = usage
        for choice in _get(chunk, "choices") or ():
            index = int(_get(choice, "index") or 0)
            self.texts.setdefault(index, [])
            if (reason := _get(choice, "finish_reason")) is not None:
                self.finish[index] = str(reason)
            delta = _get(choice, "delta")
            content = _get(delta, "content")
            calls = _get(delta, "tool_calls") or ()
            if content or any(_get(_get(c, "function"), "arguments") for c in calls):
                self.deltas[index] = self.deltas.get(index, 0) + 1
            if content:
                self.texts[index].append(str(content))
                if index == 0:
                    on_text(str(content))
            for call in calls:
                slot = self.calls.setdefault((index, int(_get(call, "index") or 0)),
                                             {"id": "", "name": "", "arguments": ""})
                if call_id := _get(call, "id"):
                    slot["id"] = str(call_id)
                function = _get(call, "function")
                if name := _get(function, "name"):
                    slot["name"] = str(name)
                if arguments := _get(function, "arguments"):
                    slot["arguments"] += str(arguments)

    def choices(self) -> list[Choice]:
        out: list[Choice] = []
        for index in sorted(self.texts or {0: []}):
            calls = tuple(ToolCall(**c) for (i, _), c in sorted(self.calls.items()) if i == index)
            out.append(Choice(text="".join(self.texts.get(index, [])), tool_calls=calls,
                              finish_reason=self.finish.get(index)))
        return out


# -- the model ------------------------------------------------------------------------------


class LiteLLMModel(Model):
    """A model reached through ``litellm.acompletion``; any LiteLLM model string works.

    Args:
        model: LiteLLM model string, e.g. ``"openai/gpt-4o-mini"``. Also the model's ``name``.
        api_base: Endpoint override (local servers, proxies, vLLM). An ``openai/...`` model
            with an ``api_base`` and no key anywhere sends a placeholder key, so keyless local
            servers (llama.cpp, vLLM, Ollama's OpenAI endpoint) work.
        api_key: Key override; by default LiteLLM reads the provider's environment variable.
        settings: Defaults for settings a request leaves unset (``None``; an empty ``stop``).
        max_concurrency: Requests in flight at once through this instance (per event loop);
            with ``concurrency="adaptive"``, the upper bound of the adaptive limit (default
            256).
        concurrency: ``"fixed"`` (default), ``"adaptive"`` (a limit learnt per model and
            ``api_base`` and shared in the process, between ``min_concurrency`` and
            ``max_concurrency``, starting at 8), or a
            :class:`~forethought.models.concurrency.ConcurrencyLimit` object.
        min_concurrency: Lower bound of the adaptive limit.
        max_retries: Retries after the first attempt, on 429, 5xx, timeouts and connection
            errors (malformed replies: at most two). Other errors are raised at once.
        retry_max_wait_s: Longest wait between attempts, also capping ``Retry-After``.
        timeout_s: Per-attempt limit on the whole attempt (connect, every read, a stream to its
            end), unless the request's settings give one.
        call_timeout_s: Limit on the whole call: every attempt and the waits between them
            (``None``: only the per-attempt limit and the retry count bound it).
        extra: More keyword arguments for ``litellm.acompletion`` (``extra_headers``,
            provider-specific options). The arguments this class sets itself take precedence.

    A request holds its concurrency slot while it retries, so a rate-limited provider sees
    fewer requests rather than more. The run's budget admits the request when it leaves that
    queue (:mod:`forethought.models.admission`).
    """

    cacheable = True
    admits_at_dispatch = True
    stream_usage = True
    exact_prompt_count = False
    """Whether :meth:`count_prompt_tokens` uses the provider's own tokenizer and template."""
    context_window: int | None = None
    """The model's context size in tokens, when known (to tell a reply cut by it)."""
    """Ask for a usage chunk at the end of a stream (``stream_options.include_usage``). A
    server that ignores it gets usage made up by LiteLLM's tokenizer; a subclass for such a
    server turns this off and counts for itself (:meth:`_stream_completion_tokens`)."""

    def __init__(self, model: str, *, api_base: str | None = None, api_key: str | None = None,
                 settings: ModelSettings | None = None, max_concurrency: int | None = None,
                 concurrency: Literal["fixed", "adaptive"] | ConcurrencyLimit = "fixed",
                 min_concurrency: int = 1,
                 max_retries: int = 4, retry_max_wait_s: float = 30.0, timeout_s: float = 60.0,
                 call_timeout_s: float | None = 300.0,
                 extra: Mapping[str, Any] | None = None) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise UserError(f"max_concurrency must be >= 1, got {max_concurrency!r}")
        if isinstance(concurrency, str) and concurrency not in ("fixed", "adaptive"):
            raise UserError(f"concurrency must be 'fixed', 'adaptive' or a ConcurrencyLimit, "
                            f"got {concurrency!r}")
        if max_retries < 0:
            raise UserError(f"max_retries must be >= 0, got {max_retries!r}")
        if timeout_s <= 0:
            raise UserError(f"timeout_s must be > 0, got {timeout_s!r}")
        if call_timeout_s is not None and call_timeout_s <= 0:
            raise UserError(f"call_timeout_s must be > 0 or None, got {call_timeout_s!r}")
        self.name = model
        self.api_base = api_base
        self.api_key = api_key
        self.settings = settings or ModelSettings()
        self.concurrency = concurrency
        self.min_concurrency = min_concurrency
        self.max_concurrency = max_concurrency if max_concurrency is not None else (
            256 if concurrency == "adaptive" else 8)
        self.max_retries = max_retries
        self.retry_max_wait_s = retry_max_wait_s
        self.timeout_s = timeout_s
        self.call_timeout_s = call_timeout_s
        self.extra: dict[str, Any] = dict(extra or {})
        self._ceiling: int | None = None
        self._ceiling_known = False
        self.limiter = self._make_limiter()

    def _make_limiter(self) -> ConcurrencyLimit:
        if not isinstance(self.concurrency, str):
            return self.concurrency
        if self.concurrency == "adaptive":
            return shared_limit(self.name, self.api_base, min_limit=self.min_concurrency,
                                initial=max(self.min_concurrency, min(8, self.max_concurrency)),
                                max_limit=self.max_concurrency)
        return FixedLimit(self.max_concurrency)

    # Pickling (process pools) drops the limiter, whose waiting belongs to this process; the
    # copy makes its own (an adaptive one is found again in the new process's registry).
    def __getstate__(self) -> dict[str, Any]:
        state = dict(vars(self))
        del state["limiter"]
        if not isinstance(self.concurrency, str):
            state["concurrency"] = "fixed"
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state)
        self.limiter = self._make_limiter()

    # -- life cycle and identity -----------------------------------------------------------

    def warm_up(self) -> None:
        litellm_import.warm_up()

    async def prepare(self) -> None:
        await litellm_import.ready()

    def cache_identity(self) -> dict[str, Any]:
        # The endpoint decides the reply as much as the model string does: two local servers
        # answering to the same name are different models. Headers and keys stay out.
        options = {k: v for k, v in self.extra.items()
                   if k not in ("extra_headers", "api_key", "timeout")}
        return {"model": self.name, "api_base": self.api_base, "options": options}

    # -- budget estimates -------------------------------------------------------------------

    def count_prompt_tokens(self, request: ModelRequest) -> int:
        """Prompt tokens by LiteLLM's default tokenizer (tiktoken, no download), or the
        four-characters estimate before litellm is imported.
        """
        lm = litellm_import.imported()
        if lm is None:
            return super().count_prompt_tokens(request)
        try:
            return int(lm.token_counter(
                messages=[m.to_openai() for m in request.messages],
                tools=[t.to_openai() for t in request.tools] or None))
        except Exception:  # noqa: BLE001 - an estimate is enough for a reservation
            return super().count_prompt_tokens(request)

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        lm = litellm_import.imported()
        if lm is None:
            return 0.0
        try:
            prompt, completion = lm.cost_per_token(model=self.name, prompt_tokens=prompt_tokens,
                                                   completion_tokens=completion_tokens)
            return float(prompt) + float(completion)
        except Exception:  # noqa: BLE001 - unknown price (local or unlisted models): free
            return 0.0

    def worst_case(self, request: ModelRequest) -> Usage:
        if not self._ceiling_known:
            self._ceiling = self._output_ceiling()
        self.max_output_tokens = self._ceiling
        return super().worst_case(self.resolve_request(request))

    def _output_ceiling(self) -> int | None:
        lm = litellm_import.imported()
        if lm is None:
            return None
        self._ceiling_known = True
        try:
            value = lm.get_model_info(self.name).get("max_output_tokens")
        except Exception:  # noqa: BLE001 - models LiteLLM does not list: the default ceiling
            return None
        return int(value) if isinstance(value, int) and value > 0 else None

    # -- requests ---------------------------------------------------------------------------

    def resolve_request(self, request: ModelRequest) -> ModelRequest:
        """``request`` with this model's default settings filled in where it left them unset.

        This is what is actually sent; the response cache keys on it.
        """
        s, d = request.settings, self.settings
        merged = replace(
            s,
            temperature=d.temperature if s.temperature is None else s.temperature,
            max_tokens=d.max_tokens if s.max_tokens is None else s.max_tokens,
            seed=d.seed if s.seed is None else s.seed,
            top_p=d.top_p if s.top_p is None else s.top_p,
            stop=s.stop or d.stop,
            timeout_s=d.timeout_s if s.timeout_s is None else s.timeout_s,
        )
        return request if merged == s else replace(request, settings=merged)


    def _attempt_timeout(self, request: ModelRequest) -> float:
        s = request.settings
        return s.timeout_s if s.timeout_s is not None else self.timeout_s

    def _arguments(self, request: ModelRequest) -> dict[str, Any]:
        s = request.settings
        args: dict[str, Any] = {
            **self.extra,
            "model": self.name,
            "messages": [m.to_openai() for m in request.messages],
            "timeout": self._attempt_timeout(request),
            "num_retries": 0,
            "max_retries": 0,
            "drop_params": True,
        }
        api_key = self.api_key
        if (api_key is None and self.api_base is not None and self.name.startswith("openai/")
                and not os.environ.get("OPENAI_API_KEY")):
            api_key = KEYLESS_PLACEHOLDER
        optional: dict[str, Any] = {
            "n": s.n if s.n != 1 else None,
            "temperature": s.temperature,
            "seed": s.seed,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            "stop": list(s.stop) or None,
            "tools": [t.to_openai() for t in request.tools] or None,
            "tool_choice": request.tool_choice,
            "api_base": self.api_base,
            "api_key": api_key,
        }
        if request.output_schema is not None:
            optional["response_format"] = {"type": "json_schema", "json_schema": {
                "name": request.output_schema.name, "schema": request.output_schema.schema,
                "strict": False}}
        args.update({k: v for k, v in optional.items() if v is not None})
        return args

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.max_retries + 1:
            return True
        exc = state.outcome.exception() if state.outcome is not None else None
        failure = classify(exc) if exc is not None else None
        return failure is not None and failure.malformed \
            and state.attempt_number >= MALFORMED_ATTEMPTS

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception(is_retryable),
            stop=self._stop,
            wait=RetryWait(self.retry_max_wait_s),
            reraise=True,
        )

    def _cost(self, response: Any) -> float:
        lm = litellm_import.imported()
        if lm is None:
            return 0.0
        try:
            return float(lm.completion_cost(completion_response=response))
        except Exception:  # noqa: BLE001 - unknown price (local or unlisted models): free
            return 0.0

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` with retries, the whole of it within ``call_timeout_s``."""
        attempts = 0
        scope = asyncio.timeout(self.call_timeout_s)
        try:
            async with scope:
                async for attempt in self._retrying():
                    with attempt:
                        attempts += 1
                        return await self._observed(call)
        except TimeoutError as exc:
            if scope.expired():
                raise ModelError(f"{self.name}: no complete reply within call_timeout_s="
                                 f"{self.call_timeout_s}s ({attempts} attempt"
                                 f"{'s' if attempts != 1 else ''})") from None
            self._reraise(exc, attempts)
        except Exception as exc:  # noqa: BLE001 - classified; anything else re-raised as is
            self._reraise(exc, attempts)
        raise AssertionError("unreachable: tenacity reraises the last failure")

    async def _observed(self, call: Callable[[], Awaitable[T]]) -> T:
        """One attempt, reported to the concurrency limiter: 429s and timeouts are overload."""
        start = time.perf_counter()
        try:
            result = await call()
        except Exception as exc:
            failure = classify(exc)
            overload = failure is not None and failure.retryable and (
                failure.status in (408, 429) or (failure.status is None and not failure.malformed))
            self.limiter.record("overload" if overload else "error",
                                time.perf_counter() - start)
            raise
        self.limiter.record("ok", time.perf_counter() - start)
        return result

    def _reraise(self, exc: Exception, attempts: int, note: str = "",
                 partial: ModelResponse | None = None) -> NoReturn:
        """Raise the forethought error for a provider failure; anything else unchanged."""
        failure = classify(exc)
        if failure is None:
            raise exc
        error = model_error(exc, failure, model=self.name, attempts=attempts, note=note)
        error.partial = partial
        raise error from exc

    async def request(self, request: ModelRequest) -> ModelResponse:
        lm = await litellm_import.ready()
        request = self.resolve_request(request)
        args = self._arguments(request)
        limit = self._attempt_timeout(request)

        async def call() -> Any:
            # The whole attempt, not each read: a server that trickles its body must not hold
            # a call for many times its timeout.
            try:
                async with asyncio.timeout(limit):
                    return await lm.acompletion(**args)
            except TimeoutError:
                raise TimeoutError(f"the attempt took longer than timeout_s={limit}s") from None

        async with self.limiter.slot():
            await dispatching(self, request)
            start = time.perf_counter()
            raw = await self._with_retries(call)
            latency = time.perf_counter() - start
        prompt, completion = _token_counts(_get(raw, "usage"))
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion,
                      cost_usd=self._cost(raw), latency_s=latency, model_calls=1)
        response = ModelResponse(choices=_choices(raw), usage=usage, model=self.name)
        response.warnings = self._truncation(request, response, provider_usage=True)
        return response

    async def request_stream(self, request: ModelRequest, on_text: TextCallback) -> ModelResponse:
        """Stream the reply, calling ``on_text`` with each text delta of the first sample.

        Failures before the first chunk are retried like :meth:`request`; once text has been
        delivered a failure is raised (as :class:`ModelError`, whose ``partial`` holds the text
        received and its tokens) rather than restarted. The per-attempt and whole-call limits
        cover the stream to its last chunk.
        """
        lm = await litellm_import.ready()
        request = self.resolve_request(request)
        args = {**self._arguments(request), "stream": True}
        if self.stream_usage:
            args["stream_options"] = {"include_usage": True}
        limit = self._attempt_timeout(request)
        loop = asyncio.get_running_loop()
        attempt_started = 0.0

        async def open_stream() -> tuple[litellm.CustomStreamWrapper, Any]:
            nonlocal attempt_started
            attempt_started = loop.time()
            try:
                async with asyncio.timeout(limit):
                    stream = cast("litellm.CustomStreamWrapper", await lm.acompletion(**args))
                    try:
                        first = await anext(stream.__aiter__(), None)
                    except BaseException:
                        await stream.aclose()
                        raise
            except TimeoutError:
                raise TimeoutError(f"no first chunk within timeout_s={limit}s") from None
            return stream, first

        state = _StreamState()
        async with self.limiter.slot():
            await dispatching(self, request)
            start = time.perf_counter()
            call_scope = asyncio.timeout(self.call_timeout_s)
            try:
                async with call_scope:
                    stream, first = await self._with_retries(open_stream)
                    try:
                        async with asyncio.timeout_at(attempt_started + limit):
                            if first is None:
                                # A 200 with no chunk at all (llama.cpp's server answers an
                                # over-long prompt so): no reply, not an empty one.
                                raise ModelError(f"{self.name}: the stream ended before its "
                                                 f"first chunk (an empty reply body)")
                            state.add(first, on_text)
                            async for chunk in stream:
                                state.add(chunk, on_text)
                    except TimeoutError:
                        raise ModelError(
                            f"{self.name}: the stream did not finish within timeout_s="
                            f"{limit}s") from None
                    except Exception as exc:  # noqa: BLE001 - classified; others re-raised
                        self._reraise(exc, 1, note=" (the stream broke after it had started)",
                                      partial=self._partial(state, request, start))
                    finally:
                        await stream.aclose()
            except TimeoutError:
                if not call_scope.expired():
                    raise
                raise ModelError(f"{self.name}: no complete reply within call_timeout_s="
                                 f"{self.call_timeout_s}s") from None
            except ModelError as exc:
                if exc.partial is None and state.texts:
                    exc.partial = self._partial(state, request, start)
                raise
            latency = time.perf_counter() - start
        return self._streamed(state, request, latency)

    def _streamed(self, state: _StreamState, request: ModelRequest, latency: float
                  ) -> ModelResponse:
        choices = state.choices()
        if state.usage is not None:
            tokens = _token_counts(state.usage)
        else:
            tokens = (self.count_prompt_tokens(request),
                      self._stream_completion_tokens(sum(state.deltas.values()), choices))
        usage = Usage(prompt_tokens=tokens[0], completion_tokens=tokens[1],
                      cost_usd=self.price(*tokens), latency_s=latency, model_calls=1)
        response = ModelResponse(choices=choices, usage=usage, model=self.name)
        response.warnings = self._truncation(request, response,
                                             provider_usage=state.usage is not None)
        return response

    def _truncation(self, request: ModelRequest, response: ModelResponse, *,
                    provider_usage: bool) -> list[str]:
        """What the usage counts say was cut short. The prompt check needs the provider's
        own count to compare ours with; the reply check works on any counts.
        """
        counted = self.count_prompt_tokens(request) if provider_usage else None
        return truncation_warnings(request, response, counted_prompt_tokens=counted,
                                   exact=self.exact_prompt_count,
                                   context_window=self.context_window)

    def _partial(self, state: _StreamState, request: ModelRequest, start: float
                 ) -> ModelResponse:
        """What a broken stream delivered, with the tokens it used (counted: the usage chunk
        comes last and never arrived).
        """
        return self._streamed(state, request, time.perf_counter() - start)

    def _stream_completion_tokens(self, deltas: int, choices: list[Choice]) -> int:
        """Completion tokens of a stream that reported no usage: counted by LiteLLM's
        tokenizer (a subclass for a server streaming one token per chunk counts the
        ``deltas``, the chunks that carried text or tool-call arguments).
        """
        return self._completion_tokens(choices)

    def _completion_tokens(self, choices: list[Choice]) -> int:
        text = "".join(c.text + "".join(t.arguments for t in c.tool_calls) for c in choices)
        lm = litellm_import.imported()
        if lm is not None:
            try:
                return int(lm.token_counter(text=text, count_response_tokens=True))
            except Exception:  # noqa: BLE001 - the estimate below is enough
                pass
        return _estimate_tokens(len(text))

    def __repr__(self) -> str:
        base = f", api_base={self.api_base!r}" if self.api_base else ""
        return f"LiteLLMModel({self.name!r}{base})"
