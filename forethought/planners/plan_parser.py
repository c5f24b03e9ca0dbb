"""Parse LLMCompiler-style plans line by line as they stream in.

A plan is numbered tool calls, each on its own line, whose arguments may reference earlier
results with ``$n``, ending with ``join()``::

    Thought: two independent sums, then their product.
    1. calculator(expression="3 + 4")
    2. calculator(expression="5 + 6")
    3. calculator(expression="$1 * $2")
    4. join()

Lines that are not numbered tasks (thoughts, blank lines) are ignored.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from forethought.runtime.graph import Ref, Template

_TASK = re.compile(r"^\s*(?:Task\s*)?(\d+)\s*[.):]\s*(.*?)\s*$", re.IGNORECASE)
_CALL = re.compile(r"^([A-Za-z_][\w.-]*)\s*\((.*)\)\s*[.;,]?$", re.DOTALL)
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


def parse_task_line(line: str) -> PlannedTask | PlanLineError | None:
    """Parse one line: a task, an error for a malformed numbered line, or None to ignore."""
    m = _TASK.match(line)
    if not m:
        return None
    index, body = int(m.group(1)), m.group(2)
    call = _CALL.match(body)
    if not call:
        return PlanLineError(index=index, raw=line.strip(),
                             message=f"task {index}: expected `tool(arguments)`, got {body!r}")
    name, argtext = call.group(1), call.group(2)
    try:
        tree = ast.parse(f"f({_mask_refs(argtext)})", mode="eval")
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
                continue
            if isinstance(item, PlannedTask):
                self.tasks.append(item)
                self.joined = item.is_join
            else:
                self.errors.append(item)
            out.append(item)
        return out
