"""Parse LLMCompiler-style plans line by line as they stream in.

A plan is numbered tool calls, each on its own line, whose arguments may reference earlier
results with ``$n``, ending with ``join()``::

    Thought: two independent sums, then their product.
    1. calculator(expression="3 + 4")
    2. calculator(expression="5 + 6")
    3. calculator(expression="$1 * $2")
    4. join()

Models decorate plans with markdown, so a task line may come as ``**1.** calculator(...)``,
``1) ...``, ``### 1. ...``, ``- 1. ...``, ``Task 1: ...`` or ``1. Add them: calculator(...)``,
with bold, italics or backticks around the call: the decoration is removed before the line is
read. Lines that are not tasks (thoughts, blank lines) are ignored. A line that looks like a
task (numbered, or a bare ``tool(...)`` call) but cannot be read is never dropped: it becomes
a :class:`PlanLineError` naming the line, which the planner reports so the plan can be redone.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from forethought import _pyast
from forethought.runtime.graph import Ref, Template

_DECORATION = re.compile(r"^(?:\s*(?:>|[-*+\u2022]\s|#{1,6}\s))*\s*")
"""Block quotes, bullets and heading marks before a line's text."""
_NUMBER = re.compile(
    r"^(?P<open>[*_`]*)\s*(?P<word>(?:task|step)\s*)?(?P<bracket>[(\[#])?(?P<n>\d{1,6})"
    r"(?P<close>[)\]])?(?P<emph>[*_`]*)\s*(?P<sep>[.:)](?!\d)|[-\u2013\u2014](?=\s))?"
    r"(?P<emph2>[*_`]*)"
    r"\s*(?P<body>.*?)\s*$", re.IGNORECASE)
_NAME = re.compile(r"^([*`]*)([A-Za-z_][\w.-]*)\1\s*\(")
_DESCRIBED = re.compile(r"^[^()\"'`=]{1,120}?(?::|\s[-\u2013\u2014])\s+(?=[*`]*[A-Za-z_][\w.-]*"
                        r"[*`]*\s*\()")
"""``Add the two numbers: `` before a call: a description the model put first."""
_TRAILER = re.compile(r"^\s*(?:#|//|--|->|\u2192|[-\u2013\u2014]\s|\()")
"""What may follow a call on its line: a comment, a dash and a note, a parenthesis."""
_REF = re.compile(r"\$\{?(\d+)\}?")


@dataclass(kw_only=True, frozen=True)
class PlannedTask:
    """One parsed line of a plan."""

    index: int
    tool: str
    args: dict[str, Any] = field(default_factory=dict[str, Any])
    positional: tuple[Any, ...] = ()
    """Positional arguments, mapped to parameter names by the planner."""
    raw: str = ""

    @property
    def is_join(self) -> bool:
        return self.tool == "join"


@dataclass(kw_only=True, frozen=True)
class PlanLineError:
    """A numbered line that could not be parsed."""

    index: int | None
    raw: str
    message: str


def _to_value(node: ast.expr) -> Any:
    """A literal argument, with ``__ref_n__`` names and ``$n`` inside strings made references."""
    if isinstance(node, ast.Name):
        m = re.fullmatch(r"__ref_(\d+)__", node.id)
        if m:
            return Ref(m.group(1))
        if node.id in ("true", "false", "null", "True", "False", "None"):
            return {"true": True, "True": True, "false": False, "False": False}.get(node.id)
        raise ValueError(f"bare name {node.id!r} is not a value; quote strings")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return _template(node.value)
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_to_value(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        out: dict[str, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if not isinstance(k, ast.Constant) or not isinstance(k.value, str):
                raise ValueError("dictionary keys must be strings")
            out[k.value] = _to_value(v)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
            and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, int | float):
        return -node.operand.value
    raise ValueError(f"argument {ast.unparse(node)!r} is not a literal value or $n reference")


def _template(text: str) -> str | Ref | Template:
    parts: list[str | Ref] = []
    pos = 0
    for m in _REF.finditer(text):
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        parts.append(Ref(m.group(1)))
        pos = m.end()
    if not parts:
        return text
    if pos < len(text):
        parts.append(text[pos:])
    if len(parts) == 1 and isinstance(parts[0], Ref):
        return parts[0]
    return Template(tuple(parts))


def _mask_refs(argtext: str) -> str:
    """Replace ``$n`` outside string literals with identifiers Python can parse."""
    out: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(argtext):
        ch = argtext[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(argtext):
                out.append(argtext[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            out.append(ch)
        elif ch == "$":
            m = _REF.match(argtext, i)
            if not m:
                raise ValueError(f"'$' at column {i + 1} is not followed by a task number")
            out.append(f"__ref_{m.group(1)}__")
            i = m.end() - 1
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _numbered(text: str) -> tuple[int, str] | None:
    """The task number and the rest of a line that starts with one (however decorated)."""
    m = _NUMBER.match(text)
    if m is None:
        return None
    bracketed = m["bracket"] == "#" or (m["bracket"] is not None and m["close"] is not None)
    closed = m["bracket"] is None and m["close"] == ")"  # "1) tool(...)"
    emphasised = bool(m["open"]) and bool(m["emph"])
    if not (m["sep"] or closed or bracketed or emphasised or m["word"]):
        return None  # "2 apples": a number, not a task number
    return int(m["n"]), m["body"]


def _unwrap(body: str) -> str:
    """``body`` without emphasis or code marks around it or around the tool's name."""
    text = body.strip()
    for mark in ("```", "**", "__", "`", "*", "_"):
        while len(text) > 2 * len(mark) and text.startswith(mark) and text.endswith(mark):
            text = text[len(mark):-len(mark)].strip()
    m = _NAME.match(text)
    if m is not None and m.group(1):
        text = m.group(2) + "(" + text[m.end():]
    return text.lstrip("*`").rstrip("*_`").strip()


def _split_call(text: str) -> tuple[str, str, str] | None:
    """``(name, arguments, rest)`` of a call at the start of ``text``: the arguments end at
    the parenthesis that closes the call (quotes and nesting respected).
    """
    m = re.match(r"^([A-Za-z_][\w.-]*)\s*\(", text)
    if m is None:
        return None
    depth, quote, i = 1, "", m.end()
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return m.group(1), text[m.end():i], text[i + 1:]
        i += 1
    return None


def _call(body: str) -> tuple[str, str] | str:
    """``(tool, arguments)`` of a task's text, or why it is not a call."""
    text = _unwrap(body)
    if _split_call(text) is None:
        described = _DESCRIBED.match(text)
        if described is not None:
            text = _unwrap(text[described.end():])
    parts = _split_call(text)
    if parts is None:
        return f"expected `tool(arguments)`, got {body!r}"
    name, args, rest = parts
    rest = rest.strip(" *_`").lstrip(".;,").strip(" *_`")
    if rest and not _TRAILER.match(rest):
        return f"unexpected text {rest!r} after the call to {name}"
    return name, args


def numbered_heading(line: str) -> int | None:
    """The number of a line that is only a number (``### Step 2``, ``**2.**``), else None."""
    numbered = _numbered(_DECORATION.sub("", line, count=1).strip())
    return numbered[0] if numbered is not None and not numbered[1].strip(" *_`") else None


def _looks_like_call(text: str) -> bool:
    parts = _split_call(_unwrap(text))
    return parts is not None and not parts[2].strip(" .;,*_`")


def parse_task_line(line: str) -> PlannedTask | PlanLineError | None:
    """Parse one line: a task, an error for a line that looks like a task but cannot be read,
    or None for a line that is not a task (a thought, a blank line).
    """
    text = _DECORATION.sub("", line, count=1).strip()
    numbered = _numbered(text)
    if numbered is None:
        if not _looks_like_call(text):
            return None
        call = _call(text)
        if isinstance(call, tuple) and call[0] == "join" and not call[1].strip():
            return PlannedTask(index=0, tool="join", raw=line.strip())
        return PlanLineError(index=None, raw=line.strip(),
                             message=f"the task {text!r} has no number; write each task as "
                                     f"`N. tool(arguments)`")
    index, body = numbered
    if not body.strip(" *_`"):
        return None  # a heading ("### Step 1"): the task, if any, follows on the next line
    call = _call(body)
    if isinstance(call, str):
        return PlanLineError(index=index, raw=line.strip(), message=f"task {index}: {call}")
    name, argtext = call
    try:
        tree = _pyast.parse_expression(f"f({_mask_refs(argtext)})")
        assert isinstance(tree.body, ast.Call)
        positional = tuple(_to_value(a) for a in tree.body.args)
        kwargs: dict[str, Any] = {}
        for kw in tree.body.keywords:
            if kw.arg is None:
                raise ValueError("**kwargs are not allowed")
            kwargs[kw.arg] = _to_value(kw.value)
    except (SyntaxError, ValueError) as exc:
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        return PlanLineError(index=index, raw=line.strip(),
                             message=f"task {index}: cannot parse the arguments of {name}: "
                                     f"{message}")
    return PlannedTask(index=index, tool=name, args=kwargs, positional=positional,
                       raw=line.strip())


class StreamingPlanParser:
    """Feed text chunks; collect each complete line's task as soon as its newline arrives."""

    def __init__(self) -> None:
        self._buffer = ""
        self.tasks: list[PlannedTask] = []
        self.errors: list[PlanLineError] = []
        self.joined = False
        self._heading: int | None = None
        """The number of a heading line (``### Step 2``) awaiting its task on the next line."""

    def feed(self, chunk: str) -> list[PlannedTask | PlanLineError]:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split("\n")
        return self._take(lines)

    def finish(self) -> list[PlannedTask | PlanLineError]:
        rest, self._buffer = self._buffer, ""
        return self._take([rest])

    def _take(self, lines: Sequence[str]) -> list[PlannedTask | PlanLineError]:
        out: list[PlannedTask | PlanLineError] = []
        for line in lines:
            if self.joined:
                break  # anything after join() is not part of the plan
            item = parse_task_line(line)
            if item is None:
                if line.strip():
                    self._heading = numbered_heading(line)
                continue
            heading, self._heading = self._heading, None
            if heading is not None and isinstance(item, PlanLineError) and item.index is None:
                numbered = parse_task_line(f"{heading}. {_DECORATION.sub('', line, count=1)}")
                item = numbered if numbered is not None else item
            if isinstance(item, PlannedTask):
                self.tasks.append(item)
                self.joined = item.is_join
            else:
                self.errors.append(item)
            out.append(item)
        return out
