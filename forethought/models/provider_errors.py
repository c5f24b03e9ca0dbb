"""How provider failures are classified, retried and reported for LiteLLM models.

Retry on 429, 408, 5xx, timeouts and connection errors; never on other 4xx, nor on a 5xx
whose body is a request validation error (a server that labels its 422 as 500). Wait what the
provider asks (``retry-after-ms`` / ``Retry-After``) or back off exponentially with jitter.

A reply that arrived with a success status but could not be read (invalid JSON, no
``choices``) is *malformed*, not a server error: litellm labels it HTTP 500, but no HTTP error
status appears in its exception chain. It is retried at most :data:`MALFORMED_ATTEMPTS` times
in all and reported as :class:`~forethought.exceptions.MalformedResponseError`.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from tenacity import RetryCallState, wait_random_exponential

from forethought.exceptions import MalformedResponseError, ModelError, ModelHTTPError

MALFORMED_ATTEMPTS = 3
"""Attempts in all (the first and two retries) for replies that come back malformed."""


@dataclass(frozen=True, slots=True)
class Failure:
    """How one provider exception is classified."""

    retryable: bool
    status: int | None
    """HTTP status, or ``None`` for timeouts and connection errors."""
    malformed: bool = False
    """A success status with a body that is not a valid reply."""
    rejected: bool = False
    """A 5xx whose body says the request failed validation: the request is wrong, not the
    server (see :func:`is_request_validation_error`)."""


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


def _chain(exc: BaseException) -> list[BaseException]:
    seen: set[int] = set()
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def http_status(exc: BaseException) -> int | None:
    """The status of an HTTP error response really received, found in ``exc``'s chain
    (the OpenAI SDK's ``APIStatusError`` or httpx's ``HTTPStatusError``); ``None`` if no error
    status was received.
    """
    import httpx
    import openai

    for item in _chain(exc):
        # litellm's own exceptions subclass the SDK's and carry made-up statuses (a 200 whose
        # body did not parse becomes "500"): only the SDK's and httpx's saw a real response.
        if type(item).__module__.startswith("litellm"):
            continue
        if isinstance(item, openai.APIStatusError):
            return item.status_code
        if isinstance(item, httpx.HTTPStatusError):
            return item.response.status_code
    return None


_MALFORMED_TEXT = re.compile(r"invalid response|no 'choices'|Invalid response object|"
                             r"Expecting value|Unterminated string|Extra data", re.IGNORECASE)


def is_malformed(exc: BaseException) -> bool:
    """Whether ``exc`` reports a success reply whose body could not be read: no HTTP error
    status in the chain, and a decoding or validation failure (or litellm's words for one).
    """
    if http_status(exc) is not None:
        return False
    return any(isinstance(item, json.JSONDecodeError | UnicodeDecodeError | KeyError | TypeError)
               or _MALFORMED_TEXT.search(str(item)) for item in _chain(exc))


_VALIDATION = re.compile(r"\bvalidation errors?\b", re.IGNORECASE)
_VALIDATION_DETAIL = re.compile(r"['\"](loc|literal_error|string_type|missing|type_error)['\"]")


def is_request_validation_error(exc: BaseException) -> bool:
    """Whether an error status carries a body saying the *request* failed validation.

    Some servers (llama.cpp's Python server among them) answer a request their schema rejects
    with HTTP 500 instead of 4xx; the body is pydantic's "N validation errors: {'loc': ...}".
    Sending the same request again cannot help, so it is a client error, whatever its status.
    """
    for item in _chain(exc):
        text = str(item)
        body = getattr(getattr(item, "response", None), "text", None)
        for candidate in (text, body if isinstance(body, str) else ""):
            if _VALIDATION.search(candidate) and _VALIDATION_DETAIL.search(candidate):
                return True
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
    if is_malformed(exc):
        return Failure(retryable=True, status=None, malformed=True)
    status = http_status(exc)
    if status is None:
        reported = getattr(exc, "status_code", None)
        status = reported if isinstance(reported, int) else None
    if status is None:
        return Failure(retryable=False, status=None)
    if status >= 500 and is_request_validation_error(exc):
        return Failure(retryable=False, status=status, rejected=True)
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
    if failure.malformed:
        return MalformedResponseError(message, model=model)
    if failure.rejected:
        message = ("the server rejected the request as invalid (a validation error sent "
                   "with a server-error status; not retried): " + message)
    if failure.status is not None:
        return ModelHTTPError(message, status_code=failure.status, model=model)
    return ModelError(f"{model}: {message}")
