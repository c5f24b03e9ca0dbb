"""The REPL session as a JSON file (``/save FILE``, ``/load FILE``): settings, conversation,
transcript and runs. Read back through pydantic (``extra="forbid"``): a file is a trust
boundary, and a hand-edited or truncated one must fail with the field that is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pydantic

from forethought._options import describe_errors
from forethought.exceptions import UserError

MAX_BYTES = 50_000_000
"""A session file larger than this is refused (a transcript is text; this is far beyond)."""


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class Entry(_Strict):
    """One line of the transcript: what was typed, and what a question got."""

    kind: Literal["question", "answer", "command"]
    text: str
    run_id: str | None = None
    """The run that answered (answers only)."""
    status: str | None = None
    """The run's status (answers only)."""
    detail: str | None = None
    """The usage line shown under the answer."""


class RunSummary(_Strict):
    """One run of the session, as its ``run_finished`` event reported it."""

    run_id: str
    status: str
    question: str = ""
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    rerun_of: str | None = None


class SessionFile(_Strict):
    """Everything ``/load`` needs to put a session back as it was saved."""

    format: Literal["forethought-repl-session"] = "forethought-repl-session"
    version: Literal[1] = 1
    saved: float
    """When it was saved (Unix time)."""
    settings: dict[str, Any]
    """The recipe settings (model, tools, planner, budget...), as a recipe file has them."""
    source: str | None = None
    """The recipe file the settings came from, if any."""
    base_dir: str | None = None
    """The folder relative paths in the settings are resolved against."""
    conversation_id: str
    messages: list[dict[str, Any]]
    """The conversation, in the OpenAI chat form."""
    transcript: list[Entry]
    runs: list[RunSummary]
    store: str
    """The run store the runs are recorded in."""


def write_session(data: SessionFile, path: Path) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file renamed into place)."""
    text = json.dumps(data.model_dump(mode="json"), ensure_ascii=False, indent=1)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_session(path: Path) -> SessionFile:
    """The session saved in ``path``; a :class:`UserError` says what is wrong with it."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise UserError(f"{path} is larger than {MAX_BYTES:,} bytes: not a saved session")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a saved session (not valid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != "forethought-repl-session":  # pyright: ignore[reportUnknownMemberType]
        raise UserError(f"{path} is not a saved session (written by /save, it has "
                        f"\"format\": \"forethought-repl-session\")")
    try:
        return SessionFile.model_validate(data)
    except pydantic.ValidationError as exc:
        raise UserError(f"{path}: {describe_errors(exc)}") from None
