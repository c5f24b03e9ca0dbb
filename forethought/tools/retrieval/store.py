"""An index on disk: a folder with a manifest, the bm25s index, the passages and embeddings.

::

    index/
      manifest.json     format and format_version, bm25s and PyStemmer versions, tokenizer
                        settings, passage count, corpus fingerprint, embedding model
      bm25/             bm25s's own files (BM25.save)
      passages.jsonl    {"id", "title", "text"} per line, in index order
      embeddings.npy    float32, one unit-length row per passage (only when embedded)

An index is written to a sibling temporary folder and swapped in at the end, so a failed
save leaves the previous index intact. Loading checks the manifest first: an index written by
another index format or another bm25s version is refused with a message saying to rebuild.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pydantic

from forethought.exceptions import UserError
from forethought.tools.retrieval.index import (
    EmbeddingMatrix,
    IndexSettings,
    RetrievalIndex,
    import_bm25s,
)
from forethought.tools.retrieval.passages import Passage

FORMAT = "forethought.retrieval"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_REBUILD = ("rebuild it from its corpus (tool option 'corpus' with 'index', or "
            "RetrievalIndex.from_corpus(...).save(path))")


class EmbeddingInfo(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    model: str
    dim: int
    file: str = "embeddings.npy"


class Manifest(pydantic.BaseModel):
    """What ``manifest.json`` holds."""

    model_config = pydantic.ConfigDict(extra="forbid")
    format: Literal["forethought.retrieval"]
    format_version: int
    bm25s_version: str
    pystemmer_version: str | None
    forethought_version: str
    tokenizer: dict[str, Any]
    """:meth:`IndexSettings.to_dict`: stemmer language, stop words, lower-casing, token
    pattern, title indexing, BM25 k1, b and method."""
    passages: int
    fingerprint: str
    embedding: EmbeddingInfo | None = None
    created: str


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def bm25s_version() -> str:
    return str(import_bm25s().__version__)


def read_manifest(path: Path) -> Manifest:
    """The manifest of the index at ``path``; a clear error when there is none, it is
    damaged, or it was written by another index format or bm25s version.
    """
    file = path / MANIFEST
    if not file.is_file():
        what = "does not exist" if not path.exists() else f"has no {MANIFEST}"
        raise UserError(f"no retrieval index at {str(path)!r} ({what}); build one with the "
                        f"'corpus' option or RetrievalIndex.from_corpus(...).save(path)")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"the manifest of the retrieval index at {str(path)!r} is damaged "
                        f"({exc}); {_REBUILD}") from None
    if not isinstance(raw, dict) or cast(dict[str, Any], raw).get("format") != FORMAT:
        raise UserError(f"{str(file)!r} is not a forethought retrieval index manifest; {_REBUILD}")
    data = cast(dict[str, Any], raw)
    if data.get("format_version") != FORMAT_VERSION:
        raise UserError(f"the retrieval index at {str(path)!r} has index format version "
                        f"{data.get('format_version')!r} but this forethought reads version "
                        f"{FORMAT_VERSION}; {_REBUILD}")
    installed = bm25s_version()
    if data.get("bm25s_version") != installed:
        raise UserError(f"the retrieval index at {str(path)!r} was built with bm25s "
                        f"{data.get('bm25s_version')!r} but bm25s {installed!r} is installed; "
                        f"{_REBUILD}")
    try:
        return Manifest.model_validate(data)
    except pydantic.ValidationError as exc:
        raise UserError(f"the manifest of the retrieval index at {str(path)!r} is damaged "
                        f"({exc.error_count()} problems, first: {exc.errors()[0]['msg']} at "
                        f"{'.'.join(str(p) for p in exc.errors()[0]['loc'])}); {_REBUILD}") \
            from None


def _write(index: RetrievalIndex, folder: Path) -> None:
    from forethought import __version__

    index.bm25.save(str(folder / "bm25"), show_progress=False)
    with (folder / "passages.jsonl").open("w", encoding="utf-8") as f:
        for p in index.passages:
            f.write(json.dumps({"id": p.id, "title": p.title, "text": p.text},
                               ensure_ascii=False) + "\n")
    embedding = None
    if index.embeddings is not None:
        vectors = index.embeddings.vectors
        np.save(folder / "embeddings.npy", vectors, allow_pickle=False)
        embedding = EmbeddingInfo(model=index.embeddings.model, dim=int(vectors.shape[1]))
    manifest = Manifest(format=FORMAT, format_version=FORMAT_VERSION,
                        bm25s_version=bm25s_version(), pystemmer_version=_version("PyStemmer"),
                        forethought_version=__version__, tokenizer=index.settings.to_dict(),
                        passages=len(index.passages), fingerprint=index.fingerprint,
                        embedding=embedding,
                        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")


def save_index(index: RetrievalIndex, path: Path) -> Path:
    """Write ``index`` to the folder ``path``, replacing an index already there, atomically
    enough that an error leaves the old one in place. A non-empty folder that is not an index
    is never overwritten.
    """
    if path.exists() and (not path.is_dir() or (any(path.iterdir())
                                                 and not (path / MANIFEST).is_file())):
        raise UserError(f"{str(path)!r} exists and is not a retrieval index; refusing to "
                        f"overwrite it (choose an empty or new folder)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
    try:
        _write(index, tmp)
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            path.rename(old / path.name)
        tmp.rename(path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _read_passages(file: Path, expected: int, path: Path) -> list[Passage]:
    passages: list[Passage] = []
    try:
        with file.open(encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                passages.append(Passage(id=rec["id"], title=rec["title"], text=rec["text"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"the passages of the retrieval index at {str(path)!r} cannot be read "
                        f"({type(exc).__name__}: {exc}); {_REBUILD}") from None
    if len(passages) != expected:
        raise UserError(f"the retrieval index at {str(path)!r} lists {expected} passages but "
                        f"passages.jsonl holds {len(passages)}; {_REBUILD}")
    return passages


def load_index(path: Path) -> RetrievalIndex:
    """Open the index saved at ``path`` (see the module docstring for the checks)."""
    manifest = read_manifest(path)
    passages = _read_passages(path / "passages.jsonl", manifest.passages, path)
    bm25s = import_bm25s()
    try:
        bm25 = bm25s.BM25.load(str(path / "bm25"), mmap=False, show_progress=False)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"the bm25s files of the retrieval index at {str(path)!r} cannot be "
                        f"read ({type(exc).__name__}: {exc}); {_REBUILD}") from None
    if int(bm25.scores["num_docs"]) != manifest.passages:
        raise UserError(f"the bm25s index at {str(path)!r} holds {bm25.scores['num_docs']} "
                        f"documents but the manifest lists {manifest.passages}; {_REBUILD}")
    embeddings = None
    if manifest.embedding is not None:
        try:
            vectors = np.load(path / manifest.embedding.file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"the embeddings of the retrieval index at {str(path)!r} cannot "
                            f"be read ({exc}); {_REBUILD}") from None
        if vectors.shape != (manifest.passages, manifest.embedding.dim):
            raise UserError(f"the embeddings of the retrieval index at {str(path)!r} have shape "
                            f"{vectors.shape}, expected ({manifest.passages}, "
                            f"{manifest.embedding.dim}); {_REBUILD}")
        embeddings = EmbeddingMatrix(model=manifest.embedding.model,
                                     vectors=vectors.astype(np.float32, copy=False))
    return RetrievalIndex(passages=passages, settings=IndexSettings.from_dict(manifest.tokenizer),
                          bm25=bm25, fingerprint=manifest.fingerprint, embeddings=embeddings)
