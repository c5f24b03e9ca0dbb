"""The ``retrieve`` tool: entry point, options, bad arguments, recipes and an agent run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from forethought import Agent, ModelRetry, ScriptedModel, ToolArgumentError, UserError
from forethought.recipes import build_agent, load_recipe
from forethought.tools.base import builtin_tools, resolve_tool
from forethought.tools.retrieval import RetrievalIndex, Retriever, RetrieveTool, retrieve

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "retrieval.yaml"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    file = tmp_path / "space.jsonl"
    file.write_text((ROOT / "recipes" / "retrieval_corpus.jsonl").read_text(encoding="utf-8"),
                    encoding="utf-8")
    return file


def make(options: dict[str, Any]) -> RetrieveTool:
    tool = resolve_tool("retrieve", options)
    assert isinstance(tool, RetrieveTool)
    return tool


def test_registered_under_the_entry_point() -> None:
    assert builtin_tools()["retrieve"] is retrieve


async def test_tool_returns_ids_titles_scores_and_text(corpus: Path) -> None:
    tool = make({"corpus": str(corpus), "k": 2, "max_chars": 40})
    assert tool.name == "retrieve"
    assert tool.description.startswith("Search a corpus of 12 passages")
    assert tool.parameters["properties"]["k"] == {
        "default": 2, "maximum": 50, "minimum": 1, "type": "integer",
        "description": "How many passages to return (best first)."}
    assert tool.parameters["required"] == ["query"]
    out = await tool.call({"query": "Which probe visited Neptune?"})
    assert out["query"] == "Which probe visited Neptune?"
    first = out["passages"][0]
    assert (first["id"], first["title"]) == ("voyager-2", "Voyager 2")
    assert first["text"].endswith("…") and len(first["text"]) == 41
    assert isinstance(first["score"], float) and first["score"] > 0
    assert len(out["passages"]) == 2
    out = await tool.call({"query": "Pluto", "k": 5})
    assert [p["id"] for p in out["passages"]] == ["pluto", "new-horizons"]


async def test_bad_arguments_go_back_to_the_model(corpus: Path) -> None:
    tool = make({"corpus": str(corpus)})
    with pytest.raises(ModelRetry, match="the query is empty"):
        await tool.call({"query": "  "})
    with pytest.raises(ModelRetry, match="k must be between 1 and 50, got 0"):
        await tool.call({"query": "Saturn", "k": 0})
    with pytest.raises(ModelRetry, match="got 51"):
        await tool.call({"query": "Saturn", "k": 51})
    with pytest.raises(ToolArgumentError, match=r"k: Input should be a valid integer"):
        await tool.call({"query": "Saturn", "k": "many"})
    with pytest.raises(ToolArgumentError, match="query: Field required"):
        await tool.call({"k": 2})
    with pytest.raises(ToolArgumentError, match="limit: Extra inputs are not permitted"):
        await tool.call({"query": "Saturn", "limit": 2})
    assert await tool.call({"query": "quasar"}) == {"query": "quasar", "passages": []}


def test_options_are_validated() -> None:
    with pytest.raises(UserError, match=r"give 'corpus' .* or 'index'"):
        retrieve.create({})
    with pytest.raises(UserError, match=r"corpora: Extra inputs are not permitted \(valid "
                                        r"options: corpus, index, format, "):
        retrieve.create({"corpora": "x"})
    with pytest.raises(UserError, match="k: Input should be less than or equal to 50"):
        retrieve.create({"corpus": "x", "k": 80})
    with pytest.raises(UserError, match="hybrid_weight: Input should be less than or equal"):
        retrieve.create({"corpus": "x", "hybrid_weight": 2})
    with pytest.raises(UserError, match="format: Input should be 'auto', 'dir', 'text'"):
        retrieve.create({"corpus": "x", "format": "csv"})


def test_bad_corpora_fail_when_the_tool_is_built(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        retrieve.create({"corpus": str(tmp_path / "missing.jsonl")})
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(UserError, match="holds no passages"):
        retrieve.create({"corpus": str(empty)})
    fielded = tmp_path / "f.jsonl"
    fielded.write_text(json.dumps({"body": "text"}) + "\n")
    with pytest.raises(UserError, match=r"line 1: no text field 'text' \(fields present: "
                                        r"'body'\)"):
        retrieve.create({"corpus": str(fielded)})
    assert len(make({"corpus": str(fielded), "text_field": "body"}).retriever.index) == 1
    with pytest.raises(UserError, match="unknown stemmer language 'elvish'"):
        retrieve.create({"corpus": str(fielded), "text_field": "body", "language": "elvish"})


def test_folder_corpus_and_saved_index(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\nInstall with pip.\n\nConfigure the cache.\n")
    index = tmp_path / "ix"
    tool = make({"corpus": str(docs), "index": str(index)})
    assert [p.id for p in tool.retriever.index.passages] == ["guide.md#1", "guide.md#2"]
    loaded = make({"index": str(index), "split": "file"})
    assert loaded.retriever.index.fingerprint == tool.retriever.index.fingerprint
    whole = make({"corpus": str(docs), "split": "file", "stopwords": None})
    assert [p.id for p in whole.retriever.index.passages] == ["guide.md"]
    with pytest.raises(UserError, match="give its corpus too to rebuild it"):
        make({"index": str(index), "language": "german"})
    with pytest.raises(UserError, match="no retrieval index at"):
        make({"index": str(tmp_path / "elsewhere")})
    manifest = index / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"bm25s_version": "',
                                                     '"bm25s_version": "0.0.1+'))
    with pytest.raises(UserError, match=r"was built with bm25s '0\.0\.1\+.*rebuild it"):
        make({"index": str(index)})
    assert len(make({"corpus": str(docs), "index": str(index)}).retriever.index) == 2


async def test_concurrent_calls_agree_with_sequential_ones(corpus: Path) -> None:
    tool = make({"corpus": str(corpus), "k": 3})
    queries = ["Voyager", "Saturn moon", "Pluto", "Jupiter storm", "ice rings", "1977"] * 3
    sequential = [await tool.call({"query": q}) for q in queries]
    assert await asyncio.gather(*(tool.call({"query": q}) for q in queries)) == sequential


def test_tool_from_code() -> None:
    index = RetrievalIndex.build(["Ada Lovelace wrote the first program.", "Bees make honey."])
    tool = RetrieveTool(Retriever(index=index), name="search_notes", k=1)
    assert tool.name == "search_notes"
    with pytest.raises(UserError, match="k must be between 1 and 50, got 0"):
        RetrieveTool(Retriever(index=index), k=0)


def test_recipe_builds_an_agent_whose_tool_answers_a_two_hop_question(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the recipe's corpus path is relative to the repository root
    recipe = load_recipe(RECIPE)
    built = build_agent(recipe, store=None)
    tool = built.tools.get("retrieve")
    plan = ('1. retrieve(query="probe launched sixteen days before Voyager 1", k=1)\n'
            '2. retrieve(query="only spacecraft to have visited Uranus and Neptune", k=1)\n'
            "3. join()\n")
    agent = Agent(ScriptedModel([plan, "Action: Finish(Uranus and Neptune)"]), tools=[tool],
                  store=None)
    result = agent.run(recipe.input or "")
    assert result.ok and result.answer == "Uranus and Neptune"
    outputs = result.rounds[0].outputs
    assert [out["passages"][0]["id"] for out in (outputs["1"], outputs["2"])] == \
        ["voyager-2", "voyager-2"]
