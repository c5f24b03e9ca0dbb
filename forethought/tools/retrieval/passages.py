"""Passages and the corpus readers: a folder of text files, a JSONL file or a Python list.

A folder (or one ``.txt``/``.md`` file) is split into paragraphs by default: blank lines
separate passages, a Markdown heading that stands alone is kept with the paragraph below it,
the passage id is ``"<relative path>#<n>"`` (n counts from 1) and the title is the file's
first ``# heading`` or else its name without the extension. ``split="file"`` makes each file
one passage with the relative path as its id.

A JSONL file holds one JSON object per line. ``text_field`` is required on every line. An
explicitly named ``id_field``/``title_field`` must be present on every line; left as
``None`` they mean "use ``id``/``title`` when the line has it", and lines without an id are
numbered ``line-<n>``. Nothing is skipped silently: a bad line is an error naming the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from forethought.exceptions import UserError

CorpusFormat = Literal["auto", "dir", "text", "jsonl"]
"""``dir``: a folder of ``.txt``/``.md`` files; ``text``: one such file; ``jsonl``: one JSON
object per line; ``auto``: decided from the path."""
SplitMode = Literal["paragraph", "file"]

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n+")


@dataclass(kw_only=True, frozen=True)
class Passage:
    """One retrievable unit of text."""

    id: str
    """Unique within its corpus."""
    text: str
    title: str = ""
    """Shown with the passage and indexed with its text (see ``include_title``)."""


def _describe(fields: Iterable[str]) -> str:
    names = ", ".join(repr(f) for f in sorted(fields))
    return names or "(none)"


def check_unique(passages: Sequence[Passage], source: str) -> None:
    """Raise if two passages share an id or there are none at all."""
    if not passages:
        raise UserError(f"corpus {source} holds no passages; give at least one non-empty text")
    seen: set[str] = set()
    for p in passages:
        if p.id in seen:
            raise UserError(f"corpus {source}: passage id {p.id!r} occurs more than once; "
                            f"ids must be unique")
        seen.add(p.id)


# -- text files ----------------------------------------------------------------------------


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks; a block made only of headings joins the next block."""
    out: list[str] = []
    pending: list[str] = []
    for block in _BLANK_LINES.split(text.replace("\r\n", "\n")):
        block = block.strip()
        if not block:
            continue
        if all(_HEADING.match(line) for line in block.splitlines()):
            pending.append(block)
            continue
        out.append("\n".join([*pending, block]))
        pending = []
    if pending:  # trailing headings with nothing below them are still text
        out.append("\n".join(pending))
    return out


def _title(text: str, path: Path) -> str:
    for line in text.splitlines():
        m = _HEADING.match(line.strip())
        if m and line.startswith("# "):
            return m.group(1)
    return path.stem


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"corpus file {str(path)!r} is not UTF-8 text (byte {exc.start}); "
                        f"convert it or remove it from the corpus") from None


def passages_from_files(files: Sequence[Path], *, root: Path,
                        split: SplitMode = "paragraph") -> list[Passage]:
    """Passages of text files; ids are paths relative to ``root`` (with ``#n`` per paragraph)."""
    if split not in ("paragraph", "file"):
        raise UserError(f"split must be 'paragraph' or 'file', got {split!r}")
    passages: list[Passage] = []
    for path in files:
        text = _read_text(path)
        if not text.strip():
            continue
        rel = path.relative_to(root).as_posix() if path != root else path.name
        title = _title(text, path)
        if split == "file":
            passages.append(Passage(id=rel, title=title, text=text.strip()))
        else:
            passages.extend(Passage(id=f"{rel}#{n}", title=title, text=para)
                            for n, para in enumerate(_paragraphs(text), start=1))
    return passages


def passages_from_dir(folder: str | Path, *, split: SplitMode = "paragraph") -> list[Passage]:
    """Every ``.txt``/``.md`` file under ``folder`` (recursively, hidden ones left out)."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"corpus folder {str(root)!r} does not exist or is not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and p.suffix.lower() in TEXT_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise UserError(f"corpus folder {str(root)!r} holds no {'/'.join(TEXT_SUFFIXES)} files")
    passages = passages_from_files(files, root=root, split=split)
    check_unique(passages, repr(str(root)))
    return passages


# -- records (JSONL lines, dicts) ----------------------------------------------------------


@dataclass(kw_only=True, frozen=True)
class Fields:
    """Which record fields hold the text, the id and the title."""

    text: str = "text"
    id: str | None = None
    """``None``: the ``id`` field when a record has one, else its position."""
    title: str | None = None
    """``None``: the ``title`` field when a record has one, else no title."""


DEFAULT_FIELDS = Fields()


def _field(record: Mapping[str, Any], name: str, where: str, role: str,
           kinds: tuple[type, ...] = (str,)) -> Any:
    if name not in record:
        raise UserError(f"{where}: no {role} field {name!r} (fields present: "
                        f"{_describe(record)}); set {role}_field to one of them")
    value = record[name]
    if not isinstance(value, kinds) or isinstance(value, bool):
        allowed = " or ".join(k.__name__ for k in kinds)
        raise UserError(f"{where}: field {name!r} must be {allowed}, got "
                        f"{type(value).__name__} {value!r:.60}")
    return value


def passage_from_record(record: Mapping[str, Any], fields: Fields, *, where: str,
                        default_id: str) -> Passage:
    """One passage from a JSON object; ``where`` names it in errors (file and line)."""
    text = cast(str, _field(record, fields.text, where, "text"))
    if not text.strip():
        raise UserError(f"{where}: field {fields.text!r} is empty; every passage needs text")
    if fields.id is not None:
        pid = str(_field(record, fields.id, where, "id", (str, int)))
    elif "id" in record and isinstance(record["id"], str | int):
        pid = str(record["id"])
    else:
        pid = default_id
    if fields.title is not None:
        title = cast(str, _field(record, fields.title, where, "title"))
    else:
        raw_title = record.get("title")
        title = raw_title if isinstance(raw_title, str) else ""
    return Passage(id=pid, text=text, title=title)


def passages_from_jsonl(path: str | Path, fields: Fields = DEFAULT_FIELDS) -> list[Passage]:
    """One passage per non-blank line of a JSONL file; errors give the line number."""
    file = Path(path)
    if file.is_dir():
        raise UserError(f"corpus {str(file)!r} is a folder, not a JSONL file; use format 'dir'")
    if not file.is_file():
        raise UserError(f"corpus file {str(file)!r} does not exist")
    passages: list[Passage] = []
    with file.open(encoding="utf-8", errors="strict") as f:
        try:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{file.name} line {n}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{where}: not valid JSON ({exc.msg} at column "
                                    f"{exc.colno})") from None
                if not isinstance(record, dict):
                    raise UserError(f"{where}: expected a JSON object, got "
                                    f"{type(record).__name__}")
                passages.append(passage_from_record(cast(dict[str, Any], record), fields,
                                                    where=where, default_id=f"line-{n}"))
        except UnicodeDecodeError as exc:
            raise UserError(f"corpus file {str(file)!r} is not UTF-8 (byte {exc.start})") \
                from None
    check_unique(passages, repr(str(file)))
    return passages


def passages_from_list(items: Iterable[str | Mapping[str, Any] | Passage],
                       fields: Fields = DEFAULT_FIELDS) -> list[Passage]:
    """Passages from strings (id = position), dicts (as JSONL records) or :class:`Passage`."""
    passages: list[Passage] = []
    for i, item in enumerate(items):
        if isinstance(item, Passage):
            passages.append(item)
        elif isinstance(item, str):
            if not item.strip():
                raise UserError(f"corpus item {i} is an empty string; every passage needs text")
            passages.append(Passage(id=str(i), text=item))
        elif isinstance(item, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
            passages.append(passage_from_record(item, fields, where=f"corpus item {i}",
                                                default_id=str(i)))
        else:
            raise UserError(f"corpus item {i} is a {type(item).__name__}; give strings, "
                            f"dicts or Passage objects")
    check_unique(passages, "(list)")
    return passages


def detect_format(path: Path) -> Literal["dir", "text", "jsonl"]:
    """The format of ``path`` from what it is: a folder, or a file's extension."""
    if path.is_dir():
        return "dir"
    if not path.exists():
        raise UserError(f"corpus path {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in TEXT_SUFFIXES:
        return "text"
    raise UserError(f"cannot tell the format of {str(path)!r} from its extension; use a folder, "
                    f"a {'/'.join(TEXT_SUFFIXES)} file or a {'/'.join(JSONL_SUFFIXES)} file, or "
                    f"set format to 'dir', 'text' or 'jsonl'")


def load_passages(path: str | Path, *, format: CorpusFormat = "auto",
                  fields: Fields = DEFAULT_FIELDS, split: SplitMode = "paragraph") -> list[Passage]:
    """Read a corpus from disk in any supported format (see the module docstring)."""
    source = Path(path)
    if not source.exists():
        raise UserError(f"corpus path {str(source)!r} does not exist")
    kind = detect_format(source) if format == "auto" else format
    if kind == "dir":
        return passages_from_dir(source, split=split)
    if kind == "jsonl":
        return passages_from_jsonl(source, fields)
    if kind == "text":  # pyright: ignore[reportUnnecessaryComparison]
        if not source.is_file():
            raise UserError(f"corpus {str(source)!r} is not a file; use format 'dir' for folders")
        passages = passages_from_files([source], root=source, split=split)
        check_unique(passages, repr(str(source)))
        return passages
    raise UserError(f"unknown corpus format {format!r}; valid: 'auto', 'dir', 'text', 'jsonl'")
