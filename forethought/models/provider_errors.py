"""How provider failures are classified, retried and reported for LiteLLM models.

Retry on 429, 408, 5xx, timeouts and connection errors; never on other 4xx. Wait what the
provider asks (``retry-after-ms`` / ``Retry-After``) or back off exponentially with jitter.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from tenacity import RetryCallState, wait_random_exponential

from forethought.exceptions import ModelError, ModelHTTPError


@dataclass(frozen=True, slots=True)
class Failure:
    """How one provider exception is classified."""

    retryable: bool
    status: int | None
    """HTTP status, or ``None`` for timeouts and connection errors."""


def no_response(exc: BaseException) -> bool:
    """Whether ``exc`` means no HTTP response arrived (timeout, refused or dropped connection).

    litellm.Timeout and litellm.APIConnectionError carry made-up status codes (408, 500), and
    litellm maps a refused connection to an ``InternalServerError`` with status 500, so the
    exception chain is searched for the transport failure underneath.
    """
    import httpx
    import openai

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, openai.APIConnectionError | httpx.TransportError | TimeoutError
                      | ConnectionError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def never_sent(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by the client before any request left (missing credentials,
    a bad client option). The OpenAI SDK raises a plain ``OpenAIError`` for these and litellm
    relabels it HTTP 500; retrying cannot help.
    """
    import openai

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, openai.OpenAIError) and not isinstance(current, openai.APIError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def classify(exc: BaseException) -> Failure | None:
    """``None`` for exceptions that are not provider failures (bugs propagate unchanged)."""
    import httpx
    import openai

    if not isinstance(exc, openai.OpenAIError | httpx.TransportError | TimeoutError):
        return None
    if never_sent(exc):
        return Failure(retryable=False, status=None)
    if no_response(exc):
        return Failure(retryable=True, status=None)
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        return Failure(retryable=False, status=None)
    return Failure(retryable=status in (408, 429) or status >= 500, status=status)


def is_retryable(exc: BaseException) -> bool:
    failure = classify(exc)
    return failure is not None and failure.retryable


def response_headers(exc: BaseException) -> Mapping[str, str] | None:
    """The provider's response headers on a litellm exception, if it kept them.

    litellm's exception mapping attaches them as ``litellmresponse_headers`` (an
    ``httpx.Headers``); status errors also keep an ``httpx.Response`` in ``response``.
    """
    headers = getattr(exc, "litellmresponse_headers", None)
    if headers is None:
        try:
            headers = getattr(getattr(exc, "response", None), "headers", None)
        except Exception:  # noqa: BLE001 - a half-built response object; no headers then
            headers = None
    return cast("Mapping[str, str]", headers) if isinstance(headers, Mapping) else None


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be seconds or an HTTP date. ``None`` when absent or unreadable.
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RetryWait:
    """Backoff with jitter, unless the provider said how long to wait; capped."""

    def __init__(self, cap_s: float) -> None:
        self.cap_s = cap_s
        self._backoff = wait_random_exponential(multiplier=0.5, max=cap_s)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        after = retry_after_seconds(response_headers(exc)) if exc is not None else None
        if after is not None:
            return min(after, self.cap_s)
        return self._backoff(state)


def model_error(exc: BaseException, failure: Failure, *, model: str, attempts: int,
                 note: str = "") -> ModelError:
    message = (str(exc) or type(exc).__name__) + note
    if attempts > 1:
        message += f" (gave up after {attempts} attempts)"
    if failure.status is not None:
        return ModelHTTPError(message, status_code=failure.status, model=model)
    return ModelError(f"{model}: {message}")
