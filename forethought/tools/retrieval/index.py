"""The BM25 index (bm25s underneath) over a list of passages, with optional embeddings.

Texts are lower-cased, split with bm25s's token pattern (words of two or more letters or
digits), stripped of stop words and stemmed with PyStemmer's Snowball stemmers. A passage is
indexed as its title and its text together (``include_title``). bm25s and PyStemmer are
imported on first use (the ``retrieval`` extra).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from forethought.exceptions import UserError
from forethought.tools.retrieval.passages import (
    DEFAULT_FIELDS,
    CorpusFormat,
    Fields,
    Passage,
    SplitMode,
    load_passages,
    passages_from_list,
)
from forethought.tools.retrieval.progress import Progress, reporter

if TYPE_CHECKING:
    from forethought.tools.retrieval.embeddings import Embedder

Scores = npt.NDArray[np.float32]

TOKEN_PATTERN = r"(?u)\b\w\w+\b"
"""bm25s's default: words of at least two characters."""
STOPWORD_LISTS = ("english", "english_plus", "german", "dutch", "french", "spanish",
                  "portuguese", "italian", "russian", "swedish", "norwegian", "chinese",
                  "turkish", "korean", "danish")
"""The stop-word lists bm25s ships."""
_TOKENIZE_CHUNK = 5_000


def import_bm25s() -> Any:
    """bm25s, or an error naming the extra that provides it."""
    try:
        return importlib.import_module("bm25s")
    except ImportError:
        raise UserError("the retrieve tool needs bm25s and PyStemmer: "
                        "pip install 'forethought[retrieval]'") from None


def _stemmer_module() -> Any:
    try:
        return importlib.import_module("Stemmer")
    except ImportError:
        raise UserError("stemming needs PyStemmer: pip install 'forethought[retrieval]' "
                        "(or set language to None)") from None


@dataclass(kw_only=True, frozen=True)
class IndexSettings:
    """How texts become tokens and how BM25 scores them (stored in the index manifest)."""

    language: str | None = "english"
    """Snowball stemmer (PyStemmer) language, e.g. ``"english"``, ``"french"``; ``None`` for
    no stemming."""
    stopwords: str | None = "english"
    """A bm25s stop-word list (see :data:`STOPWORD_LISTS`); ``None`` keeps every word."""
    include_title: bool = True
    """Index each passage's title with its text."""
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    """bm25s scoring variant: ``lucene``, ``robertson``, ``atire``, ``bm25l`` or ``bm25+``."""

    def check(self) -> None:
        """Raise a clear error for settings bm25s or PyStemmer would reject."""
        if self.language is not None:
            valid = sorted(_stemmer_module().algorithms())
            if self.language not in valid:
                raise UserError(f"unknown stemmer language {self.language!r}; valid: "
                                f"{', '.join(valid)} (or None for no stemming)")
        if self.stopwords is not None and self.stopwords not in STOPWORD_LISTS:
            raise UserError(f"unknown stop-word list {self.stopwords!r}; valid: "
                            f"{', '.join(STOPWORD_LISTS)} (or None to keep every word)")
        methods = ("lucene", "robertson", "atire", "bm25l", "bm25+")
        if self.method not in methods:
            raise UserError(f"unknown BM25 method {self.method!r}; valid: {', '.join(methods)}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lower": True, "token_pattern": TOKEN_PATTERN}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IndexSettings:
        known = {k: data[k] for k in ("language", "stopwords", "include_title", "k1", "b",
                                      "method") if k in data}
        return cls(**known)


@dataclass(kw_only=True, frozen=True)
class Hit:
    """One passage found for a query."""

    id: str
    title: str
    text: str
    score: float
    """The ranking score: BM25, or the fused score of a hybrid search."""
    rank: int
    """1 for the best hit."""
    bm25_score: float | None = None
    embedding_score: float | None = None
    """Cosine similarity of query and passage, in hybrid searches."""

    def to_dict(self, max_chars: int | None = None) -> dict[str, Any]:
        """A compact form for a model: id, title, score (4 decimals) and the text, cut to
        ``max_chars`` with an ellipsis.
        """
        text = self.text
        if max_chars is not None and len(text) > max_chars:
            text = text[:max_chars].rstrip() + "…"
        out: dict[str, Any] = {"id": self.id, "title": self.title,
                               "score": round(self.score, 4), "text": text}
        if not self.title:
            del out["title"]
        return out


@dataclass(kw_only=True, frozen=True)
class EmbeddingMatrix:
    """Unit-length embeddings of every passage, row i for passage i."""

    model: str
    vectors: npt.NDArray[np.float32]


def check_query(query: object, k: object) -> str:
    """The stripped query; a clear error for an empty query or a k that is not positive."""
    if not isinstance(query, str):
        raise UserError(f"the query must be a string, got {type(query).__name__} {query!r:.60}")
    if not query.strip():
        raise UserError(f"the query is empty ({query!r}); give words to search for")
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
        raise UserError(f"k must be a positive number of passages, got {k!r}")
    return query.strip()


def fingerprint(passages: Sequence[Passage], settings: IndexSettings) -> str:
    """A content hash of the passages and the settings: equal means the same index."""
    digest = hashlib.sha256(json.dumps(settings.to_dict(), sort_keys=True).encode())
    for p in passages:
        for part in (p.id, p.title, p.text):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
    return digest.hexdigest()


class RetrievalIndex:
    """A BM25 index over passages; build it with :meth:`build` or :meth:`from_corpus`, save it
    with :meth:`save` and reopen it with :meth:`load`.
    """

    def __init__(self, *, passages: Sequence[Passage], settings: IndexSettings, bm25: Any,
                 fingerprint: str, embeddings: EmbeddingMatrix | None = None) -> None:
        self.passages: list[Passage] = list(passages)
        self.settings = settings
        self.fingerprint = fingerprint
        self.embeddings = embeddings
        self._bm25 = bm25

    def __len__(self) -> int:
        return len(self.passages)

    def __repr__(self) -> str:
        extra = f", embeddings={self.embeddings.model!r}" if self.embeddings else ""
        return f"<RetrievalIndex {len(self)} passages{extra}>"

    # -- building --------------------------------------------------------------------------

    @classmethod
    def build(cls, corpus: Iterable[str | Mapping[str, Any] | Passage],
              settings: IndexSettings | None = None, *, fields: Fields = DEFAULT_FIELDS,
              progress: Progress = None) -> RetrievalIndex:
        """Index passages given as :class:`Passage` objects, strings or dicts (read with
        ``fields``, as JSONL records are).
        """
        settings = settings or IndexSettings()
        settings.check()
        passages = passages_from_list(corpus, fields)
        bm25s = import_bm25s()
        with reporter(progress, len(passages)) as report:
            texts = [f"{p.title}\n{p.text}" if settings.include_title and p.title else p.text
                     for p in passages]
            tokens: list[list[str]] = []
            for start in range(0, len(texts), _TOKENIZE_CHUNK):
                tokens.extend(tokenize(texts[start:start + _TOKENIZE_CHUNK], settings))
                if report:
                    report("tokenize", len(tokens), len(texts))
            if not any(tokens):
                raise UserError(f"none of the {len(passages)} passages has a word left to "
                                f"index after stop words are removed; check the corpus")
            if report:
                report("index", 0, 1)
            bm25 = bm25s.BM25(k1=settings.k1, b=settings.b, method=settings.method)
            bm25.index(tokens, show_progress=False)
            if report:
                report("index", 1, 1)
        return cls(passages=passages, settings=settings, bm25=bm25,
                   fingerprint=fingerprint(passages, settings))

    @classmethod
    def from_corpus(cls, path: str | Path, settings: IndexSettings | None = None, *,
                    format: CorpusFormat = "auto", fields: Fields = DEFAULT_FIELDS,
                    split: SplitMode = "paragraph", progress: Progress = None,
                    ) -> RetrievalIndex:
        """Read a corpus from disk (a folder, a text file or JSONL) and index it."""
        passages = load_passages(path, format=format, fields=fields, split=split)
        return cls.build(passages, settings, progress=progress)

    async def aembed(self, embedder: Embedder, *, progress: Progress = None) -> None:
        """Embed every passage with ``embedder`` (kept in :attr:`embeddings`, saved with the
        index), unless it already holds embeddings of that model.
        """
        if self.embeddings is not None and self.embeddings.model == embedder.model:
            return
        texts = [f"{p.title}\n{p.text}" if p.title else p.text for p in self.passages]
        with reporter(progress, len(texts)) as report:
            vectors = await embedder.aembed(texts, progress=report)
        self.embeddings = EmbeddingMatrix(model=embedder.model, vectors=vectors)

    # -- persistence -----------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the index to the folder ``path`` (replaced whole, never half-written)."""
        from forethought.tools.retrieval.store import save_index

        return save_index(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> RetrievalIndex:
        """Open an index saved by :meth:`save`; an index written by another version of
        bm25s or of the index format is refused with a message saying to rebuild it.
        """
        from forethought.tools.retrieval.store import load_index

        return load_index(Path(path))

    @property
    def bm25(self) -> Any:
        """The underlying ``bm25s.BM25`` object."""
        return self._bm25

    # -- querying --------------------------------------------------------------------------

    @cached_property
    def _vocab(self) -> dict[str, int]:
        return dict(self._bm25.vocab_dict)

    def query_tokens(self, query: str) -> list[str]:
        """The query's tokens that occur in the corpus (others cannot score)."""
        vocab = self._vocab
        return [t for t in tokenize([query], self.settings)[0] if t and t in vocab]

    def bm25_scores(self, query: str) -> Scores:
        """BM25 score of every passage (zero for passages sharing no word with the query)."""
        tokens = self.query_tokens(check_query(query, 1))
        if not tokens:
            return np.zeros(len(self.passages), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` best passages by BM25 (fewer when fewer share a word with the query)."""
        tokens = self.query_tokens(check_query(query, k))
        if not tokens:
            return []
        docs, scores = self._bm25.retrieve([tokens], k=min(k, len(self.passages)),
                                           show_progress=False)
        hits: list[Hit] = []
        for doc, score in zip(docs[0].tolist(), scores[0].tolist(), strict=True):
            if score <= 0:
                break
            hits.append(self.hit(int(doc), float(score), len(hits) + 1, bm25_score=float(score)))
        return hits

    def hit(self, i: int, score: float, rank: int, *, bm25_score: float | None = None,
            embedding_score: float | None = None) -> Hit:
        p = self.passages[i]
        return Hit(id=p.id, title=p.title, text=p.text, score=score, rank=rank,
                   bm25_score=bm25_score, embedding_score=embedding_score)


def tokenize(texts: list[str], settings: IndexSettings) -> list[list[str]]:
    """Tokens of each text, as the index uses them."""
    bm25s = import_bm25s()
    stemmer = _stemmer(settings.language)
    tokens: list[list[str]] = bm25s.tokenize(texts, lower=True, token_pattern=TOKEN_PATTERN,
                                             stopwords=settings.stopwords or [],
                                             stemmer=stemmer, return_ids=False,
                                             show_progress=False)
    return tokens


_local = threading.local()


def _stemmer(language: str | None) -> Any:
    """A stemmer for this thread (PyStemmer's stemmers must not be shared across threads)."""
    if language is None:
        return None
    stemmers: dict[str, Any] = _local.__dict__.setdefault("stemmers", {})
    if language not in stemmers:
        stemmers[language] = _stemmer_module().Stemmer(language)
    return stemmers[language]
