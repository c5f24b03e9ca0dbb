"""Retrieval: a BM25 index (bm25s) over passages from files, JSONL or a list, saved to disk
and reloaded, with optional hybrid ranking through LiteLLM embedding models, and the
``retrieve`` tool that searches it.

Names are imported on first use: importing this package (or loading the tool registry)
imports neither numpy, bm25s, PyStemmer nor litellm (the ``retrieval`` extra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forethought.tools.retrieval.embeddings import Embedder
    from forethought.tools.retrieval.fusion import fuse
    from forethought.tools.retrieval.index import (
        EmbeddingMatrix,
        Hit,
        IndexSettings,
        RetrievalIndex,
    )
    from forethought.tools.retrieval.options import Fusion, RetrieveOptions
    from forethought.tools.retrieval.passages import (
        Fields,
        Passage,
        load_passages,
        passages_from_dir,
        passages_from_jsonl,
        passages_from_list,
    )
    from forethought.tools.retrieval.progress import ProgressCallback
    from forethought.tools.retrieval.retriever import Retriever, open_index
    from forethought.tools.retrieval.store import FORMAT_VERSION, Manifest, read_manifest
    from forethought.tools.retrieval.tool import RetrieveFactory, RetrieveTool, retrieve

_PKG = "forethought.tools.retrieval"
_EXPORTS: dict[str, str] = {
    "Embedder": "embeddings",
    "EmbeddingMatrix": "index",
    "Hit": "index",
    "IndexSettings": "index",
    "RetrievalIndex": "index",
    "Fusion": "options",
    "RetrieveOptions": "options",
    "Fields": "passages",
    "Passage": "passages",
    "load_passages": "passages",
    "passages_from_dir": "passages",
    "passages_from_jsonl": "passages",
    "passages_from_list": "passages",
    "ProgressCallback": "progress",
    "Retriever": "retriever",
    "fuse": "fusion",
    "open_index": "retriever",
    "FORMAT_VERSION": "store",
    "Manifest": "store",
    "read_manifest": "store",
    "RetrieveFactory": "tool",
    "RetrieveTool": "tool",
    "retrieve": "tool",
}
__all__ = [
    "FORMAT_VERSION",
    "Embedder",
    "EmbeddingMatrix",
    "Fields",
    "Fusion",
    "Hit",
    "IndexSettings",
    "Manifest",
    "Passage",
    "ProgressCallback",
    "RetrievalIndex",
    "RetrieveFactory",
    "RetrieveOptions",
    "RetrieveTool",
    "Retriever",
    "fuse",
    "load_passages",
    "open_index",
    "passages_from_dir",
    "passages_from_jsonl",
    "passages_from_list",
    "read_manifest",
    "retrieve",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{_PKG}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {_PKG!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
