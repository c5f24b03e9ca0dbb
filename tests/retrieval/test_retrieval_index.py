"""The BM25 index: ranking, query errors, persistence, version checks, build-or-load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from forethought import UserError
from forethought.tools.retrieval import (
    FORMAT_VERSION,
    Hit,
    IndexSettings,
    Passage,
    RetrievalIndex,
    open_index,
    read_manifest,
)

CORPUS = [
    Passage(id="cats", title="Cats", text="Cats are small carnivorous mammals that purr."),
    Passage(id="dogs", title="Dogs", text="Dogs were domesticated from wolves; dogs bark."),
    Passage(id="running", title="Marathon", text="Running a marathon takes months of training."),
    Passage(id="python", title="Python", text="Python is a programming language by Guido."),
]


@pytest.fixture(scope="module")
def index() -> RetrievalIndex:
    return RetrievalIndex.build(CORPUS)


def ids(hits: list[Hit]) -> list[str]:
    return [h.id for h in hits]


def test_search_ranks_by_bm25_with_ids_titles_scores(index: RetrievalIndex) -> None:
    hits = index.search("Which animals bark like wolves?", k=2)
    assert ids(hits) == ["dogs"]  # only one passage shares a word with the query
    hit = hits[0]
    assert (hit.title, hit.rank, hit.score == hit.bm25_score) == ("Dogs", 1, True)
    assert hit.score > 0 and hit.embedding_score is None
    assert hit.to_dict() == {"id": "dogs", "title": "Dogs", "score": round(hit.score, 4),
                             "text": CORPUS[1].text}


def test_stemming_and_titles_are_indexed(index: RetrievalIndex) -> None:
    assert ids(index.search("runs", k=3)) == ["running"]  # run(s) ~ running
    assert ids(index.search("marathon", k=3)) == ["running"]
    assert ids(index.search("guido python", k=10)) == ["python"]


def test_k_larger_than_corpus_and_no_match(index: RetrievalIndex) -> None:
    assert len(index.search("dogs cats marathon python", k=100)) == 4
    assert index.search("zebra quantum", k=3) == []
    assert index.search("the of and", k=3) == []  # stop words only


@pytest.mark.parametrize(("query", "k", "message"), [
    ("", 3, r"the query is empty \(''\)"),
    ("   ", 3, "the query is empty"),
    ("cats", 0, "k must be a positive number of passages, got 0"),
    ("cats", -2, "got -2"),
])
def test_bad_queries(index: RetrievalIndex, query: str, k: int, message: str) -> None:
    with pytest.raises(UserError, match=message):
        index.search(query, k)


def test_hit_to_dict_truncates() -> None:
    hit = Hit(id="a", title="", text="word " * 50, score=1.23456, rank=1)
    assert hit.to_dict(max_chars=12) == {"id": "a", "score": 1.2346, "text": "word word wo…"}


def test_settings_are_checked() -> None:
    with pytest.raises(UserError, match="unknown stemmer language 'klingon'; valid: arabic, "):
        RetrievalIndex.build(CORPUS, IndexSettings(language="klingon"))
    with pytest.raises(UserError, match="unknown stop-word list 'xx'; valid: english, "):
        RetrievalIndex.build(CORPUS, IndexSettings(stopwords="xx"))
    with pytest.raises(UserError, match="unknown BM25 method 'tfidf'"):
        RetrievalIndex.build(CORPUS, IndexSettings(method="tfidf"))


def test_unstemmed_index_and_corpus_of_stop_words() -> None:
    plain = RetrievalIndex.build(CORPUS, IndexSettings(language=None, stopwords=None))
    assert plain.search("runs", k=2) == []
    assert ids(plain.search("of", k=3)) == ["running"]  # stop words kept
    with pytest.raises(UserError, match="none of the 2 passages has a word left to index"):
        RetrievalIndex.build(["the and", "of it"])


def test_progress_callback_reports_each_stage() -> None:
    seen: list[tuple[str, int, int]] = []
    RetrievalIndex.build(CORPUS, progress=lambda *event: seen.append(event))
    assert seen == [("tokenize", 4, 4), ("index", 0, 1), ("index", 1, 1)]


def test_progress_bar_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(RetrievalIndex.build(CORPUS, progress=True)) == 4  # a rich bar on stderr
    RetrievalIndex.build(CORPUS)  # default: a bar only on a terminal for large corpora
    assert capsys.readouterr().out == ""


def test_save_and_load_round_trip(index: RetrievalIndex, tmp_path: Path) -> None:
    path = index.save(tmp_path / "ix")
    assert sorted(p.name for p in path.iterdir()) == ["bm25", "manifest.json", "passages.jsonl"]
    manifest = read_manifest(path)
    assert (manifest.format_version, manifest.passages) == (FORMAT_VERSION, 4)
    assert manifest.tokenizer["language"] == "english"
    assert manifest.tokenizer["token_pattern"] == r"(?u)\b\w\w+\b"
    loaded = RetrievalIndex.load(path)
    assert loaded.passages == index.passages and loaded.settings == index.settings
    assert loaded.search("purring cats", 2) == index.search("purring cats", 2)


def edit_manifest(path: Path, **changes: Any) -> None:
    file = path / "manifest.json"
    data = json.loads(file.read_text())
    data.update(changes)
    file.write_text(json.dumps(data))


def test_index_of_another_version_is_refused(index: RetrievalIndex, tmp_path: Path) -> None:
    path = index.save(tmp_path / "ix")
    edit_manifest(path, bm25s_version="0.1.0")
    with pytest.raises(UserError) as err:
        RetrievalIndex.load(path)
    assert "was built with bm25s '0.1.0' but bm25s '" in str(err.value)
    assert "rebuild it from its corpus" in str(err.value)
    edit_manifest(path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(UserError, match=rf"index format version {FORMAT_VERSION + 1} but this "
                                        rf"forethought reads version {FORMAT_VERSION}; rebuild"):
        RetrievalIndex.load(path)


def test_missing_and_damaged_indexes(index: RetrievalIndex, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no retrieval index at '.*nope' \(does not exist\)"):
        RetrievalIndex.load(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match=r"\(has no manifest.json\)"):
        RetrievalIndex.load(tmp_path / "plain")
    path = index.save(tmp_path / "ix")
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match=r"manifest of the retrieval index .* is damaged"):
        RetrievalIndex.load(path)
    path = index.save(tmp_path / "ix2")
    edit_manifest(path, passages=3)
    with pytest.raises(UserError, match=r"lists 3 passages but passages\.jsonl holds 4; rebuild"):
        RetrievalIndex.load(path)
    path = index.save(tmp_path / "ix3")
    edit_manifest(path, format="something else")
    with pytest.raises(UserError, match="is not a forethought retrieval index manifest"):
        RetrievalIndex.load(path)


def test_save_replaces_an_index_but_never_another_folder(index: RetrievalIndex,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "ix"
    RetrievalIndex.build(["first version of the corpus"]).save(path)
    index.save(path)
    assert len(RetrievalIndex.load(path)) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["ix"]  # no temporary folders left
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not lose")
    with pytest.raises(UserError, match="exists and is not a retrieval index; refusing"):
        index.save(precious)
    assert (precious / "thesis.tex").read_text() == "do not lose"


def test_open_index_builds_once_then_loads(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "alpha beta"}\n{"id": "b", "text": "gamma"}\n')
    built: list[int] = []
    real_build = RetrievalIndex.build.__func__  # type: ignore[attr-defined]

    def counting_build(cls: type[RetrievalIndex], *args: Any, **kwargs: Any) -> RetrievalIndex:
        built.append(1)
        return real_build(cls, *args, **kwargs)

    monkeypatch.setattr(RetrievalIndex, "build", classmethod(counting_build))
    path = tmp_path / "ix"
    first = open_index(corpus=corpus, index=path)
    second = open_index(corpus=corpus, index=path)
    assert len(built) == 1 and second.fingerprint == first.fingerprint
    assert ids(open_index(index=path).search("gamma", 1)) == ["b"]
    # a changed corpus, changed settings or a stale version all rebuild in place
    corpus.write_text('{"id": "a", "text": "alpha beta"}\n{"id": "c", "text": "delta"}\n')
    assert ids(open_index(corpus=corpus, index=path).search("delta", 1)) == ["c"]
    open_index(corpus=corpus, index=path, settings=IndexSettings(language=None))
    edit_manifest(path, bm25s_version="0.0.1")
    open_index(corpus=corpus, index=path)
    assert len(built) == 4
    assert read_manifest(path).bm25s_version != "0.0.1"


def test_open_index_errors(tmp_path: Path, index: RetrievalIndex) -> None:
    with pytest.raises(UserError, match="give a corpus"):
        open_index()
    path = index.save(tmp_path / "ix")
    with pytest.raises(UserError, match="give its corpus too to rebuild it"):
        open_index(index=path, settings=IndexSettings(language="french"))
    edit_manifest(path, bm25s_version="0.0.1")
    with pytest.raises(UserError, match=r"was built with bm25s '0\.0\.1'"):
        open_index(index=path)
