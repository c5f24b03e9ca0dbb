"""Fusing a lexical (BM25) and a dense (embedding) ranking into one hybrid score per passage.

The two score lists live on unrelated scales: BM25 is unbounded and grows with the query's
length and the rarity of its words, while the cosines of an embedding model such as e5 sit
in a narrow band (about 0.7 to 0.9 for anything in the language). Fusion must first make them
comparable. ``dbsf`` and ``rrf`` look only at a ranker's *candidates*, the ``pool`` (100)
passages it ranks highest (for BM25, only passages sharing a word with the query), because
the long tail of a corpus says nothing about how good the top of a ranking is, and a min-max
over the whole corpus is set by its one most remote passage:

- ``"dbsf"`` (distribution-based score fusion, the default): each ranker's candidate scores
  are mapped through ``(s - (mu - 3 sigma)) / (6 sigma)``, their mean and standard deviation
  over its candidates, so a score says how far it stands out among that ranker's candidates;
  a passage outside a ranker's candidates gets nothing from it. The fused score is
  ``(1 - w) * lexical + w * dense``.
- ``"weighted"``: ``(1 - w) * bm25 / max(bm25) + w * minmax(cosine)``, both normalised over the
  whole corpus (the earlier default). The corpus's most remote passage sets the cosines' low
  end, so the top of e5's narrow band is squeezed together and the mix leans on BM25 more
  than ``w`` says.
- ``"rrf"``: weighted reciprocal rank fusion, ``(1 - w) / (60 + rank_bm25) + w / (60 +
  rank_cosine)``, over each ranker's candidates; scores are ignored, only ranks count.

``w`` is the hybrid weight (0.7 by default, see :data:`.options.DEFAULT_WEIGHT`): 0 ranks by
BM25 alone (passages sharing no word with the query are not returned), 1 by embeddings alone.
Passages no ranker with a non-zero weight proposes score ``-inf`` and are never returned.
"""

from __future__ import annotations

from typing import get_args

import numpy as np
import numpy.typing as npt

from forethought.exceptions import UserError
from forethought.tools.retrieval.options import DEFAULT_FUSION, Fusion

Scores = npt.NDArray[np.float32]
Indices = npt.NDArray[np.intp]

RRF_K = 60
"""The rank offset of reciprocal rank fusion (Cormack et al., 2009)."""
POOL = 100
"""Candidates taken from each ranker (at least the number of passages asked for)."""
FUSIONS: tuple[str, ...] = get_args(Fusion)


def check_weight(weight: object) -> float:
    """``weight`` as a float; a clear error unless it is a number from 0 to 1."""
    if isinstance(weight, bool) or not isinstance(weight, int | float) \
            or not 0.0 <= weight <= 1.0:
        raise UserError(f"hybrid weight must be between 0 and 1, got {weight!r}")
    return float(weight)


def check_fusion(fusion: object) -> Fusion:
    """``fusion`` if it names a fusion, else a clear error listing the valid ones."""
    if fusion not in FUSIONS:
        raise UserError(f"unknown fusion {fusion!r}; valid: {', '.join(map(repr, FUSIONS))}")
    return fusion  # pyright: ignore[reportReturnType]  # checked against Fusion's values


def _check_scores(name: str, scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 1:
        raise UserError(f"{name} scores must be one number per passage, got an array of "
                        f"shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise UserError(f"{name} scores must be finite; passage {int(bad[0])} scores "
                        f"{float(array[bad[0]])!r} ({bad.size} such)")
    return array


def top_indices(scores: npt.NDArray[np.float64], n: int, *, above: float = -np.inf) -> Indices:
    """Positions of the ``n`` highest scores greater than ``above``, best first, ties broken by
    position (so the result never depends on the sort algorithm).
    """
    eligible = np.flatnonzero(scores > above)
    if n <= 0 or eligible.size == 0:
        return np.zeros(0, dtype=np.intp)
    values = scores[eligible]
    if eligible.size > n:
        # Keep every score tied with the n-th best, then order the survivors exactly.
        threshold = np.partition(values, eligible.size - n)[eligible.size - n]
        keep = values >= threshold
        eligible, values = eligible[keep], values[keep]
    order = np.lexsort((eligible, -values))
    return eligible[order][:n].astype(np.intp)


def _dbsf(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Candidate scores mapped by mean +- 3 standard deviations to about [0, 1]; all-equal
    scores (or one candidate) give 0.5 each, as nothing sets them apart.
    """
    mean, sigma = float(values.mean()), float(values.std())
    # A spread at rounding-error level (0.1 + 0.2 against 0.3) is no spread.
    if not sigma > 1e-9 * max(1.0, abs(mean)):
        return np.full(values.shape, 0.5)
    return (values - (mean - 3 * sigma)) / (6 * sigma)


def _shared_ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """1-based ranks of scores sorted best first, equal scores sharing the best rank among
    them (so position in the corpus does not break a tie in RRF).
    """
    return np.searchsorted(-values, -values, side="left").astype(np.float64) + 1


def fuse(bm25: npt.ArrayLike, dense: npt.ArrayLike, *, weight: float,
         fusion: Fusion = DEFAULT_FUSION, pool: int = POOL) -> Scores:
    """One hybrid score per passage from its BM25 score and its cosine similarity (see the
    module docs); ``-inf`` marks passages that are no ranker's candidate.

    Raises:
        UserError: for a weight outside [0, 1], an unknown fusion, a pool below 1, score
            lists of different lengths, or a score that is NaN or infinite.
    """
    weight = check_weight(weight)
    fusion = check_fusion(fusion)
    if type(pool) is not int or pool < 1:  # not a bool or float either
        raise UserError(f"the candidate pool must be a positive number of passages, "
                        f"got {pool!r}")
    lexical, semantic = _check_scores("BM25", bm25), _check_scores("embedding", dense)
    if lexical.shape != semantic.shape:
        raise UserError(f"BM25 and embedding scores must cover the same passages, got "
                        f"{lexical.size} and {semantic.size}")
    if fusion == "weighted":
        return _weighted(lexical, semantic, weight)
    fused = np.full(lexical.shape, -np.inf)
    # BM25 proposes only passages sharing a word with the query (score above 0).
    for scores, share, above in ((lexical, 1 - weight, 0.0), (semantic, weight, -np.inf)):
        if share == 0:
            continue  # a ranker with no weight proposes no candidates
        picked = top_indices(scores, pool, above=above)
        if picked.size == 0:
            continue
        if fusion == "rrf":
            part = share / (RRF_K + _shared_ranks(scores[picked]))
        else:
            part = share * _dbsf(scores[picked])
        fused[picked] = np.where(np.isneginf(fused[picked]), part, fused[picked] + part)
    return fused.astype(np.float32)


def _weighted(lexical: npt.NDArray[np.float64], semantic: npt.NDArray[np.float64],
              weight: float) -> Scores:
    top = float(lexical.max(initial=0.0))
    lex = lexical / top if top > 0 else np.zeros_like(lexical)
    # min and max of the cosines themselves (an ``initial=0`` here once made the "min-max"
    # a division by the max for positive cosines, flattening e5's narrow band further).
    low, high = (float(semantic.min()), float(semantic.max())) if semantic.size else (0.0, 0.0)
    sem = (semantic - low) / (high - low) if high > low else np.zeros_like(semantic)
    fused = (1 - weight) * lex + weight * sem
    # As before: a passage with nothing from either side (no shared word, the lowest cosine,
    # or any passage of a ranker weighted 0 that it does not match) is not a candidate.
    return np.where(fused > 0, fused, -np.inf).astype(np.float32)


def best(fused: Scores, k: int) -> Indices:
    """Positions of the ``k`` best fused scores, best first, ties broken by position;
    non-candidates (``-inf``) are left out.
    """
    return top_indices(np.asarray(fused, dtype=np.float64), k)
