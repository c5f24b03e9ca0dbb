"""Recall of the ``retrieve`` tool's BM25 index on HotpotQA, and its build and query time.

Data: ``../shared/data/hotpotqa`` (HippoRAG's slice: 100 questions with supporting facts,
and a 994-passage corpus holding their supporting paragraphs and distractors). A passage is
one corpus entry: id and title are the entry's title, the text its sentences joined. A
question's supporting passages are the titles named in its ``supporting_facts`` (two each).

Recall at k, three ways (all over the questions):

- ``recall``: the mean fraction of a question's supporting passages found in the top k (the
  "R@k" of HippoRAG and most multi-hop retrieval papers);
- ``any``: the share of questions with at least one supporting passage in the top k;
- ``all``: the share of questions with every supporting passage in the top k.

Timing (median of repetitions, bm25s imported beforehand): building the index from the 994
passages, answering the 100 questions one call each (``RetrievalIndex.search``, as the tool
does), saving and loading the index, and the same build and batch query in bare bm25s, the
anchor this index should stay close to. Target: build + 100 queries well under a second.

Run: ``uv run python benchmarks/retrieval_recall.py [--quick]``
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import emit, machine, parse_args, round_floats, verdict

from forethought.tools.retrieval import Hit, IndexSettings, Passage, RetrievalIndex

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hotpotqa"
TARGET_S = 1.0
KS = (2, 5, 10)


def load() -> tuple[list[Passage], list[dict[str, Any]]]:
    with (DATA / "hotpotqa_train_corpus.json").open(encoding="utf-8") as f:
        corpus: dict[str, list[str]] = json.load(f)
    with (DATA / "hotpotqa_train.json").open(encoding="utf-8") as f:
        questions: list[dict[str, Any]] = json.load(f)
    passages = [Passage(id=title, title=title, text="".join(sentences))
                for title, sentences in corpus.items()]
    titles = {p.id for p in passages}
    for q in questions:
        q["support"] = {title for title, _ in q["supporting_facts"]}
        missing = q["support"] - titles
        if missing:
            raise SystemExit(f"question {q['_id']}: supporting titles {missing} not in corpus")
    return passages, questions


def recall(results: list[list[Hit]], questions: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in KS:
        found = [len(q["support"] & {h.id for h in hits[:k]}) / len(q["support"])
                 for hits, q in zip(results, questions, strict=True)]
        out[f"recall@{k}"] = statistics.mean(found)
        out[f"any@{k}"] = sum(f > 0 for f in found) / len(found)
        out[f"all@{k}"] = sum(f == 1 for f in found) / len(found)
    return out


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_bm25s(passages: list[Passage], queries: list[str], repeats: int) -> dict[str, float]:
    """The anchor: bm25s's README recipe (stemmed English, stop words), batch retrieval."""
    import bm25s
    import Stemmer  # type: ignore[import-untyped]

    stemmer = Stemmer.Stemmer("english")
    texts = [f"{p.title}\n{p.text}" for p in passages]
    state: dict[str, Any] = {}

    def build() -> None:
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
        state["bm25"] = bm25s.BM25()
        state["bm25"].index(tokens, show_progress=False)

    def query() -> None:
        tokens = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False)
        state["bm25"].retrieve(tokens, k=10, show_progress=False)

    build_s = median_time(build, repeats)
    return {"build_s": build_s, "queries_s": median_time(query, repeats)}


def main() -> None:
    args = parse_args(__doc__ or "")
    repeats = 1 if args.quick else 7
    passages, questions = load()
    if args.quick:
        questions = questions[:20]
    queries = [q["question"] for q in questions]
    emit(machine())
    start = time.perf_counter()
    RetrievalIndex.build(passages[:10])  # imports bm25s and PyStemmer
    emit(round_floats({"kind": "import", "seconds": time.perf_counter() - start}))

    for label, settings in (("default", IndexSettings()),
                            ("no_title", IndexSettings(include_title=False)),
                            ("no_stemming", IndexSettings(language=None))):
        index = RetrievalIndex.build(passages, settings)
        results = [index.search(q, k=max(KS)) for q in queries]
        emit(round_floats({"kind": "recall", "config": label, "questions": len(questions),
                           "passages": len(index), **recall(results, questions)}))

    by_type: dict[str, list[int]] = {}
    for i, q in enumerate(questions):
        by_type.setdefault(q["type"], []).append(i)
    index = RetrievalIndex.build(passages)
    results = [index.search(q, k=max(KS)) for q in queries]
    for kind, members in sorted(by_type.items()):
        emit(round_floats({"kind": "recall", "config": f"default/{kind}",
                           "questions": len(members),
                           **recall([results[i] for i in members],
                                    [questions[i] for i in members])}))

    holder: dict[str, RetrievalIndex] = {}
    build_s = median_time(lambda: holder.update(ix=RetrievalIndex.build(passages)), repeats)
    built = holder["ix"]
    queries_s = median_time(lambda: [built.search(q, k=10) for q in queries], repeats)
    with tempfile.TemporaryDirectory() as tmp:
        save_s = median_time(lambda: built.save(Path(tmp) / "ix"), repeats)
        load_s = median_time(lambda: RetrievalIndex.load(Path(tmp) / "ix"), repeats)
    anchor = bare_bm25s(passages, queries, repeats)
    total = build_s + queries_s
    emit(round_floats({"kind": "timing", "passages": len(passages), "queries": len(queries),
                       "build_s": build_s, "queries_s": queries_s,
                       "per_query_ms": 1000 * queries_s / len(queries),
                       "build_plus_queries_s": total, "save_s": save_s, "load_s": load_s,
                       "bm25s_build_s": anchor["build_s"],
                       "bm25s_batch_queries_s": anchor["queries_s"],
                       "repeats": repeats}, 4))
    emit({"kind": "verdict", "metric": "build_plus_queries_s", "value": round(total, 4),
          "target_max": TARGET_S, "result": verdict(total, TARGET_S)})
    print(f"build {build_s * 1000:.0f} ms + {len(queries)} queries {queries_s * 1000:.0f} ms "
          f"(bare bm25s: {anchor['build_s'] * 1000:.0f} ms + "
          f"{anchor['queries_s'] * 1000:.0f} ms)", file=sys.stderr)


if __name__ == "__main__":
    main()
