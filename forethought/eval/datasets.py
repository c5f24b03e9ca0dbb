"""Datasets: JSONL, JSON or CSV records turned into instances (id, question, reference, tags).

A malformed record (invalid JSON, a CSV row with the wrong number of fields, a missing or empty
question) is reported with its line number and left out, so the rest still run; ``strict``
turns the first one into an error. Whatever makes the whole dataset unusable (no file, no
records, a question field that no record has, duplicate ids) is a :class:`UserError` naming the
file and what would be valid.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from forethought.eval.config import DatasetConfig
from forethought.exceptions import UserError

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(kw_only=True, frozen=True, slots=True)
class Instance:
    """One question of a dataset."""

    index: int
    """Position in the file's records (0-based): the order of the results file."""
    id: str
    question: str
    reference: str | None = None
    tags: dict[str, str] = field(default_factory=dict[str, str])
    """The values of the dataset's tag fields (for the summary's breakdowns)."""
    record: dict[str, Any] = field(default_factory=dict[str, Any])
    """The whole record (a verifier's tool arguments may name any of its fields)."""


@dataclass(kw_only=True, frozen=True, slots=True)
class Problem:
    """A record that was left out, and why."""

    line: int
    """1-based line (JSONL), row (CSV, header excluded) or position (JSON)."""
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(kw_only=True)
class Dataset:
    """The selected instances of a dataset file."""

    path: Path
    instances: list[Instance]
    problems: list[Problem]
    """Malformed records left out (empty with ``strict``, which raises instead)."""
    size: int
    """Usable records in the file, before the slice."""

    def fingerprint(self) -> str:
        """Identifies the selected instances (ids, questions, references): a resumed eval
        refuses a dataset that changed underneath it.
        """
        digest = hashlib.sha256()
        for inst in self.instances:
            # Lengths first, so that no two different instances write the same bytes.
            ref = "" if inst.reference is None else inst.reference
            digest.update(f"{len(inst.id)}:{len(inst.question)}:{len(ref)}:"
                          f"{inst.reference is None:d}:{inst.id}{inst.question}{ref}".encode())
        return digest.hexdigest()


def _as_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(_as_text(v) for v in cast(Sequence[Any], value))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def template_fields(template: str) -> list[str]:
    """The field names ``template`` refers to (a plain field name refers to itself)."""
    names = _PLACEHOLDER.findall(template)
    return names or [template]


def fill(template: str, record: Mapping[str, Any]) -> str:
    """``template`` with each ``{field}`` replaced by the record's value (lists one per line);
    a template without braces is a field name. Raises ``KeyError`` naming a missing field.
    """
    if not _PLACEHOLDER.search(template):
        return _as_text(record[template])
    return _PLACEHOLDER.sub(lambda m: _as_text(record[m.group(1)]), template)


def _format(cfg: DatasetConfig, path: Path) -> str:
    if cfg.format is not None:
        return cfg.format
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".json", ".csv"):
        return suffix[1:]
    raise UserError(f"dataset {str(path)!r}: cannot tell the format from the suffix "
                    f"{suffix!r}; name the file .jsonl, .json or .csv, or set `format:`")


def _records(path: Path, fmt: str, records_key: str | None
             ) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    """``(line, record)`` pairs, or ``(line, Problem)`` for a record that cannot be read."""
    with path.open(encoding="utf-8", newline="" if fmt == "csv" else None) as f:
        if fmt == "jsonl":
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    value: Any = json.loads(line.rstrip("\r\n"))
                except json.JSONDecodeError as exc:
                    yield number, Problem(line=number, message=f"not valid JSON: {exc.msg} "
                                          f"(column {exc.colno})")
                    continue
                yield number, _object(number, value)
        elif fmt == "csv":
            reader = csv.DictReader(f, restkey="\0extra")
            width = len(reader.fieldnames or ())
            for number, row in enumerate(reader, 1):
                got = len([v for k, v in row.items() if k != "\0extra" and v is not None]) + \
                    len(row.get("\0extra", ()))  # pyright: ignore[reportArgumentType]
                if got != width:
                    yield number, Problem(line=number, message=f"{got} fields, the header has "
                                          f"{width}")
                    continue
                yield number, dict(row)
        else:
            yield from _json_records(path, f.read(), records_key)


def _object(number: int, value: Any) -> dict[str, Any] | Problem:
    if not isinstance(value, dict):
        return Problem(line=number, message=f"a record is a JSON object, got "
                       f"{type(value).__name__}")
    return cast(dict[str, Any], value)


def _json_records(path: Path, text: str, records_key: str | None
                  ) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"dataset {str(path)!r}: not valid JSON at line {exc.lineno}, column "
                        f"{exc.colno}: {exc.msg}") from None
    if records_key is not None:
        if not isinstance(data, dict) or records_key not in data:
            raise UserError(f"dataset {str(path)!r}: no key {records_key!r} at the top level "
                            f"(`records:` names the key holding the list of records)")
        data = cast(dict[str, Any], data)[records_key]
    if not isinstance(data, list):
        kind = type(cast(object, data)).__name__
        hint = " (set `records:` to the key holding them)" if kind == "dict" else ""
        raise UserError(f"dataset {str(path)!r}: expected a list of records, got {kind}{hint}")
    for number, value in enumerate(cast(list[Any], data), 1):
        yield number, _object(number, value)


def _instance(cfg: DatasetConfig, number: int, record: dict[str, Any], *,
              needs_reference: bool) -> Instance | Problem:
    try:
        question = fill(cfg.question, record).strip()
    except KeyError as exc:
        return Problem(line=number, message=f"no field {exc.args[0]!r} (for the question; "
                       f"fields: {', '.join(record) or 'none'})")
    if not question:
        return Problem(line=number, message="the question is empty")
    reference: str | None = None
    if cfg.reference is not None:
        value = record.get(cfg.reference)
        if value is None or (isinstance(value, str) and not value.strip()):
            if needs_reference:
                return Problem(line=number, message=f"no reference: field {cfg.reference!r} is "
                               f"missing or empty")
        else:
            reference = _as_text(value)
    if cfg.id is None:
        id_ = str(number)
    elif record.get(cfg.id) in (None, ""):
        return Problem(line=number, message=f"no id: field {cfg.id!r} is missing or empty")
    else:
        id_ = _as_text(record[cfg.id])
    tags = {t: _as_text(record[t]) if record.get(t) is not None else "(none)" for t in cfg.tags}
    return Instance(index=0, id=id_, question=question, reference=reference, tags=tags,
                    record=record)


def load_dataset(cfg: DatasetConfig, path: Path, *, needs_reference: bool = False,
                 strict: bool = False) -> Dataset:
    """The instances of ``path`` selected by ``cfg`` (its fields and slice).

    ``needs_reference``: the metric compares with a reference, so a record without one is
    malformed. Raises :class:`UserError` for a dataset that cannot run at all, and with
    ``strict`` for the first malformed record.
    """
    if not path.is_file():
        raise UserError(f"dataset {str(path)!r}: no such file")
    fmt = _format(cfg, path)
    instances: list[Instance] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    read = 0
    try:
        for number, item in _records(path, fmt, cfg.records):
            read += 1
            made = item if isinstance(item, Problem) else _instance(
                cfg, number, item, needs_reference=needs_reference)
            if isinstance(made, Problem):
                if strict:
                    raise UserError(f"dataset {str(path)!r}, {made} (--strict stops at the first "
                                    f"malformed record)")
                problems.append(made)
                continue
            if made.id in seen:
                raise UserError(f"dataset {str(path)!r}: id {made.id!r} appears on line "
                                f"{seen[made.id]} and line {number}; ids must be unique (name a "
                                f"unique field in `id:`, or leave it out to number records)")
            seen[made.id] = number
            instances.append(Instance(index=len(instances), id=made.id, question=made.question,
                                      reference=made.reference, tags=made.tags,
                                      record=made.record))
    except UnicodeDecodeError as exc:
        raise UserError(f"dataset {str(path)!r}: not UTF-8 text ({exc.reason} at byte "
                        f"{exc.start})") from None
    if read == 0:
        raise UserError(f"dataset {str(path)!r} is empty: no records")
    if not instances:
        raise UserError(f"dataset {str(path)!r}: none of its {read} records is usable; the "
                        f"first problem: {problems[0]}")
    return Dataset(path=path, instances=_select(cfg, path, instances), problems=problems,
                   size=len(instances))


def _select(cfg: DatasetConfig, path: Path, instances: list[Instance]) -> list[Instance]:
    selected = instances
    if cfg.ids is not None:
        by_id = {inst.id: inst for inst in instances}
        unknown = [i for i in cfg.ids if i not in by_id]
        if unknown:
            sample = ", ".join(repr(inst.id) for inst in instances[:3])
            raise UserError(f"dataset {str(path)!r}: no instance with id {unknown[0]!r}"
                            f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}; "
                            f"ids look like {sample}, ...")
        wanted = set(cfg.ids)
        selected = [inst for inst in instances if inst.id in wanted]
    end = None if cfg.limit is None else cfg.offset + cfg.limit
    selected = selected[cfg.offset:end]
    if not selected:
        raise UserError(f"dataset {str(path)!r}: the slice (offset {cfg.offset}, limit "
                        f"{cfg.limit}) selects none of its {len(instances)} instances")
    return selected
