"""The run as one self-contained HTML page (``forethought trace RUN_ID --html FILE``).

The page needs nothing but itself: the run is embedded as JSON, the CSS and JavaScript are
inline (``assets/``), and a Content-Security-Policy of ``default-src 'none'`` forbids the
browser any request, so a trace can be mailed, archived or opened offline.

The embedded data is compact: times are seconds from the run's start, and every message,
completion and tool result is stored once in a string table (a system prompt sent with 10,000
calls costs its length once).
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from forethought.trace.model import CallTrace, NodeTrace, RunTrace, note_detail

PAGE_VERSION = 1


def asset(name: str) -> str:
    return resources.files("forethought.trace").joinpath("assets", name).read_text("utf-8")


class _Strings:
    """The page's string table: each distinct text once, referred to by its index."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.table: list[str] = []

    def __call__(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.table)
            self.table.append(text)
        return i


def _rel(ts: float | None, t0: float) -> float | None:
    return None if ts is None else round(ts - t0, 6)


def _tool_calls(raw: Any, s: _Strings) -> list[list[Any]] | None:
    if not raw:
        return None
    return [[tc.get("id"), tc.get("name"), s(str(tc.get("arguments", "")))] for tc in raw]


def _request(req: dict[str, Any] | None, s: _Strings) -> dict[str, Any] | None:
    if req is None:
        return None
    messages = [[m.get("role"), s(str(m.get("content", ""))),
                 _tool_calls(m.get("tool_calls"), s), m.get("tool_call_id")]
                for m in req.get("messages", [])]
    out: dict[str, Any] = {"m": messages, "s": req.get("settings") or {}}
    for key, short in (("tools", "tools"), ("tool_choice", "tc"), ("output_schema", "os")):
        if key in req:
            out[short] = req[key]
    return out


def _response(resp: dict[str, Any] | None, s: _Strings) -> dict[str, Any] | None:
    if resp is None:
        return None
    return {"model": resp.get("model"),
            "ch": [[s(str(c.get("text", ""))), c.get("finish_reason"),
                    _tool_calls(c.get("tool_calls"), s)] for c in resp.get("choices", [])]}


def _call(call: CallTrace, t0: float, s: _Strings) -> dict[str, Any]:
    out: dict[str, Any] = {"n": call.n, "k": call.kind, "id": call.call_id, "node": call.node_id,
                           "name": call.name, "t0": _rel(call.start, t0),
                           "t1": _rel(call.end, t0)}
    if call.kind == "model":
        out.update(p=call.purpose, u=[call.prompt_tokens, call.completion_tokens,
                                      round(call.cost_usd, 8)])
        if call.cached:
            out["ca"] = 1
        if (req := _request(call.request, s)) is not None:
            out["req"] = req
        if (resp := _response(call.response, s)) is not None:
            out["resp"] = resp
    else:
        out["args"] = call.arguments or {}
        if call.output is not None:
            out["o"] = call.output
        if call.result is not None:
            out["res"] = s(call.result)
    if call.error is not None:
        out["e"] = call.error
    return out


def _node(node: NodeTrace, t0: float, calls: dict[int, int]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": node.id, "k": node.kind, "deps": list(node.deps),
                           "d": node.description, "r": node.round, "s": node.status,
                           "a": node.attempts, "t0": _rel(node.start, t0),
                           "t1": _rel(node.end, t0), "c": [calls[c.n] for c in node.calls]}
    if node.output is not None:
        out["o"] = node.output
    if node.error:
        out["e"] = node.error
    return out


def page_data(trace: RunTrace) -> dict[str, Any]:
    """The run as the page embeds it (see the module docstring for the compact form)."""
    t0 = trace.start if trace.start is not None else 0.0
    s = _Strings()
    call_index = {c.n: i for i, c in enumerate(trace.calls)}
    node_index = {node_id: i for i, node_id in enumerate(trace.nodes)}
    note_index = {id(n): i for i, n in enumerate(trace.notes)}
    steps = [{"k": step.kind, "l": step.label, "node": step.node_id, "num": step.number,
              "nodes": [node_index[n.id] for n in step.nodes],
              "calls": [call_index[c.n] for c in step.calls],
              "notes": [note_index[id(n)] for n in step.notes]} for step in trace.steps]
    notes = [{"k": n.get("kind"), "node": n.get("node_id"),
              "t": _rel(float(n.get("ts", t0)), t0), "d": note_detail(n)} for n in trace.notes]
    return {
        "v": PAGE_VERSION,
        "run": {"id": trace.run_id, "status": trace.status, "question": trace.question,
                "answer": trace.answer, "error": trace.error, "model": trace.model,
                "planner": trace.planner, "usage": trace.usage, "meta": trace.meta,
                "start": trace.start, "duration": trace.duration,
                "content": trace.has_content, "events": trace.events},
        "steps": steps,
        "nodes": [_node(n, t0, call_index) for n in trace.nodes.values()],
        "calls": [_call(c, t0, s) for c in trace.calls],
        "notes": notes,
        "S": s.table,
    }


def embed_json(data: Any) -> str:
    """``data`` as JSON safe inside a ``<script>`` element: no ``<`` can close it."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data:; base-uri 'none'; form-action 'none'")
"""No request may leave the page: everything it shows is inline."""


def page(title: str, body: str, data: Any, *, css: str, js: str) -> str:
    """A self-contained page: ``body`` HTML, ``data`` embedded as JSON, inline CSS and JS."""
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{css}</style>\n</head>\n<body>\n"
        f"{body}\n<script type=\"application/json\" id=\"trace-data\">{embed_json(data)}"
        f"</script>\n<script>\n{js}</script>\n</body></html>\n")


_BODY = """<header id="summary"></header>
<nav id="tabs"></nav>
<div id="layout"><main>
<section id="view-graph"><div class="scroll"><svg id="dag" class="dag"></svg></div></section>
<section id="view-timeline"><div class="legend"><span><i style="background:var(--model)"></i>model
call</span><span><i style="background:var(--tool)"></i>tool call</span><span><i
style="background:var(--fail)"></i>failed</span></div>
<div class="scroll"><svg id="timeline" class="tl"></svg></div></section>
<section id="view-calls"><div class="scroll"><table id="calls"></table></div></section>
<section id="view-nodes"><div class="scroll"><table id="nodes"></table></div></section>
<section id="view-decisions"><div id="decisions"></div></section>
<section id="view-events"><div class="scroll"><table id="events"></table></div></section>
</main><aside id="detail"><p class="note">Select a node or a call to see it here.</p></aside>
</div><div id="tip"></div>"""


def render_page(trace: RunTrace) -> str:
    """The HTML page of ``trace``."""
    return page(f"forethought trace {trace.run_id}", _BODY, page_data(trace),
                css=asset("trace.css"), js=asset("trace.js"))


def write_page(trace: RunTrace, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(trace), encoding="utf-8")
    return path
