"""Searching an index: BM25 alone, or BM25 fused with embedding similarity (hybrid).

Hybrid ranking scores every passage both ways and fuses the two rankings (:mod:`.fusion`:
distribution-based score fusion by default, or min-max weighting, or reciprocal rank fusion),
with the hybrid weight ``w``: 0 ranks by BM25 alone, 1 by embeddings alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forethought._sync import run_sync
from forethought.exceptions import ModelError, UserError
from forethought.tools.retrieval.embeddings import Embedder
from forethought.tools.retrieval.fusion import POOL, best, check_fusion, check_weight, fuse
from forethought.tools.retrieval.index import (
    Hit,
    IndexSettings,
    RetrievalIndex,
    check_query,
    fingerprint,
)
from forethought.tools.retrieval.options import DEFAULT_FUSION, DEFAULT_WEIGHT, Fusion
from forethought.tools.retrieval.passages import (
    DEFAULT_FIELDS,
    CorpusFormat,
    Fields,
    SplitMode,
    load_passages,
)
from forethought.tools.retrieval.progress import Progress
from forethought.tools.retrieval.store import MANIFEST, read_manifest


@dataclass(kw_only=True)
class Retriever:
    """An index with its search settings: BM25 alone, or hybrid when ``embedder`` is set.

    With an ``embedder``, passages are embedded on the first search (or :meth:`aprepare`)
    unless the index already holds embeddings of that model; when ``index_path`` is set the
    index is saved again with them, so the next load does not pay for it.
    """

    index: RetrievalIndex
    embedder: Embedder | None = None
    weight: float = DEFAULT_WEIGHT
    """Hybrid weight of the embedding ranking, from 0 to 1."""
    fusion: Fusion = DEFAULT_FUSION
    """How the two rankings are fused (see :mod:`.fusion`)."""
    index_path: Path | None = None

    def __post_init__(self) -> None:
        self.weight = check_weight(self.weight)
        self.fusion = check_fusion(self.fusion)
        self._lock = asyncio.Lock()

    async def aprepare(self, *, progress: Progress = None) -> None:
        """Embed the passages if hybrid search needs it (once; concurrent callers wait)."""
        embedder = self.embedder
        if embedder is None:
            return
        async with self._lock:
            current = self.index.embeddings
            if current is not None and current.model == embedder.model:
                return
            await self.index.aembed(embedder, progress=progress)
            if self.index_path is not None:
                await asyncio.to_thread(self.index.save, self.index_path)

    async def asearch(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` best passages for ``query``."""
        query = check_query(query, k)
        if self.embedder is None:
            return await asyncio.to_thread(self.index.search, query, k)
        await self.aprepare()
        embeddings = self.index.embeddings
        assert embeddings is not None  # aprepare made them
        query_vector = (await self.embedder.aembed([query], query=True))[0]
        if query_vector.shape[0] != embeddings.vectors.shape[1]:
            raise UserError(f"the query embedding has {query_vector.shape[0]} dimensions but "
                            f"the stored passage embeddings have {embeddings.vectors.shape[1]}")
        if not np.isfinite(query_vector).all():
            raise ModelError(f"embedding model {self.embedder.query_model or self.embedder.model!r}"
                             f" returned a query vector holding NaN or infinity")
        bm25 = await asyncio.to_thread(self.index.bm25_scores, query)
        dense = (embeddings.vectors @ query_vector).astype(np.float32)
        fused = fuse(bm25, dense, weight=self.weight, fusion=self.fusion,
                     pool=max(POOL, k))
        return [self.index.hit(i, float(fused[i]), rank, bm25_score=float(bm25[i]),
                               embedding_score=float(dense[i]))
                for rank, i in enumerate(best(fused, k).tolist(), start=1)]

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """Sync form of :meth:`asearch` (not from inside a running event loop)."""
        return run_sync(self.asearch(query, k), name="Retriever.search()",
                        async_form="retriever.asearch(...)")


def open_index(*, corpus: str | Path | None = None, index: str | Path | None = None,
               settings: IndexSettings | None = None, format: CorpusFormat = "auto",
               fields: Fields = DEFAULT_FIELDS, split: SplitMode = "paragraph",
               progress: Progress = None) -> RetrievalIndex:
    """Build, load or refresh an index.

    - ``corpus`` only: build in memory;
    - ``index`` only: load it (its own settings apply; another version is an error);
    - both: load the saved index if it was built from this very corpus with these settings
      by this index format and bm25s version, else build it and save it there.
    """
    if corpus is None and index is None:
        raise UserError("give a corpus (folder, text file or JSONL) or a saved index path")
    if corpus is None:
        loaded = RetrievalIndex.load(Path(str(index)))
        if settings is not None and settings != loaded.settings:
            raise UserError(f"the index at {str(index)!r} was built with {loaded.settings}, "
                            f"not the {settings} asked for; give its corpus too to rebuild it")
        return loaded
    settings = settings or IndexSettings()
    settings.check()
    passages = load_passages(corpus, format=format, fields=fields, split=split)
    if index is not None:
        path = Path(index)
        if (path / MANIFEST).is_file():
            try:
                manifest = read_manifest(path)
            except UserError:
                manifest = None  # another version or damaged: rebuilt from the corpus below
            if manifest is not None and manifest.fingerprint == fingerprint(passages, settings):
                return RetrievalIndex.load(path)
    built = RetrievalIndex.build(passages, settings, progress=progress)
    if index is not None:
        built.save(index)
    return built
