"""Embeddings through LiteLLM against a loopback OpenAI-compatible ``/v1/embeddings`` server,
and hybrid (BM25 + embedding) ranking.

tests/fake_openai.py only serves chat completions, so this module has its own tiny server.
Its embeddings are "concept" vectors: synonyms (car, automobile, vehicle) share a dimension,
so embedding similarity finds what word overlap (BM25) cannot.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from forethought import ModelError, ModelHTTPError, UserError
from forethought.tools.retrieval import (
    Embedder,
    Passage,
    RetrievalIndex,
    Retriever,
    RetrieveTool,
    fuse,
    read_manifest,
    retrieve,
)

CONCEPTS = {word: dim for dim, words in enumerate([
    ("car", "cars", "automobile", "automobiles", "vehicle", "vehicles"),
    ("cat", "cats", "feline", "felines", "kitten"),
    ("dog", "dogs", "canine", "canines", "puppy"),
    ("money", "cash", "bank", "savings"),
]) for word in words}
DIM = 16


def concept_vector(text: str) -> list[float]:
    vector = [0.0] * DIM
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in CONCEPTS:
            vector[CONCEPTS[word]] += 1.0
        else:
            vector[4 + zlib.crc32(word.encode()) % (DIM - 4)] += 0.1
    return vector


class FakeEmbeddings:
    """``POST /v1/embeddings`` on 127.0.0.1; failures can be queued for the next requests."""

    def __init__(self) -> None:
        self.inputs: list[list[str]] = []
        self.failures: deque[tuple[int, str]] = deque()
        self.short_reply = False
        self._lock = threading.Lock()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        with self._lock:
            self.inputs.append(texts)
            failure = self.failures.popleft() if self.failures else None
        if failure is not None:
            status, message = failure
            return status, {"error": {"message": message, "type": "invalid_request_error",
                                      "param": None, "code": None}}
        data = [{"object": "embedding", "index": i, "embedding": concept_vector(t)}
                for i, t in enumerate(texts)]
        if self.short_reply:
            data = data[:1]
        data.reverse()  # the client must order by "index", not by position
        return 200, {"object": "list", "model": body["model"], "data": data,
                     "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}}

    def __enter__(self) -> FakeEmbeddings:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        fake = cast(FakeEmbeddings, self.server.fake)  # type: ignore[attr-defined]
        status, data = (404, {"error": {"message": f"no route {self.path}"}}) \
            if self.path.rstrip("/") != "/v1/embeddings" else fake.answer(body)
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def server() -> Iterator[FakeEmbeddings]:
    with FakeEmbeddings() as fake:
        yield fake


def embedder(server: FakeEmbeddings, **kwargs: Any) -> Embedder:
    return Embedder(model="openai/concepts", api_base=server.base_url, api_key="sk-test",
                    **kwargs)


CORPUS = [
    Passage(id="garage", title="Garage", text="The automobile was repaired in the garage."),
    Passage(id="shelter", title="Shelter", text="The shelter rehomes felines and kittens."),
    Passage(id="kennel", title="Kennel", text="A kennel keeps canines; each puppy is walked."),
    Passage(id="vault", title="Vault", text="The vault in the basement holds savings."),
    Passage(id="engine", title="Engine", text="An engine burns fuel to turn the wheels."),
]


async def test_embedder_batches_and_keeps_order(server: FakeEmbeddings) -> None:
    texts = ["car", "cat", "dog", "money", "car cat"]
    vectors = await embedder(server, batch_size=2).aembed(texts)
    assert sorted(len(batch) for batch in server.inputs) == [1, 2, 2]
    assert vectors.shape == (5, DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert [int(np.argmax(v)) for v in vectors[:4]] == [0, 1, 2, 3]
    assert np.isclose(vectors[4][0], vectors[4][1]) and np.isclose(vectors[4][0], 2 ** -0.5)


async def test_hybrid_finds_synonyms_that_bm25_misses(server: FakeEmbeddings) -> None:
    index = RetrievalIndex.build(CORPUS)
    assert index.search("car", k=2) == []  # no passage says "car"
    retriever = Retriever(index=index, embedder=embedder(server))
    hits = await retriever.asearch("car", k=2)
    assert hits[0].id == "garage"
    assert hits[0].bm25_score == 0.0 and (hits[0].embedding_score or 0) > 0.9
    # words and meaning together: "garage" matches by word, "dog" by meaning
    hits = await retriever.asearch("dog garage", k=2)
    assert sorted(h.id for h in hits) == ["garage", "kennel"]
    rrf = Retriever(index=index, embedder=embedder(server), fusion="rrf")
    assert [h.id for h in await rrf.asearch("kitten", k=1)] == ["shelter"]


async def test_weight_zero_keeps_the_bm25_order(server: FakeEmbeddings) -> None:
    index = RetrievalIndex.build(CORPUS)
    lexical = [h.id for h in index.search("the vault garage", k=3)]
    hybrid = Retriever(index=index, embedder=embedder(server), weight=0.0)
    assert [h.id for h in await hybrid.asearch("the vault garage", k=3)][:2] == lexical[:2]


async def test_passages_are_embedded_once_and_saved_with_the_index(server: FakeEmbeddings,
                                                                   tmp_path: Path) -> None:
    path = RetrievalIndex.build(CORPUS).save(tmp_path / "ix")
    retriever = Retriever(index=RetrievalIndex.load(path), embedder=embedder(server, batch_size=2),
                          index_path=path)
    seen: list[tuple[str, int, int]] = []
    await retriever.aprepare(progress=lambda *event: seen.append(event))
    # Batches of 2, 2 and 1 run concurrently: progress is cumulative in completion order.
    done = [d for _, d, _ in seen]
    assert [kind for kind, _, _ in seen] == ["embed"] * 3 and seen[-1] == ("embed", 5, 5)
    assert sorted(b - a for a, b in zip([0, *done], done, strict=False)) == [1, 2, 2]
    await retriever.asearch("cat", k=1)
    await retriever.asearch("dog", k=1)
    assert sorted(len(b) for b in server.inputs[:3]) == [1, 2, 2]  # passages, in batches
    assert [len(b) for b in server.inputs[3:]] == [1, 1]  # then one request per query
    manifest = read_manifest(path)
    assert manifest.embedding is not None
    assert (manifest.embedding.model, manifest.embedding.dim) == ("openai/concepts", DIM)
    reloaded = Retriever(index=RetrievalIndex.load(path), embedder=embedder(server))
    assert [h.id for h in await reloaded.asearch("puppy", k=1)] == ["kennel"]
    assert len(server.inputs) == 6  # only the query this time


async def test_embedding_failures_are_clear(server: FakeEmbeddings) -> None:
    server.failures.append((400, "input too long"))
    with pytest.raises(ModelHTTPError) as err:
        await embedder(server).aembed(["x"])
    assert err.value.status_code == 400 and "input too long" in str(err.value)
    server.failures.append((503, "busy"))
    vectors = await embedder(server).aembed(["cat"])  # the client under LiteLLM retried
    assert vectors.shape == (1, DIM) and len(server.inputs) == 3
    server.short_reply = True
    with pytest.raises(ModelError, match="returned 1 usable vectors for 2 texts"):
        await embedder(server).aembed(["a", "b"])


async def test_unreachable_embedding_server() -> None:
    with FakeEmbeddings() as gone:
        base_url = gone.base_url
    lost = Embedder(model="openai/concepts", api_base=base_url, api_key="sk-test")
    with pytest.raises(ModelError, match="embedding model 'openai/concepts' failed"):
        await lost.aembed(["x"])


def test_fuse() -> None:
    bm25 = np.array([2.0, 1.0, 0.0], dtype=np.float32)
    dense = np.array([0.0, 0.5, 1.0], dtype=np.float32)
    assert fuse(bm25, dense, weight=0.5, fusion="weighted").tolist() == pytest.approx([0.5] * 3)
    assert fuse(bm25, dense, weight=0.25,
                fusion="weighted").tolist() == pytest.approx([0.75, 0.5, 0.25])
    rrf = fuse(bm25, dense, weight=0.5, fusion="rrf")
    assert rrf.tolist() == pytest.approx([0.5 / 61 + 0.5 / 63, 0.5 / 62 + 0.5 / 62, 0.5 / 61])
    with pytest.raises(UserError, match=r"hybrid weight must be between 0 and 1, got 1\.5"):
        fuse(bm25, dense, weight=1.5)
    with pytest.raises(UserError, match="hybrid weight must be between 0 and 1"):
        Retriever(index=RetrievalIndex.build(CORPUS), weight=-0.1)


def test_retriever_sync_search_without_embeddings() -> None:
    retriever = Retriever(index=RetrievalIndex.build(CORPUS))
    assert [h.id for h in retriever.search("engine fuel", k=3)] == ["engine"]
    with pytest.raises(UserError, match="the query is empty"):
        retriever.search(" ")


async def test_retrieve_tool_with_an_embedding_model(server: FakeEmbeddings, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": p.id, "title": p.title, "text": p.text}) + "\n"
                              for p in CORPUS))
    tool = retrieve.create({"corpus": str(corpus), "index": str(tmp_path / "ix"),
                            "embedding_model": "openai/concepts",
                            "embedding_api_base": server.base_url, "hybrid_weight": 0.7})
    assert isinstance(tool, RetrieveTool)
    assert "keyword and embedding ranking" in tool.description
    out = await tool.call({"query": "automobile repairs", "k": 1})
    assert [p["id"] for p in out["passages"]] == ["garage"]
    assert read_manifest(tmp_path / "ix").embedding is not None
