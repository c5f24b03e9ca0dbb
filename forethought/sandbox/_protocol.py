"""Host side of the worker protocol: the runner's source, request frames, validation.

Frames are a 4-byte big-endian length and a UTF-8 JSON object, in both directions. A request
with stdin is followed by ``stdin_bytes`` raw bytes (never JSON-escaped, read and written in
linear time); replies are checked by ``_wire.py``.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from forethought.exceptions import UserError
from forethought.sandbox.base import Language, Limits

_HERE = Path(__file__).parent
_PARTS = ("_runner_guard.py", "_runner_job.py", "_runner_io.py", "_runner_files.py",
          "_runner.py")
_DROP = re.compile(r"^from forethought\.[\w.]+ import \((?:[^)]*)\)\n", re.MULTILINE)
MAX_FRAME = 256 << 20
"""The largest frame either side accepts (a request's files travel in it, base64-encoded)."""
MAX_STDIN_BYTES = 128 << 20
"""The most stdin one run takes, in bytes (128 MiB); more is refused at once with a
:class:`UserError`, before any worker is used."""

BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "USER": "sandbox", "LOGNAME": "sandbox",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8",
            "MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
"""The whole environment sandboxed code sees, plus what the caller passes: nothing of the
host's environment is passed on."""


@cache
def runner_source() -> str:
    """The in-sandbox program: the three runner parts as one script for ``python -c``."""
    chunks: list[str] = []
    for i, name in enumerate(_PARTS):
        text = (_HERE / name).read_text(encoding="utf-8")
        text = _DROP.sub("", text)
        if i:
            text = text.replace("from __future__ import annotations\n", "", 1)
        chunks.append(text)
    return "\n".join(chunks)


def encode_frame(obj: Mapping[str, Any]) -> bytes:
    data = json.dumps(obj).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise UserError(f"the request is {len(data)} bytes once encoded, more than the "
                        f"{MAX_FRAME} a sandbox frame holds; pass smaller input files")
    return struct.pack(">I", len(data)) + data


def frame_length(header: bytes) -> int:
    (n,) = struct.unpack(">I", header)
    if n > MAX_FRAME:
        raise ValueError(f"a frame of {n} bytes is larger than {MAX_FRAME}")
    return int(n)


def _check_path(rel: str, what: str) -> str:
    parts = rel.replace("\\", "/").split("/")
    if not rel or rel.startswith("/") or ".." in parts or all(p in ("", ".") for p in parts):
        raise UserError(f"{what} {rel!r} must be a relative path inside the work dir "
                        f"(no leading '/', no '..')")
    return rel


def encode_files(files: Mapping[str, str | bytes] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for rel, content in (files or {}).items():
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        out[_check_path(rel, "input file")] = base64.b64encode(data).decode("ascii")
    return out


def encode_stdin(stdin: str) -> bytes:
    """``stdin`` as UTF-8; a :class:`UserError` at once when it is over the cap."""
    if not isinstance(stdin, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise UserError(f"stdin must be a string, got {type(stdin).__name__}")
    # A str of more characters than the cap is over it in bytes too: refuse before encoding.
    data = b"" if len(stdin) > MAX_STDIN_BYTES else stdin.encode("utf-8")
    if len(stdin) > MAX_STDIN_BYTES or len(data) > MAX_STDIN_BYTES:
        size = max(len(stdin), len(data))
        raise UserError(f"stdin is {size / (1 << 20):.1f} MiB (at least {size} bytes); a "
                        f"sandbox run takes at most {MAX_STDIN_BYTES >> 20} MiB "
                        f"({MAX_STDIN_BYTES} bytes) of stdin")
    return data


def build_request(op: str, *, code: str = "", language: Language = "python", stdin: str = "",
                  files: Mapping[str, str | bytes] | None = None,
                  env: Mapping[str, str] | None = None, limits: Limits,
                  output_files: Sequence[str] = ()) -> tuple[dict[str, Any], bytes]:
    """A request frame for the runner and the stdin bytes that follow it; raises
    :class:`UserError` for invalid arguments.
    """
    data = encode_stdin(stdin)
    if language not in ("python", "shell"):
        raise UserError(f"language {language!r} is not supported; use 'python' or 'shell'")
    if not isinstance(code, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise UserError(f"code must be a string, got {type(code).__name__}")
    merged = dict(BASE_ENV)
    for key, value in (env or {}).items():
        if not isinstance(key, str) or not isinstance(value, str) or "=" in key or not key:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise UserError(f"environment variable {key!r}={value!r}: names and values must "
                            f"be strings, names without '='")
        merged[key] = value
    frame = {"op": op, "code": code, "language": language, "stdin_bytes": len(data),
             "files": encode_files(files), "env": merged, "limits": limits.to_wire(),
             "output_files": [_check_path(p, "output file") for p in output_files]}
    return frame, data
