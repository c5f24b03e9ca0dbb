"""Datasets: the three formats, fields and templates, slices, and every bad input with a
one-line error that names what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from forethought.eval.config import DatasetConfig
from forethought.eval.datasets import load_dataset
from forethought.exceptions import UserError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, records: Sequence[object]) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in records))


def cfg(path: Path, **fields: object) -> DatasetConfig:
    return DatasetConfig.model_validate({"path": str(path), **fields})


def test_jsonl_fields_ids_tags_and_order(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", [
        {"q": "one?", "a": 1, "k": "x1", "level": "easy"},
        {"q": "two?", "a": "2", "k": "x2", "level": "hard"},
    ])
    ds = load_dataset(cfg(path, question="q", reference="a", id="k", tags=["level", "type"]),
                      path)
    assert [(i.index, i.id, i.question, i.reference, i.tags) for i in ds.instances] == [
        (0, "x1", "one?", "1", {"level": "easy", "type": "(none)"}),
        (1, "x2", "two?", "2", {"level": "hard", "type": "(none)"})]
    assert ds.problems == [] and ds.size == 2
    assert ds.instances[0].record == {"q": "one?", "a": 1, "k": "x1", "level": "easy"}


def test_default_ids_are_line_numbers_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"question": "a"}\n\n{"question": "b"}\n')
    assert [i.id for i in load_dataset(cfg(path), path).instances] == ["1", "3"]


def test_a_template_joins_list_fields_one_per_line(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", [{"premises": ["P1.", "P2."], "conclusion-FOL": "C(x)"}])
    ds = load_dataset(cfg(path, question="Premises:\n{premises}\nConclusion: {conclusion-FOL}"),
                      path)
    assert ds.instances[0].question == "Premises:\nP1.\nP2.\nConclusion: C(x)"


def test_csv_and_json(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "d.csv", "Rank,Puzzles\n1,1 1 4 6\n2,\"1 1 11 11\"\n")
    ds = load_dataset(cfg(csv_path, question="Puzzles", id="Rank"), csv_path)
    assert [(i.id, i.question) for i in ds.instances] == [("1", "1 1 4 6"), ("2", "1 1 11 11")]
    json_path = write(tmp_path / "d.json", json.dumps({"data": [{"question": "q1"}]}))
    ds = load_dataset(cfg(json_path, records="data"), json_path)
    assert [(i.id, i.question) for i in ds.instances] == [("1", "q1")]


def test_slices_and_ids(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", [{"question": f"q{i}", "id": f"i{i}"} for i in range(10)])
    ids = lambda **kw: [i.id for i in load_dataset(cfg(path, id="id", **kw), path).instances]
    assert ids(offset=2, limit=3) == ["i2", "i3", "i4"]
    assert ids(ids=["i7", "i1", "i5"]) == ["i1", "i5", "i7"]  # dataset order
    assert ids(ids=["i7", "i1", "i5"], limit=2) == ["i1", "i5"]
    # The index is the position in the file, whatever the slice.
    assert [i.index for i in load_dataset(cfg(path, offset=8), path).instances] == [8, 9]


def test_a_malformed_line_is_reported_and_the_rest_still_load(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"question": "a"}\n{"question": "b",\n[1, 2]\n'
                 '{"other": 1}\n{"question": "  "}\n{"question": "c"}\n')
    ds = load_dataset(cfg(path), path)
    assert [i.question for i in ds.instances] == ["a", "c"]
    assert [str(p) for p in ds.problems] == [
        "line 2: not valid JSON: Expecting property name enclosed in double quotes (column 18)",
        "line 3: a record is a JSON object, got list",
        "line 4: no field 'question' (for the question; fields: other)",
        "line 5: the question is empty"]
    with pytest.raises(UserError, match=r"^dataset '.*d\.jsonl', line 2: not valid JSON: .* "
                       r"\(--strict stops at the first malformed record\)$"):
        load_dataset(cfg(path), path, strict=True)


def test_a_csv_row_with_the_wrong_number_of_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "question,answer\nq1,a1\nq2,a2,extra\nq3\nq4,a4\n")
    ds = load_dataset(cfg(path, reference="answer"), path, needs_reference=True)
    assert [i.question for i in ds.instances] == ["q1", "q4"]
    assert [str(p) for p in ds.problems] == ["line 2: 3 fields, the header has 2",
                                             "line 3: 1 fields, the header has 2"]


def test_a_record_without_its_reference_is_malformed_only_when_the_metric_needs_one(
        tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", [{"question": "a", "answer": "1"}, {"question": "b"}])
    ds = load_dataset(cfg(path, reference="answer"), path, needs_reference=True)
    assert [i.question for i in ds.instances] == ["a"]
    assert [str(p) for p in ds.problems] == [
        "line 2: no reference: field 'answer' is missing or empty"]
    ds = load_dataset(cfg(path, reference="answer"), path, needs_reference=False)
    assert [i.reference for i in ds.instances] == ["1", None]


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: p, r"^dataset '.*missing\.jsonl': no such file$"),
    (lambda p: write(p, ""), r"^dataset '.*missing\.jsonl' is empty: no records$"),
    (lambda p: write(p, "\n\n"), r"^dataset '.*missing\.jsonl' is empty: no records$"),
    (lambda p: jsonl(p, [{"prompt": "a"}, {"prompt": "b"}]),
     r"^dataset '.*': none of its 2 records is usable; the first problem: line 1: no field "
     r"'question' \(for the question; fields: prompt\)$"),
    (lambda p: jsonl(p, [{"question": "a", "id": 7}, {"question": "b", "id": 8},
                         {"question": "c", "id": 7}]),
     r"^dataset '.*': id '7' appears on line 1 and line 3; ids must be unique"),
    (lambda p: write(p, b"\xff\xfe{}".decode("latin-1")),
     r"^dataset '.*': none of its 1 records is usable"),
])
def test_unusable_datasets(tmp_path: Path, setup: object, message: str) -> None:
    path = tmp_path / "missing.jsonl"
    setup(path)  # type: ignore[operator]
    with pytest.raises(UserError, match=message):
        load_dataset(cfg(path, id="id"), path)


def test_bad_slices_and_formats(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", [{"question": "a", "id": "x"}])
    with pytest.raises(UserError, match=r"no instance with id 'nope' \(and 1 more\); ids look "
                       r"like 'x', \.\.\.$"):
        load_dataset(cfg(path, id="id", ids=["nope", "x", "also"]), path)
    with pytest.raises(UserError, match=r"the slice \(offset 5, limit None\) selects none of "
                       r"its 1 instances$"):
        load_dataset(cfg(path, offset=5), path)
    other = write(tmp_path / "d.txt", "x")
    with pytest.raises(UserError, match=r"cannot tell the format from the suffix '\.txt'"):
        load_dataset(cfg(other), other)
    as_object = write(tmp_path / "o.json", '{"rows": []}')
    with pytest.raises(UserError, match=r"expected a list of records, got dict \(set "
                       r"`records:` to the key holding them\)$"):
        load_dataset(cfg(as_object), as_object)
    broken = write(tmp_path / "b.json", "[{")
    with pytest.raises(UserError, match=r"not valid JSON at line 1, column 3"):
        load_dataset(cfg(broken), broken)


def test_the_fingerprint_follows_the_selected_instances(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", [{"question": f"q{i}"} for i in range(4)])
    one = load_dataset(cfg(path, limit=3), path).fingerprint()
    assert one == load_dataset(cfg(path, limit=3), path).fingerprint()
    assert one != load_dataset(cfg(path, limit=2), path).fingerprint()
    jsonl(path, [{"question": f"q{i}"} for i in range(3)] + [{"question": "changed"}])
    assert one == load_dataset(cfg(path, limit=3), path).fingerprint()  # not selected
    jsonl(path, [{"question": "changed"}] + [{"question": f"q{i}"} for i in range(1, 4)])
    assert one != load_dataset(cfg(path, limit=3), path).fingerprint()
