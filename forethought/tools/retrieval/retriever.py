"""Searching an index: BM25 alone, or BM25 fused with embedding similarity (hybrid).

Hybrid ranking scores every passage both ways and fuses the two rankings:

- ``"weighted"`` (default): ``(1 - w) * bm25 / max(bm25) + w * minmax(cosine)``, a weighted
  sum of scores normalised to [0, 1] over the whole corpus;
- ``"rrf"``: weighted reciprocal rank fusion, ``(1 - w) / (60 + rank_bm25) + w / (60 +
  rank_cosine)``, where passages sharing no word with the query get no BM25 term.

``w`` is the hybrid weight: 0 ranks by BM25 alone, 1 by embeddings alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forethought._sync import run_sync
from forethought.exceptions import UserError
from forethought.tools.retrieval.embeddings import Embedder
from forethought.tools.retrieval.index import (
    Hit,
    IndexSettings,
    RetrievalIndex,
    Scores,
    check_query,
    fingerprint,
)
from forethought.tools.retrieval.options import Fusion
from forethought.tools.retrieval.passages import (
    DEFAULT_FIELDS,
    CorpusFormat,
    Fields,
    SplitMode,
    load_passages,
)
from forethought.tools.retrieval.progress import Progress
from forethought.tools.retrieval.store import MANIFEST, read_manifest

RRF_K = 60


def _ranks(scores: Scores) -> Scores:
    """1 for the highest score, 2 for the next, ... (ties broken by position)."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float32)
    ranks[order] = np.arange(1, len(scores) + 1, dtype=np.float32)
    return ranks


def fuse(bm25: Scores, dense: Scores, *, weight: float, fusion: Fusion = "weighted") -> Scores:
    """One hybrid score per passage from BM25 scores and cosine similarities."""
    if not 0.0 <= weight <= 1.0:
        raise UserError(f"hybrid weight must be between 0 and 1, got {weight!r}")
    if fusion == "rrf":
        lexical = np.where(bm25 > 0, (1 - weight) / (RRF_K + _ranks(bm25)), 0.0)
        return (lexical + weight / (RRF_K + _ranks(dense))).astype(np.float32)
    if fusion != "weighted":  # pyright: ignore[reportUnnecessaryComparison]
        raise UserError(f"unknown fusion {fusion!r}; valid: 'weighted', 'rrf'")
    top = float(bm25.max(initial=0.0))
    lexical = bm25 / top if top > 0 else np.zeros_like(bm25)
    low, high = float(dense.min(initial=0.0)), float(dense.max(initial=0.0))
    semantic = (dense - low) / (high - low) if high > low else np.zeros_like(dense)
    return ((1 - weight) * lexical + weight * semantic).astype(np.float32)


@dataclass(kw_only=True)
class Retriever:
    """An index with its search settings: BM25 alone, or hybrid when ``embedder`` is set.

    With an ``embedder``, passages are embedded on the first search (or :meth:`aprepare`)
    unless the index already holds embeddings of that model; when ``index_path`` is set the
    index is saved again with them, so the next load does not pay for it.
    """

    index: RetrievalIndex
    embedder: Embedder | None = None
    weight: float = 0.5
    """Hybrid weight of the embedding ranking, from 0 to 1."""
    fusion: Fusion = "weighted"
    index_path: Path | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise UserError(f"hybrid weight must be between 0 and 1, got {self.weight!r}")
        if self.fusion not in ("weighted", "rrf"):
            raise UserError(f"unknown fusion {self.fusion!r}; valid: 'weighted', 'rrf'")
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
        bm25 = await asyncio.to_thread(self.index.bm25_scores, query)
        dense = (embeddings.vectors @ query_vector).astype(np.float32)
        fused = fuse(bm25, dense, weight=self.weight, fusion=self.fusion)
        top = min(k, len(fused))
        best = np.argpartition(-fused, top - 1)[:top]
        best = best[np.argsort(-fused[best], kind="stable")]
        return [self.index.hit(int(i), float(fused[i]), rank, bm25_score=float(bm25[i]),
                               embedding_score=float(dense[i]))
                for rank, i in enumerate(best.tolist(), start=1) if fused[i] > 0]

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
