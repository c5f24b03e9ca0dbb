"""The run as a tree in the terminal (``forethought trace RUN_ID``), and one call in full.

Everything that comes from the run (prompts, outputs, tool arguments) is rendered as plain
:class:`rich.text.Text`, never as markup, so a completion that contains ``[bold]`` prints as
written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.text import Text
from rich.tree import Tree

from forethought.trace import fmt
from forethought.trace.model import CallTrace, NodeTrace, RunTrace, Step, note_detail, totals

_STATUS_STYLE = {"ok": "green", "done": "green", "failed": "red", "budget_exhausted": "yellow",
                 "cancelled": "yellow", "skipped": "yellow", "running": "cyan",
                 "pending": "dim"}
_SHORT = 70
"""Characters of a description, output or argument shown without ``--full``."""
_NO_CONTENT = ("no content kept for this call (the store keeps metadata only, or the run was "
               "recorded before content was kept)")


def _status(value: str) -> Text:
    return Text(value, style=_STATUS_STYLE.get(value, "bold"))


def _cost_bits(calls: list[CallTrace]) -> str:
    t = totals(calls)
    bits: list[str] = []
    if t.model_calls:
        bits += [f"{t.model_calls} model call{'s' * (t.model_calls != 1)}",
                 fmt.tokens(t.prompt_tokens, t.completion_tokens), fmt.cost(t.cost_usd)]
    if t.tool_calls:
        bits.append(f"{t.tool_calls} tool call{'s' * (t.tool_calls != 1)}")
    return " · ".join(bits)


def _span(calls: list[CallTrace]) -> float | None:
    ends = [c.end for c in calls if c.end is not None]
    if not calls or not ends:
        return None
    return max(ends) - min(c.start for c in calls)


def header(trace: RunTrace) -> Group:
    """The run's identity, question, answer and totals."""
    title = Text.assemble(("run ", "bold"), (trace.run_id, "bold cyan"), " · ",
                          _status(trace.status), f" · {fmt.duration(trace.duration)}")
    if trace.model:
        title.append(f" · model {trace.model}")
    if trace.planner:
        title.append(f" · planner {trace.planner}")
    lines: list[Text] = [title]
    if trace.question:
        lines.append(Text.assemble(("question: ", "bold"), trace.question))
    lines.append(Text.assemble(("answer: ", "bold"),
                               trace.answer if trace.answer is not None else "(none)"))
    if trace.error:
        lines.append(Text.assemble(("error: ", "bold red"), trace.error))
    summary = _cost_bits(trace.calls) or "no calls"
    lines.append(Text.assemble(("calls: ", "bold"), summary,
                               f" · {len(trace.nodes)} node{'s' * (len(trace.nodes) != 1)}"))
    if trace.calls and not trace.has_content:
        lines.append(Text(f"note: {_NO_CONTENT.replace('for this call ', '')}", style="dim"))
    return Group(*lines)


def call_label(call: CallTrace) -> Text:
    text = Text.assemble((f"#{call.n} ", "bold"), (call.label, "magenta" if call.kind == "model"
                                                     else "blue"))
    if call.kind == "model":
        if call.purpose:
            text.append(f" ({call.purpose})")
        text.append(f" {fmt.duration(call.duration)} · "
                    f"{fmt.tokens(call.prompt_tokens, call.completion_tokens)} · "
                    f"{fmt.cost(call.cost_usd)}")
        if call.cached:
            text.append(" · cached", style="dim")
    else:
        text.append(" " + fmt.one_line(fmt.compact_json(call.arguments or {}), _SHORT),
                    style="dim")
        text.append(f" {fmt.duration(call.duration)}")
        if call.error is None and call.output is not None:
            text.append(" → " + fmt.one_line(call.output, _SHORT))
    if call.end is None:
        text.append(" · unfinished", style="yellow")
    if call.error:
        text.append(" · " + fmt.one_line(call.error, 2 * _SHORT), style="red")
    return text


def _content_lines(call: CallTrace) -> list[Text]:
    """A call's content, whole, as lines for the tree (``--full``) or ``--call N``."""
    lines: list[Text] = []
    if call.kind == "tool":
        lines.append(Text.assemble(("arguments: ", "bold"),
                                   fmt.compact_json(call.arguments or {})))
        if call.result is not None:
            lines.append(Text.assemble(("result: ", "bold"), call.result))
        elif call.output is not None and call.error is None:
            lines.append(Text.assemble(("output (first 500 characters): ", "bold"), call.output))
        return lines
    if call.request is None and call.response is None:
        return [Text(_NO_CONTENT, style="dim")]
    request: dict[str, Any] = call.request or {}
    settings: dict[str, Any] = request.get("settings") or {}
    extras = {k: request[k] for k in ("tools", "tool_choice", "output_schema") if k in request}
    if settings or extras:
        lines.append(Text.assemble(("settings: ", "bold"),
                                   fmt.compact_json({**settings, **extras})))
    for message in request.get("messages", []):
        lines.append(Text.assemble((f"{message.get('role', '?')}: ", "bold cyan"),
                                   str(message.get("content", ""))))
        for tc in message.get("tool_calls", []):
            lines.append(Text(f"  tool call {tc.get('name')}({tc.get('arguments')})",
                              style="cyan"))
    response: dict[str, Any] = call.response or {}
    choices = response.get("choices", [])
    for i, choice in enumerate(choices, 1):
        tag = "completion" if len(choices) == 1 else f"completion {i}/{len(choices)}"
        reason = choice.get("finish_reason")
        label = f"{tag}{f' [{reason}]' if reason else ''}: "
        lines.append(Text.assemble((label, "bold green"), str(choice.get("text", ""))))
        for tc in choice.get("tool_calls", []):
            lines.append(Text(f"  tool call {tc.get('name')}({tc.get('arguments')})",
                              style="green"))
    if call.response is None and call.error is None:
        lines.append(Text("(no reply kept)", style="dim"))
    return lines


def _note_label(note: dict[str, Any]) -> Text:
    detail = note_detail(note)
    if note.get("kind") == "planner":
        body = f"{detail.get('action', '')}: {detail.get('detail', '')}"
    else:
        body = fmt.compact_json(detail)
    return Text(f"· {note.get('kind')} {fmt.one_line(body, 3 * _SHORT)}", style="dim")


def _add_call(branch: Tree, call: CallTrace, full: bool) -> None:
    leaf = branch.add(call_label(call))
    if full:
        for line in _content_lines(call):
            leaf.add(line)


_Item = CallTrace | NodeTrace | dict[str, Any]
"""A call, a node or a note (an event of another kind)."""


def _in_time_order(calls: Sequence[CallTrace], notes: Sequence[dict[str, Any]],
                   nodes: Sequence[NodeTrace] = ()) -> list[_Item]:
    """Calls, notes and nodes of one branch merged by when they happened."""
    items: list[tuple[float, int, _Item]] = []
    items += [(c.start, i, c) for i, c in enumerate(calls)]
    items += [(float(n.get("ts", 0.0)), i, n) for i, n in enumerate(notes)]
    items += [(n.added, i, n) for i, n in enumerate(nodes)]
    items.sort(key=lambda item: (item[0], item[1]))
    return [item[2] for item in items]


def _node_label(node: NodeTrace) -> Text:
    text = Text.assemble(("node ", "bold"), (node.id, "bold"), f" [{node.kind}] ",
                         _status(node.status), f" {fmt.duration(node.duration)}")
    if node.attempts > 1:
        text.append(f" · {node.attempts} attempts")
    if cost := _cost_bits(node.calls):
        text.append(f" · {cost}")
    if node.description:
        text.append(" · " + fmt.one_line(node.description, _SHORT), style="dim")
    if node.status == "done" and node.output:
        text.append(" → " + fmt.one_line(node.output, _SHORT))
    elif node.error:
        text.append(" · " + fmt.one_line(node.error, 2 * _SHORT), style="red")
    return text


def _step_label(step: Step) -> Text:
    calls = step.all_calls()
    if step.kind == "round":
        text = Text.assemble((step.label, "bold yellow"),
                             f" · {len(step.nodes)} node{'s' * (len(step.nodes) != 1)}")
    else:
        text = Text.assemble((step.label, "bold"), " · planner")
    text.append(f" · {fmt.duration(_span(calls))}")
    if cost := _cost_bits(calls):
        text.append(f" · {cost}")
    return text


def build_tree(trace: RunTrace, *, full: bool = False) -> Tree:
    """The run as a tree: steps (planner steps and rounds), nodes, calls and notes."""
    tree = Tree(Text(f"run {trace.run_id}", style="bold"), guide_style="dim")
    for step in trace.steps:
        branch = tree.add(_step_label(step))
        for item in _in_time_order(step.calls, step.notes, step.nodes):
            if isinstance(item, CallTrace):
                _add_call(branch, item, full)
            elif isinstance(item, NodeTrace):
                leaf = branch.add(_node_label(item))
                for sub in _in_time_order(item.calls, item.notes):
                    if isinstance(sub, CallTrace):
                        _add_call(leaf, sub, full)
                    elif isinstance(sub, dict):
                        leaf.add(_note_label(sub))
            else:
                branch.add(_note_label(item))
    return tree


def print_trace(trace: RunTrace, console: Console, *, full: bool = False) -> None:
    console.print(header(trace))
    console.print(build_tree(trace, full=full))


def print_call(trace: RunTrace, n: int, console: Console) -> None:
    """Call number ``n`` with everything the store kept of it (``KeyError`` if none)."""
    call = trace.call(n)
    where = f"node {call.node_id}" if call.node_id in trace.nodes else (
        f"planner step {call.node_id}" if call.node_id is not None else "the run")
    console.print(Text.assemble(call_label(call), f" · in {where}"))
    for line in _content_lines(call):
        console.print(line)
