"""Fusion of BM25 and embedding scores (forethought.tools.retrieval.fusion): offline, on
fabricated score lists whose right order is known."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forethought import ModelError, UserError
from forethought.tools.retrieval import (
    Embedder,
    Passage,
    RetrievalIndex,
    RetrieveOptions,
    Retriever,
)
from forethought.tools.retrieval.fusion import FUSIONS, RRF_K, best, fuse, top_indices


def order(fused: Any, k: int = 10) -> list[int]:
    return best(np.asarray(fused, dtype=np.float32), k).tolist()


def dbsf(values: Sequence[float]) -> list[float]:
    """Mean +- 3 standard deviations, written out independently of the module."""
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return [(v - (mean - 3 * sd)) / (6 * sd) for v in values]


def test_dbsf_standardises_each_rankers_candidates() -> None:
    bm25 = [3.0, 1.0, 0.0, 2.0]
    dense = [0.80, 0.82, 0.84, 0.78]
    lexical = dict(zip([0, 1, 3], dbsf([3.0, 1.0, 2.0]), strict=True))  # passage 2: no word
    semantic = dbsf(dense)
    expected = [0.5 * lexical.get(i, 0.0) + 0.5 * semantic[i] for i in range(4)]
    fused = fuse(bm25, dense, weight=0.5, fusion="dbsf")
    assert fused.dtype == np.float32
    assert fused.tolist() == pytest.approx(expected, abs=1e-6)
    assert order(fused) == [0, 1, 3, 2]  # 2 is the embedding favourite, but BM25 finds no word


def test_a_narrow_cosine_band_still_counts_against_an_outlier() -> None:
    # e5-like cosines: the top passages sit within 0.03 of each other, one remote passage far
    # below. Min-max over the corpus squeezes the top to ~1.0, so BM25 alone decides; DBSF
    # over the 5 best candidates of each ranker (the remote one is not among them) lets the
    # clear embedding favourite, passage 1, win at w = 0.5.
    bm25 = [5.0, 4.0, 1.0, 0.0, 0.0, 0.0]
    dense = [0.800, 0.830, 0.801, 0.802, 0.800, 0.10]
    assert order(fuse(bm25, dense, weight=0.5, fusion="weighted"), 1) == [0]
    assert order(fuse(bm25, dense, weight=0.5, fusion="dbsf", pool=5), 1) == [1]


@pytest.mark.parametrize("fusion", FUSIONS)
def test_weight_zero_is_bm25_alone_and_one_is_embeddings_alone(fusion: str) -> None:
    bm25 = [0.0, 2.5, 7.0, 0.0, 1.0]
    dense = [0.9, 0.1, 0.3, 0.7, 0.5]
    lexical = fuse(bm25, dense, weight=0.0, fusion=fusion)  # type: ignore[arg-type]
    assert order(lexical) == [2, 1, 4]  # passages sharing no word are not candidates
    assert np.isneginf(lexical[[0, 3]]).all()
    semantic = fuse(bm25, dense, weight=1.0, fusion=fusion)  # type: ignore[arg-type]
    # (weighted: the lowest cosine normalises to 0, which is no score at all)
    assert order(semantic) == [0, 3, 4, 2, 1][:4 if fusion == "weighted" else 5]


def test_rrf_counts_ranks_within_each_rankers_candidates() -> None:
    bm25 = [2.0, 1.0, 0.0]
    dense = [0.0, 0.5, 1.0]
    fused = fuse(bm25, dense, weight=0.25, fusion="rrf")
    assert fused.tolist() == pytest.approx([0.75 / (RRF_K + 1) + 0.25 / (RRF_K + 3),
                                            0.75 / (RRF_K + 2) + 0.25 / (RRF_K + 2),
                                            0.25 / (RRF_K + 1)])


def test_the_pool_limits_each_rankers_candidates() -> None:
    bm25 = [4.0, 3.0, 2.0, 1.0, 0.0, 0.0]
    dense = [0.1, 0.2, 0.3, 0.4, 0.6, 0.5]
    fused = fuse(bm25, dense, weight=0.5, fusion="dbsf", pool=2)
    assert sorted(np.flatnonzero(np.isfinite(fused)).tolist()) == [0, 1, 4, 5]
    # Within the pool, candidates are standardised among themselves.
    assert fused[0] == pytest.approx(0.5 * dbsf([4.0, 3.0])[0])
    assert fused[4] == pytest.approx(0.5 * dbsf([0.6, 0.5])[0])


@pytest.mark.parametrize("fusion", FUSIONS)
def test_ties_go_to_the_earlier_passage(fusion: str) -> None:
    bm25 = [1.0, 1.0, 1.0, 1.0]
    dense = [0.5, 0.5, 0.5, 0.5]
    fused = fuse(bm25, dense, weight=0.5, fusion=fusion)  # type: ignore[arg-type]
    assert order(fused, 2) == [0, 1]
    if fusion == "dbsf":  # nothing sets equal scores apart: each side gives 0.5
        assert fused.tolist() == pytest.approx([0.5] * 4)


def test_top_indices_keeps_ties_at_the_cut_in_position_order() -> None:
    scores = np.array([1.0, 2.0, 3.0, 2.0, 2.0, 0.0])
    assert top_indices(scores, 3).tolist() == [2, 1, 3]
    assert top_indices(scores, 10, above=0.0).tolist() == [2, 1, 3, 4, 0]
    assert top_indices(scores, 0).tolist() == []
    assert top_indices(np.zeros(0), 5).tolist() == []


@pytest.mark.parametrize("fusion", FUSIONS)
def test_empty_score_lists_fuse_to_nothing(fusion: str) -> None:
    fused = fuse([], [], weight=0.5, fusion=fusion)  # type: ignore[arg-type]
    assert fused.shape == (0,) and order(fused) == []


@pytest.mark.parametrize("fusion", FUSIONS)
def test_no_word_in_common_leaves_the_embedding_order(fusion: str) -> None:
    dense = [0.2, 0.9, 0.4, 0.6]
    fused = fuse([0.0] * 4, dense, weight=0.5, fusion=fusion)  # type: ignore[arg-type]
    # (weighted: the lowest cosine normalises to 0, which is no score at all)
    expected = [1, 3, 2] if fusion == "weighted" else [1, 3, 2, 0]
    assert order(fused) == expected


@pytest.mark.parametrize("fusion", ["dbsf", "rrf"])
def test_flat_embeddings_leave_the_bm25_order(fusion: str) -> None:
    # A query vector of zeros (or an embedding that cannot tell passages apart) adds the same
    # to every passage, so BM25's order stands, and passages it does not match come after.
    fused = fuse([0.0, 1.0, 3.0, 2.0], [0.0] * 4, weight=0.5, fusion=fusion)  # type: ignore[arg-type]
    assert order(fused) == [2, 3, 1, 0]


def test_rrf_gives_tied_scores_one_rank() -> None:
    fused = fuse([3.0, 1.0, 1.0, 0.0], [0.5, 0.9, 0.9, 0.1], weight=0.5, fusion="rrf")
    assert fused[1] == fused[2] == pytest.approx(0.5 / (RRF_K + 2) + 0.5 / (RRF_K + 1))
    assert fused[0] == pytest.approx(0.5 / (RRF_K + 1) + 0.5 / (RRF_K + 3))
    assert fused[3] == pytest.approx(0.5 / (RRF_K + 4))


# Scores on a grid of 0.001: spreads far above rounding error, as real scores have.
_SCORES = st.tuples(st.integers(0, 50_000).map(lambda n: n / 1000),
                    st.integers(-1000, 1000).map(lambda n: n / 1000))


@given(st.lists(_SCORES, min_size=1, max_size=40),
       st.floats(0.01, 100), st.floats(-10, 10), st.floats(0, 1), st.sampled_from(["dbsf", "rrf"]))
def test_dbsf_and_rrf_ignore_each_rankers_scale(pairs: list[tuple[float, float]], scale: float,
                                                 shift: float, weight: float, fusion: str) -> None:
    # Rescaling a ranker's scores (BM25 grows with query length, cosines differ by model)
    # must not change the fused ranking.
    bm25 = np.array([p[0] for p in pairs])
    dense = np.array([p[1] for p in pairs])
    plain = fuse(bm25, dense, weight=weight, fusion=fusion)  # type: ignore[arg-type]
    scaled = fuse(bm25 * scale, dense * scale + shift, weight=weight,
                  fusion=fusion)  # type: ignore[arg-type]
    assert np.array_equal(np.isfinite(plain), np.isfinite(scaled))
    finite = np.isfinite(plain)
    assert np.allclose(plain[finite], scaled[finite], atol=1e-4)


@pytest.mark.parametrize(("bm25", "dense", "message"), [
    ([1.0, float("nan")], [0.1, 0.2], r"BM25 scores must be finite; passage 1 scores nan"),
    ([1.0, 2.0], [float("inf"), 0.2], r"embedding scores must be finite; passage 0 scores inf"),
    ([1.0, 2.0], [-float("inf")] * 2, r"passage 0 scores -inf \(2 such\)"),
    ([1.0, 2.0], [0.1, 0.2, 0.3], r"must cover the same passages, got 2 and 3"),
    ([[1.0], [2.0]], [[0.1], [0.2]], r"one number per passage, got an array of shape \(2, 1\)"),
])
def test_bad_scores_are_refused(bm25: Any, dense: Any, message: str) -> None:
    with pytest.raises(UserError, match=message):
        fuse(bm25, dense, weight=0.5)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UserError, match=r"between 0 and 1, got -0\.1"):
        fuse([1.0], [0.5], weight=-0.1)
    with pytest.raises(UserError, match=r"between 0 and 1, got True"):
        fuse([1.0], [0.5], weight=True)
    with pytest.raises(UserError, match=r"unknown fusion 'borda'; valid: 'dbsf', 'weighted', "
                                        r"'rrf'"):
        fuse([1.0], [0.5], weight=0.5, fusion="borda")  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"candidate pool must be a positive number.*got 0"):
        fuse([1.0], [0.5], weight=0.5, pool=0)
    for pool in (True, 2.5):
        with pytest.raises(UserError, match=rf"candidate pool .* got {pool!r}"):
            fuse([1.0], [0.5], weight=0.5, pool=pool)  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"unknown fusion 'sum'"):
        Retriever(index=RetrievalIndex.build(["a passage"]), fusion="sum")  # type: ignore[arg-type]


def test_defaults_agree_between_the_retriever_and_the_recipe_options() -> None:
    retriever = Retriever(index=RetrievalIndex.build(["a passage"]))
    options = RetrieveOptions(corpus="x")
    assert (retriever.fusion, retriever.weight) == (options.fusion, options.hybrid_weight)
    assert (retriever.fusion, retriever.weight) == ("dbsf", 0.7)


class _Fixed(Embedder):
    """Passages embed to fixed vectors; queries to ``query`` (no server)."""

    def __init__(self, passages: list[list[float]], query: list[float]) -> None:
        super().__init__(model="fixed")
        self.passages, self.query = passages, query

    async def aembed(self, texts: Sequence[str], *, progress: Any = None,
                     query: bool = False) -> Any:
        rows = [self.query] * len(texts) if query else self.passages[:len(texts)]
        return np.asarray(rows, dtype=np.float32)


CORPUS = [Passage(id="a", title="", text="apples and pears"),
          Passage(id="b", title="", text="pears only"),
          Passage(id="c", title="", text="nothing of the sort")]


async def test_the_retriever_ranks_with_the_fused_scores() -> None:
    embedder = _Fixed([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], [0.0, 1.0])
    retriever = Retriever(index=RetrievalIndex.build(CORPUS), embedder=embedder, weight=0.5)
    hits = await retriever.asearch("pears", k=3)
    # a and b tie on BM25 and b is nearer by embedding; c shares no word with the query, so at
    # equal weights its being the nearest by embedding is not enough to pass a.
    assert [h.id for h in hits] == ["b", "a", "c"]
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].bm25_score == hits[1].bm25_score and (hits[0].bm25_score or 0) > 0
    assert hits[2].bm25_score == 0.0 and hits[2].embedding_score == pytest.approx(1.0)
    dense = np.asarray(embedder.passages, dtype=np.float32) @ np.asarray(embedder.query)
    fused = fuse(retriever.index.bm25_scores("pears"), dense, weight=0.5)
    assert [h.score for h in hits] == pytest.approx(sorted(fused.tolist(), reverse=True))
    leaning = Retriever(index=retriever.index, embedder=embedder)  # the default, 0.7
    assert [h.id for h in await leaning.asearch("pears", k=3)] == ["b", "c", "a"]
    index = RetrievalIndex.build(CORPUS)
    lexical = Retriever(index=index, embedder=embedder, weight=0.0)
    found = [h.id for h in index.search("pears", k=3)]
    assert sorted(found) == ["a", "b"]  # "c" shares no word with the query
    assert [h.id for h in await lexical.asearch("pears", k=3)] == ["a", "b"]  # tie: position


async def test_a_query_vector_holding_nan_is_a_model_error() -> None:
    embedder = _Fixed([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], [float("nan"), 1.0])
    retriever = Retriever(index=RetrievalIndex.build(CORPUS), embedder=embedder)
    with pytest.raises(ModelError, match=r"embedding model 'fixed' returned a query vector "
                                         r"holding NaN"):
        await retriever.asearch("pears")
