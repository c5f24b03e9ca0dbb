"""Replies from a sandbox worker, checked before anything is built from them.

The runner lives inside the sandbox, next to the code it runs, and that code can write on
the job's control channel. So a reply is input from outside like any other: each kind has a
strict schema (exact types, no unknown fields), and a reply that does not match is refused
with a :class:`SandboxError` naming what was wrong, the worker killed and replaced. Nothing
downstream (the ``python`` tool, ``run_tests``) ever sees a value of the wrong type.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from forethought.sandbox.base import ExecResult, Isolation, LimitName, PythonError

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)
M = TypeVar("M", bound=BaseModel)


class ReplyError(ValueError):
    """A reply that does not match the protocol (the message says where)."""


class WireError(BaseModel):
    model_config = _STRICT

    type: str
    message: str
    traceback: str
    line: int | None = None
    errno: int | None = None


class ExecReply(BaseModel):
    """The answer to ``exec`` and ``cell``."""

    model_config = _STRICT

    stdout: str = ""
    stderr: str = ""
    stdout_bytes: int = Field(default=0, ge=0)
    stderr_bytes: int = Field(default=0, ge=0)
    exit_code: int | None = None
    duration_s: float = Field(default=0.0, ge=0)
    timed_out: bool = False
    killed_for_memory: bool = False
    limit: LimitName | None = None
    value: str | None = None
    error: WireError | None = None
    files: dict[str, str] = Field(default_factory=dict[str, str])
    missing_files: dict[str, str] = Field(default_factory=dict[str, str])
    cpu_s: float | None = None
    maxrss_kb: int | None = None
    note: str | None = None
    clean: bool = False
    dirty: str | None = None
    session_dead: bool = False


class OpenReply(BaseModel):
    """The answer to ``open`` (a session's start)."""

    model_config = _STRICT

    ok: Literal[True]
    clean: bool = False


class CloseReply(BaseModel):
    """The answer to ``close`` (a session's end)."""

    model_config = _STRICT

    clean: bool = False
    dirty: str | None = None


class ReadyFrame(BaseModel):
    """What a runner says once it is up."""

    model_config = _STRICT

    ready: Literal[True]
    pid: int
    python: str


def check(model: type[M], data: object) -> M:
    """``data`` as ``model``, or :class:`ReplyError` naming the first fields that are wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'the reply'}: {e['msg']}"
                    for e in exc.errors()[:3]]
        raise ReplyError("; ".join(problems)) from None


def exec_result(reply: ExecReply, *, isolation: Isolation, cap: int) -> ExecResult:
    """The :class:`ExecResult` of a checked reply (``cap``: bytes kept per stream)."""
    files: dict[str, bytes] = {}
    for name, b64 in reply.files.items():
        try:
            files[name] = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise ReplyError(f"files.{name}: not base64") from None
    err = reply.error
    return ExecResult(
        stdout=reply.stdout, stderr=reply.stderr, exit_code=reply.exit_code,
        duration_s=reply.duration_s, timed_out=reply.timed_out,
        killed_for_memory=reply.killed_for_memory, limit=reply.limit,
        stdout_bytes=reply.stdout_bytes, stderr_bytes=reply.stderr_bytes,
        stdout_truncated=reply.stdout_bytes > cap, stderr_truncated=reply.stderr_bytes > cap,
        value=reply.value,
        error=PythonError(type=err.type, message=err.message, traceback=err.traceback,
                          line=err.line) if err else None,
        files=files, missing_files=dict(reply.missing_files), cpu_s=reply.cpu_s,
        max_rss_mb=reply.maxrss_kb / 1024 if reply.maxrss_kb else None,
        isolation=isolation, note=reply.note)
