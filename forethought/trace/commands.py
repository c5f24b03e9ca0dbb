"""``forethought runs list|show|export`` and ``forethought trace``: reading the run store.

Kept light at import (typer only): the store, rich and the trace modules load inside the
commands, so ``forethought --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from forethought.runtime.store import RunRecord, RunStore

runs_app = typer.Typer(no_args_is_help=True,
                       help="List, inspect and export the runs in the run store.")

StoreOption = Annotated[Path | None, typer.Option(
    "--store", help="Run store file (default: $FORETHOUGHT_HOME/runs.sqlite).")]
RunArgument = Annotated[str, typer.Argument(
    help="A run id, a unique prefix of one, or `last`.", show_default=False)]


def _fail(exc: Exception) -> typer.Exit:
    from forethought.exceptions import UserError

    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2 if isinstance(exc, UserError) else 1)


def open_store(path: Path | None) -> RunStore:
    """The run store at ``path`` (or the default one), which must exist: reading never
    creates an empty store.
    """
    from forethought.exceptions import UserError
    from forethought.runtime.store import RunStore, default_store_path

    target = path if path is not None else default_store_path()
    if not target.is_file():
        raise UserError(f"no run store at {target}: runs are recorded there by "
                        "`forethought run` (or pass --store FILE)")
    return RunStore(target)


def _record_dict(record: RunRecord) -> dict[str, Any]:
    return {"id": record.id, "created": record.created, "finished": record.finished,
            "status": record.status, "question": record.question, "answer": record.answer,
            "error": record.error, "usage": record.usage, "meta": record.meta}


@runs_app.command("list")
def runs_list(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(help="Show at most this many runs, newest first.",
                                       min=1)] = 20,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
    = False,
) -> None:
    """The most recent runs: id, time, status, calls, tokens, cost and question."""
    from forethought.exceptions import ForethoughtError

    try:
        with open_store(store) as db:
            records, total = db.runs(limit), db.count_runs()
    except ForethoughtError as exc:
        raise _fail(exc) from None
    if json_output:
        for record in records:
            typer.echo(json.dumps(_record_dict(record), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    from forethought.trace import fmt

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("run", "started", "status", "time", "calls", "tokens", "cost", "question"):
        table.add_column(column, no_wrap=column != "question",
                         justify="right" if column in ("time", "calls", "tokens", "cost")
                         else "left")
    for r in records:
        u = r.usage
        seconds = None if r.finished is None else r.finished - r.created
        table.add_row(r.id, fmt.when(r.created), r.status, fmt.duration(seconds),
                      str(u.get("model_calls", "-")),
                      f"{u.get('prompt_tokens', 0)}+{u.get('completion_tokens', 0)}",
                      fmt.cost(float(u.get("cost_usd", 0.0))), fmt.one_line(r.question, 60))
    console = Console()
    console.print(table)
    console.print(f"{len(records)} of {total} runs", style="dim")


@runs_app.command("show")
def runs_show(
    run: RunArgument,
    store: StoreOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="The run and its calls as JSON.")]
    = False,
) -> None:
    """One run: its question, answer, status, usage, settings and calls."""
    from forethought.exceptions import ForethoughtError
    from forethought.trace.model import build_trace

    try:
        with open_store(store) as db:
            run_id = db.resolve_run_id(run)
            record = db.get_run(run_id)
            trace = build_trace(run_id, db.events(run_id), record)
    except ForethoughtError as exc:
        raise _fail(exc) from None
    if json_output:
        calls = [{"n": c.n, "kind": c.kind, "name": c.name, "node_id": c.node_id,
                  "purpose": c.purpose, "duration_s": c.duration, "usage": c.usage,
                  "error": c.error} for c in trace.calls]
        typer.echo(json.dumps({**_record_dict(record), "nodes": len(trace.nodes),
                               "events": trace.events, "calls": calls}, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.text import Text

    from forethought.trace import fmt
    from forethought.trace.tree import call_label, header

    console = Console()
    console.print(header(trace))
    details = {"started": fmt.when(record.created), "finished": fmt.when(record.finished),
               **{k: fmt.compact_json(v) if not isinstance(v, str) else v
                  for k, v in record.meta.items()},
               "usage": fmt.compact_json(record.usage)}
    for key, value in details.items():
        console.print(Text.assemble((f"{key}: ", "bold"), value))
    for call in trace.calls:
        where = f" · {call.node_id}" if call.node_id is not None else ""
        console.print(Text.assemble("  ", call_label(call), where))
    console.print(Text(f"`forethought trace {run_id}` shows the tree; --call N one call in "
                       "full; --html FILE a page", style="dim"))


@runs_app.command("export")
def runs_export(
    run: RunArgument,
    store: StoreOption = None,
    jsonl: Annotated[bool, typer.Option(
        "--jsonl", help="One JSON object per line: the run, then each event with its "
                        "content.")] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """The run and every event it emitted, with each call's content, as JSON (or JSONL)."""
    from forethought.exceptions import ForethoughtError

    try:
        with open_store(store) as db:
            run_id = db.resolve_run_id(run)
            record = _record_dict(db.get_run(run_id))
            out = sys.stdout if output is None else output.open("w", encoding="utf-8")
            try:
                if jsonl:
                    out.write(json.dumps({"kind": "run", **record}, ensure_ascii=False) + "\n")
                    for event in db.events(run_id, content=True):
                        out.write(json.dumps(event, ensure_ascii=False) + "\n")
                else:
                    json.dump({"run": record, "events": list(db.events(run_id, content=True))},
                              out, ensure_ascii=False)
                    out.write("\n")
            finally:
                if output is not None:
                    out.close()
    except ForethoughtError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        raise _fail(exc) from None


def trace_command(
    run: Annotated[str | None, typer.Argument(
        help="A run id, a unique prefix of one, or `last`.", show_default=False)] = None,
    store: StoreOption = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Show every call's prompt and completion in the tree.")] = False,
    call: Annotated[int | None, typer.Option(
        "--call", help="Show call N (numbered as in the tree) in full.")] = None,
    html_file: Annotated[Path | None, typer.Option(
        "--html", help="Write a self-contained HTML page of the run (or, with --eval, of the "
                       "evaluation) to this file.")] = None,
    eval_id: Annotated[str | None, typer.Option(
        "--eval", help="An evaluation id: with --html, a page with a row per instance, each "
                       "linking to its run's page.")] = None,
) -> None:
    """Show a run as a tree of rounds, nodes and calls, with durations, tokens and cost."""
    from forethought.exceptions import ForethoughtError, UserError

    try:
        if eval_id is not None:
            if run is not None or html_file is None or full or call is not None:
                raise UserError("--eval EVAL_ID takes --html FILE and no run id, --full or "
                                "--call")
            _trace_eval(eval_id, store, html_file)
            return
        if run is None:
            raise UserError("which run? pass a run id (or `last`); `forethought runs list` "
                            "shows them")
        _trace_run(run, store, full=full, call=call, html_file=html_file)
    except ForethoughtError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        raise _fail(exc) from None


def _trace_run(run: str, store: Path | None, *, full: bool, call: int | None,
               html_file: Path | None) -> None:
    from rich.console import Console

    from forethought.exceptions import UserError
    from forethought.trace.model import build_trace
    from forethought.trace.tree import print_call, print_trace

    with open_store(store) as db:
        run_id = db.resolve_run_id(run)
        trace = build_trace(run_id, db.events(run_id, content=True), db.get_run(run_id))
    if html_file is not None:
        from forethought.trace.html import write_page

        write_page(trace, html_file)
        typer.echo(f"wrote {html_file} ({html_file.stat().st_size:,} bytes: {len(trace.nodes)} "
                   f"nodes, {len(trace.calls)} calls)")
        return
    console = Console(highlight=False)
    if call is not None:
        try:
            print_call(trace, call, console)
        except KeyError as exc:
            raise UserError(str(exc.args[0])) from None
        return
    print_trace(trace, console, full=full)


def _trace_eval(eval_id: str, store: Path | None, html_file: Path) -> None:
    from forethought.trace.eval_page import open_eval_reader, write_eval_pages

    with open_store(store) as db:
        page, runs = write_eval_pages(open_eval_reader(db), db, eval_id, html_file)
    typer.echo(f"wrote {page} and {len(runs)} run page{'s' * (len(runs) != 1)} in "
               f"{page.with_name(page.stem + '_runs')}")
