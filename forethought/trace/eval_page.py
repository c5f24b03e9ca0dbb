"""The page of one evaluation (``forethought trace --eval EVAL_ID --html FILE``): a row per
instance, each linking to its run's own trace page.

The evaluation tables belong to ``forethought eval``; this module reads them only through the
small :class:`EvalReader` protocol below. The ``eval`` package provides the reader in
``forethought.eval.trace_reader``, which installs it with :func:`set_eval_reader_factory` when
it is imported (the seam is deliberately one function, so either side can change its tables
without touching the other).
"""

from __future__ import annotations

import contextlib
import html
import importlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from forethought.exceptions import UserError
from forethought.runtime.store import RunStore
from forethought.trace import fmt
from forethought.trace.html import asset, page, write_page
from forethought.trace.model import build_trace


@dataclass(kw_only=True, frozen=True)
class EvalSummary:
    """One evaluation, as the page's header shows it."""

    id: str
    status: str
    """``running``, ``finished``, ``interrupted``... as the eval tables say."""
    recipe: str | None = None
    created: float | None = None
    finished: float | None = None
    meta: dict[str, Any] = field(default_factory=dict[str, Any])
    """Anything else worth showing (model, strategies, dataset, metric)."""


@dataclass(kw_only=True, frozen=True)
class EvalInstance:
    """One instance's result, a row of the page."""

    instance_id: str
    status: str
    """The run's status (``ok``, ``failed``, ``budget_exhausted``, ``cancelled``) or
    ``pending`` for an instance not run yet."""
    correct: bool | None = None
    answer: str | None = None
    reference: str | None = None
    run_id: str | None = None
    strategy: str | None = None
    usage: dict[str, Any] = field(default_factory=dict[str, Any])
    """``prompt_tokens``, ``completion_tokens``, ``cost_usd``, ``model_calls`` (any may be
    missing)."""
    duration_s: float | None = None
    error: str | None = None


class EvalReader(Protocol):
    """What the page needs of the evaluation tables."""

    def get_eval(self, eval_id: str) -> EvalSummary:
        """The evaluation; raises :class:`UserError` naming an unknown id."""
        ...

    def eval_instances(self, eval_id: str) -> Iterable[EvalInstance]:
        """Its instances, in dataset order."""
        ...


EvalReaderFactory = Callable[[RunStore], EvalReader]
_factory: EvalReaderFactory | None = None
EVAL_PACKAGE = "forethought.eval.trace_reader"
"""Imported (when present) before asking for a reader, so that it can install its factory."""


def set_eval_reader_factory(factory: EvalReaderFactory | None) -> None:
    """Install how a run store's evaluations are read (``None`` removes it)."""
    global _factory
    _factory = factory


def open_eval_reader(store: RunStore) -> EvalReader:
    """The reader of ``store``'s evaluations; :class:`UserError` when this build has none."""
    if _factory is None:
        with contextlib.suppress(ImportError):  # a build without the eval package
            importlib.import_module(EVAL_PACKAGE)
    if _factory is None:
        raise UserError("this build of forethought cannot read evaluations: no reader for the "
                        "eval tables is installed (`forethought eval` provides it)")
    return _factory(store)


def _row(item: EvalInstance, href: str | None) -> str:
    usage = item.usage
    tokens = f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)}"
    mark = {True: "✓", False: "✗", None: "–"}[item.correct]
    verdict = {True: "correct", False: "wrong", None: "unscored"}[item.correct]
    link = (f'<a class="run" href="{html.escape(href)}">{html.escape(item.run_id or "")}</a>'
            if href else html.escape(item.run_id or "-"))
    cells = [
        f'<td>{html.escape(item.instance_id)}</td>',
        f'<td><span class="st {html.escape(item.status)}">{html.escape(item.status)}</span></td>',
        f'<td class="{verdict}">{mark}</td>',
        f'<td class="clip">{html.escape(fmt.one_line(item.answer, 120))}</td>',
        f'<td class="clip">{html.escape(fmt.one_line(item.reference, 120))}</td>',
        f'<td>{html.escape(item.strategy or "-")}</td>',
        f'<td class="num">{tokens}</td>',
        f'<td class="num">{html.escape(fmt.cost(float(usage.get("cost_usd", 0.0))))}</td>',
        f'<td class="num">{html.escape(fmt.duration(item.duration_s))}</td>',
        f"<td>{link}</td>",
        f'<td class="clip">{html.escape(fmt.one_line(item.error, 160))}</td>',
    ]
    return (f'<tr data-instance="{html.escape(item.instance_id)}" data-status='
            f'"{html.escape(item.status)}" data-verdict="{verdict}">{"".join(cells)}</tr>')


def render_eval_page(summary: EvalSummary, instances: list[EvalInstance],
                     href: Callable[[EvalInstance], str | None]) -> str:
    """The page: a header with the totals and a row per instance (``href`` gives the link to
    an instance's run page, or ``None`` when there is none).
    """
    scored = [i for i in instances if i.correct is not None]
    correct = sum(1 for i in scored if i.correct)
    cost = sum(float(i.usage.get("cost_usd", 0.0)) for i in instances)
    tokens = sum(int(i.usage.get("prompt_tokens", 0)) + int(i.usage.get("completion_tokens", 0))
                 for i in instances)
    failed = sum(1 for i in instances if i.status not in ("ok", "pending"))
    accuracy = f"{correct / len(scored):.1%}" if scored else "-"
    facts = [("status", summary.status), ("recipe", summary.recipe or "-"),
             ("created", fmt.when(summary.created)), ("instances", str(len(instances))),
             ("accuracy", f"{accuracy} ({correct}/{len(scored)} scored)"),
             ("failed", str(failed)), ("tokens", str(tokens)), ("cost", fmt.cost(cost))]
    facts += [(str(k), str(v)) for k, v in summary.meta.items()]
    kv = "".join(f'<span class="kv">{html.escape(k)} <b>{html.escape(v)}</b></span>'
                 for k, v in facts)
    head = ("<tr><th>instance</th><th>status</th><th>correct</th><th>answer</th>"
            "<th>reference</th><th>strategy</th><th>tokens</th><th>cost</th><th>duration</th>"
            "<th>run</th><th>error</th></tr>")
    rows = "".join(_row(i, href(i)) for i in instances)
    body = (f'<header><h1>evaluation {html.escape(summary.id)}</h1><div>{kv}</div></header>\n'
            '<nav id="filters"><label>show <select id="filter"><option value="all">all'
            '</option><option value="correct">correct</option><option value="wrong">wrong'
            '</option><option value="failed">failed runs</option></select></label> '
            '<span id="shown"></span></nav>\n'
            f'<main><div class="scroll"><table id="instances"><thead>{head}</thead><tbody>'
            f'{rows}</tbody></table></div></main>')
    data = {"eval": asdict(summary), "instances": [asdict(i) for i in instances]}
    return page(f"forethought evaluation {summary.id}", body, data,
                css=asset("trace.css") + asset("eval.css"), js=asset("eval.js"))


def write_eval_pages(reader: EvalReader, store: RunStore, eval_id: str, path: Path, *,
                     runs: bool = True) -> tuple[Path, list[Path]]:
    """Write the evaluation's page to ``path`` and, with ``runs``, each instance's run page
    into the folder ``<path stem>_runs`` beside it (linked relatively, so the set can be
    moved together). Returns the page and the run pages written.
    """
    summary = reader.get_eval(eval_id)
    instances = list(reader.eval_instances(eval_id))
    folder = path.with_name(f"{path.stem}_runs")
    written: dict[str, Path] = {}
    if runs:
        for item in instances:
            if item.run_id is None or item.run_id in written:
                continue
            try:
                record = store.get_run(item.run_id)
            except KeyError:
                continue  # an instance whose run is not in this store: a row without a link
            trace = build_trace(item.run_id, store.events(item.run_id, content=True), record)
            written[item.run_id] = write_page(trace, folder / f"{item.run_id}.html")

    def href(item: EvalInstance) -> str | None:
        if item.run_id is None or item.run_id not in written:
            return None
        return f"{folder.name}/{item.run_id}.html"

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_eval_page(summary, instances, href), encoding="utf-8")
    return path, list(written.values())
