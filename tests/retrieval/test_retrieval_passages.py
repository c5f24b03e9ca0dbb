"""Reading corpora: folders of text files, JSONL with configurable fields, Python lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forethought import UserError
from forethought.tools.retrieval import (
    Fields,
    Passage,
    load_passages,
    passages_from_dir,
    passages_from_jsonl,
    passages_from_list,
)


def write_jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# Alpha guide\n\nFirst paragraph\nstill first.\n\n"
                               "## Setup\n\nSecond paragraph.\n", encoding="utf-8")
    (root / "sub" / "b.txt").write_text("Only paragraph of b.\n", encoding="utf-8")
    (root / "empty.txt").write_text("  \n", encoding="utf-8")
    (root / "skip.json").write_text("{}", encoding="utf-8")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "c.md").write_text("hidden text", encoding="utf-8")
    return root


def test_folder_splits_into_paragraphs_with_headings_kept(notes: Path) -> None:
    passages = passages_from_dir(notes)
    assert passages == [
        Passage(id="a.md#1", title="Alpha guide",
                text="# Alpha guide\nFirst paragraph\nstill first."),
        Passage(id="a.md#2", title="Alpha guide", text="## Setup\nSecond paragraph."),
        Passage(id="sub/b.txt#1", title="b", text="Only paragraph of b."),
    ]


def test_folder_one_passage_per_file(notes: Path) -> None:
    passages = load_passages(notes, split="file")
    assert [(p.id, p.title) for p in passages] == [("a.md", "Alpha guide"), ("sub/b.txt", "b")]
    assert passages[0].text.startswith("# Alpha guide") and passages[0].text.endswith("paragraph.")


def test_single_text_file(notes: Path) -> None:
    passages = load_passages(notes / "sub" / "b.txt")
    assert passages == [Passage(id="b.txt#1", title="b", text="Only paragraph of b.")]


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"corpus path '.*nowhere' does not exist"):
        load_passages(tmp_path / "nowhere")
    (tmp_path / "only.json").write_text("{}", encoding="utf-8")
    with pytest.raises(UserError, match=r"holds no \.txt/\.md/\.markdown files"):
        passages_from_dir(tmp_path)
    (tmp_path / "blank.md").write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserError, match="holds no passages"):
        passages_from_dir(tmp_path)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin1\.txt' is not UTF-8 text \(byte 3\)"):
        passages_from_dir(tmp_path)
    with pytest.raises(UserError, match="cannot tell the format"):
        load_passages(tmp_path / "only.json")


def test_jsonl_default_fields(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "c.jsonl", [
        {"id": 7, "title": "Seven", "text": "seven text"},
        {"text": "no id here"},
    ])
    (tmp_path / "c.jsonl").write_text(file.read_text() + "\n   \n", encoding="utf-8")
    assert passages_from_jsonl(file) == [
        Passage(id="7", title="Seven", text="seven text"),
        Passage(id="line-2", title="", text="no id here"),
    ]


def test_jsonl_configured_fields(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "c.jsonl", [{"doc": "d1", "body": "hello", "name": "H"}])
    fields = Fields(text="body", id="doc", title="name")
    assert load_passages(file, fields=fields) == [Passage(id="d1", title="H", text="hello")]


def test_jsonl_unknown_field_names_the_fields_present(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "c.jsonl", [{"body": "x", "doc": 1}])
    with pytest.raises(UserError) as err:
        passages_from_jsonl(file)
    assert str(err.value) == ("c.jsonl line 1: no text field 'text' (fields present: 'body', "
                              "'doc'); set text_field to one of them")
    with pytest.raises(UserError, match=r"line 1: no id field 'key' \(fields present: 'body', "):
        passages_from_jsonl(file, Fields(text="body", id="key"))
    with pytest.raises(UserError, match="line 1: no title field 'heading'"):
        passages_from_jsonl(file, Fields(text="body", title="heading"))


def test_jsonl_malformed_lines_give_line_numbers(tmp_path: Path) -> None:
    file = tmp_path / "c.jsonl"
    file.write_text('{"text": "ok"}\n\n{"text": "broken"\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"c\.jsonl line 3: not valid JSON \(Expecting ',' "):
        passages_from_jsonl(file)
    write_jsonl(file, [{"text": "ok"}, ["a", "list"]])
    with pytest.raises(UserError, match="line 2: expected a JSON object, got list"):
        passages_from_jsonl(file)
    write_jsonl(file, [{"text": 5}])
    with pytest.raises(UserError, match="line 1: field 'text' must be str, got int 5"):
        passages_from_jsonl(file)
    write_jsonl(file, [{"text": "  "}])
    with pytest.raises(UserError, match="line 1: field 'text' is empty"):
        passages_from_jsonl(file)
    write_jsonl(file, [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    with pytest.raises(UserError, match="passage id 'a' occurs more than once"):
        passages_from_jsonl(file)
    file.write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserError, match="holds no passages"):
        passages_from_jsonl(file)
    file.write_bytes(b'{"text": "\xff"}\n')
    with pytest.raises(UserError, match="is not UTF-8"):
        passages_from_jsonl(file)


def test_jsonl_path_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        passages_from_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(UserError, match="is a folder, not a JSONL file; use format 'dir'"):
        load_passages(tmp_path, format="jsonl")


def test_python_list() -> None:
    passages = passages_from_list(["first", {"id": "x", "text": "second", "title": "T"},
                                   Passage(id="p", text="third")])
    assert passages == [Passage(id="0", text="first"), Passage(id="x", title="T", text="second"),
                        Passage(id="p", text="third")]
    with pytest.raises(UserError, match="corpus item 1 is an empty string"):
        passages_from_list(["a", ""])
    with pytest.raises(UserError, match="corpus item 0 is a int"):
        passages_from_list([3])  # type: ignore[list-item]
    with pytest.raises(UserError, match=r"corpus item 0: no text field 'body' \(fields present: "
                                        r"'text'\)"):
        passages_from_list([{"text": "a"}], Fields(text="body"))
    with pytest.raises(UserError, match=r"corpus \(list\) holds no passages"):
        passages_from_list([])
