"""Host side of the worker protocol: the runner's source, request frames, validation.

Frames are a 4-byte big-endian length and a UTF-8 JSON object, in both directions.
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
_PARTS = ("_runner_job.py", "_runner_io.py", "_runner.py")
_DROP = re.compile(r"^from forethought\.[\w.]+ import \((?:[^)]*)\)\n", re.MULTILINE)
MAX_FRAME = 256 << 20

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


def build_request(op: str, *, code: str = "", language: Language = "python", stdin: str = "",
                  files: Mapping[str, str | bytes] | None = None,
                  env: Mapping[str, str] | None = None, limits: Limits,
                  output_files: Sequence[str] = ()) -> dict[str, Any]:
    """A request frame for the runner; raises :class:`UserError` for invalid arguments."""
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
    return {"op": op, "code": code, "language": language, "stdin": stdin,
            "files": encode_files(files), "env": merged, "limits": limits.to_wire(),
            "output_files": [_check_path(p, "output file") for p in output_files]}


def decode_files(data: Mapping[str, str] | None) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (data or {}).items()}
