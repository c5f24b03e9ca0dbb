"""Parsing the action of a ReAct step: ``Action: tool(args)`` or ``Action: Finish(answer)``.

Accepted forms, so that models trained on different conventions all work::

    Action: calculator(expression="3 + 4")          keyword arguments (Python or JSON literals)
    Action: calculator("3 + 4")                     positional, in the tool's parameter order
    Action: calculator({"expression": "3 + 4"})     one JSON object of arguments
    Action: search[Ada Lovelace]                    the ReAct paper's form: the text is the
                                                    tool's first parameter
    Action: Finish(42)   /   Action: Finish[42]     the final answer
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from forethought import _pyast
from forethought.runtime.context import ToolsLike

_ACTION = re.compile(r"^[ \t]*Action[ \t]*\d*[ \t]*:[ \t]*", re.IGNORECASE | re.MULTILINE)
_CALL = re.compile(r"^([A-Za-z_][\w.-]*)\s*(?:\((.*)\)|\[(.*)\])\s*[.;]?\s*$", re.DOTALL)
_FINISH = re.compile(r"^finish\s*(?:\((.*)\)|\[(.*)\]|:\s*(.*))\s*[.;]?\s*$",
                     re.IGNORECASE | re.DOTALL)
_JSON_NAMES = {"true": True, "false": False, "null": None}


@dataclass(kw_only=True, frozen=True)
class Finish:
    answer: str


@dataclass(kw_only=True, frozen=True)
class ToolAction:
    tool: str
    args: dict[str, Any] = field(default_factory=dict[str, Any])
    raw: str = ""


@dataclass(kw_only=True, frozen=True)
class InvalidAction:
    message: str
    """What was wrong, fit to send back to the model as the observation."""


ParsedAction = Finish | ToolAction | InvalidAction

_FORMAT_HINT = "write `Action: tool_name(argument=\"value\")` or `Action: Finish(<answer>)`"


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"{ast.unparse(node)!r} is not a literal value (quote strings)"
                         ) from None


def _call_args(argtext: str) -> tuple[list[Any], dict[str, Any]]:
    tree = _pyast.parse_expression(f"f({argtext})")
    assert isinstance(tree.body, ast.Call)
    positional = [_literal(a) for a in tree.body.args]
    keywords: dict[str, Any] = {}
    for kw in tree.body.keywords:
        if kw.arg is None:
            raise ValueError("**kwargs are not allowed")
        if kw.arg in keywords:
            raise ValueError(f"argument {kw.arg!r} is given twice")
        keywords[kw.arg] = _literal(kw.value)
    return positional, keywords


def _bind(tool: str, params: list[str], positional: list[Any], keywords: dict[str, Any]
          ) -> dict[str, Any]:
    if len(positional) == 1 and isinstance(positional[0], dict) and not keywords:
        return {str(k): v for k, v in positional[0].items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    if len(positional) > len(params):
        raise ValueError(f"{tool} takes {len(params)} argument(s) "
                         f"({', '.join(params) or 'none'}), got {len(positional)}")
    args = dict(zip(params, positional, strict=False))
    for key, value in keywords.items():
        if key in args:
            raise ValueError(f"argument {key!r} is given twice")
        args[key] = value
    return args


def action_text(reply: str) -> str | None:
    """The text after the last ``Action:`` of a reply, or ``None`` if there is none."""
    matches = list(_ACTION.finditer(reply))
    return reply[matches[-1].end():].strip() if matches else None


def parse_action(reply: str, tools: ToolsLike) -> ParsedAction:
    """The action a ReAct reply asks for; problems come back as :class:`InvalidAction`."""
    body = action_text(reply)
    if body is None:
        return InvalidAction(message=f"the reply has no `Action:` line; {_FORMAT_HINT}")
    finish = _FINISH.match(body)
    if finish:
        answer = _unquote(next(g for g in finish.groups() if g is not None))
        if not answer:
            return InvalidAction(message="Finish() needs the answer inside the parentheses")
        return Finish(answer=answer)
    call = _CALL.match(body)
    if not call:
        return InvalidAction(message=f"cannot read the action {body!r}; {_FORMAT_HINT}")
    name, argtext, bracketed = call.group(1), call.group(2), call.group(3)
    if name not in tools:
        valid = ", ".join(repr(n) for n in sorted(tools.names())) or "(no tools)"
        return InvalidAction(message=f"unknown tool {name!r}; available tools: {valid}; or "
                                     f"Finish(<answer>)")
    params = list(tools.get(name).parameters.get("properties", {}))
    if bracketed is not None:
        if not params:
            return InvalidAction(message=f"{name} takes no arguments; write {name}()")
        return ToolAction(tool=name, args={params[0]: _unquote(bracketed)}, raw=body)
    try:
        positional, keywords = _call_args(argtext)
        args = _bind(name, params, positional, keywords)
    except (SyntaxError, ValueError) as exc:
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        return InvalidAction(message=f"cannot read the arguments of {name}: {message}; "
                                     f"{_FORMAT_HINT}")
    return ToolAction(tool=name, args=args, raw=body)
