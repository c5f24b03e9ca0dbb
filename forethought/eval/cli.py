"""``forethought eval``: run a recipe's agent over a dataset, resume, compare, plot.

Only typer is imported at module level; everything else is imported when the command runs, so
``forethought --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from forethought.eval.api import EvalReport
    from forethought.eval.plan import Overrides
    from forethought.eval.runner import Sink

_NEW_EVAL_OPTIONS = {"data": "--data", "question": "--question", "reference": "--reference",
                     "id": "--id-field", "limit": "--limit", "offset": "--offset",
                     "ids": "--ids", "metric": "--metric", "model": "--model",
                     "planner": "--planner"}
"""The options that change what an eval runs (so a resumed eval refuses them)."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def eval_command(
    targets: Annotated[list[str] | None, typer.Argument(
        help="A recipe file; with --resume, an eval id instead; with --compare, eval ids.",
        show_default=False)] = None,
    data: Annotated[Path | None, typer.Option(
        help="Dataset file (JSONL, JSON or CSV) instead of the recipe's.")] = None,
    question: Annotated[str | None, typer.Option(
        help="Field (or '{field}' template) holding the question.")] = None,
    reference: Annotated[str | None, typer.Option(
        help="Field holding the reference answer.")] = None,
    id_field: Annotated[str | None, typer.Option(
        "--id-field", help="Field holding a unique id (default: the line number).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Run at most N instances.")] = None,
    offset: Annotated[int | None, typer.Option(min=0, help="Skip the first N.")] = None,
    ids: Annotated[str | None, typer.Option(
        help="Only these ids (comma-separated).")] = None,
    metric: Annotated[str | None, typer.Option(
        help="Metric name, or a JSON object {\"kind\": ..., options}.")] = None,
    model: Annotated[str | None, typer.Option(help="Override the recipe's model.")] = None,
    planner: Annotated[str | None, typer.Option(
        help="Override the recipe's planner (a planner kind: llmcompiler, aot, react, search, "
             "plangen...).")] = None,
    concurrency: Annotated[int | None, typer.Option(
        min=1, help="Instances at once (default: sized to the machine or cluster).")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="One JSON line per instance, then a summary line (also without a "
        "terminal).")] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Results file (default: evals/EVAL_ID.jsonl).")] = None,
    store: Annotated[Path | None, typer.Option(
        help="Run store file (default: $FORETHOUGHT_HOME/runs.sqlite).")] = None,
    resume: Annotated[bool, typer.Option(
        help="Take up an eval where it stopped: EVAL_ID, or the latest eval of RECIPE.")]
    = False,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="Rerun only the failed instances of an eval.")] = False,
    strict: Annotated[bool, typer.Option(
        help="Stop at the first malformed record instead of skipping it.")] = False,
    backend: Annotated[str, typer.Option(help="'local' (this process) or 'ray'.")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster address (default: start a local Ray).")] = None,
    compare: Annotated[bool, typer.Option(
        help="Print the evals named by EVAL_IDs side by side.")] = False,
    plot: Annotated[Path | None, typer.Option(
        help="With --compare: draw accuracy against cost or calls into this PNG.")] = None,
    x_axis: Annotated[str, typer.Option(
        "--x", help="The plot's x axis: cost, calls or tokens.")] = "cost",
) -> None:
    """Run a recipe's agent over a dataset: live progress, a summary, a results file."""
    from forethought.eval.plan import Overrides
    from forethought.exceptions import ForethoughtError, UserError

    names = list(targets or [])
    try:
        if compare or plot is not None:
            _compare(names, store, plot, x_axis)
            return
        overrides = Overrides(data=data, question=question, reference=reference, id=id_field,
                              limit=limit, offset=offset,
                              ids=[i.strip() for i in ids.split(",") if i.strip()]
                              if ids is not None else None, metric=metric, model=model,
                              planner=planner)
        recipe, eval_id = _target(names, resume or retry_failed, overrides)
        report = _run(recipe=recipe, eval_id=eval_id, overrides=overrides,
                      resume_eval=resume, retry_failed=retry_failed, strict=strict, store=store,
                      backend=backend, concurrency=concurrency, address=address,
                      output=output, as_json=json_output or not sys.stdout.isatty())
    except ForethoughtError as exc:
        raise _fail(str(exc), code=2 if isinstance(exc, UserError) else 1) from None
    errors = report.summary.statuses.get("error", 0)
    if not report.complete or errors:
        raise typer.Exit(1)


def _target(names: list[str], resuming: bool, overrides: Overrides
            ) -> tuple[Path | None, str | None]:
    from forethought.exceptions import UserError

    if len(names) != 1:
        raise UserError(f"name one recipe file (or one eval id with --resume), got "
                        f"{len(names)}: {' '.join(names) or 'none'}")
    name = names[0]
    path = Path(name)
    if path.exists() or not resuming:
        if not path.exists():
            raise UserError(f"recipe {name!r}: no such file")
        return path, None
    given = [flag for o, flag in _NEW_EVAL_OPTIONS.items() if getattr(overrides, o) is not None]
    if given:
        raise UserError(f"{given[0]} changes what an eval runs; a resumed eval runs what it "
                        f"started with")
    return None, name


def _sinks(as_json: bool) -> list[Sink]:
    from forethought.eval.progress import JsonLines, LiveProgress

    return [JsonLines()] if as_json else [LiveProgress()]


def _run(*, recipe: Path | None, eval_id: str | None, overrides: Overrides,
         resume_eval: bool, retry_failed: bool, strict: bool, store: Path | None,
         backend: str, concurrency: int | None, address: str | None, output: Path | None,
         as_json: bool) -> EvalReport:
    from forethought.eval.api import arun_session, make_backend, open_session
    from forethought.eval.store import EvalStore

    with EvalStore(store) as eval_store:
        session = open_session(eval_store, recipe=recipe, eval_id=eval_id,
                               overrides=overrides, resume_eval=resume_eval,
                               retry_failed=retry_failed, strict=strict)
        runner = make_backend(backend, concurrency=concurrency or session.spec.concurrency,
                              address=address, store=eval_store.path)
        try:
            report = asyncio.run(arun_session(session, runner, sinks=_sinks(as_json),
                                              output=output))
        except KeyboardInterrupt:
            done = len(eval_store.statuses(session.eval_id))
            raise _fail(f"interrupted: {done} of {session.record.total} instances of "
                        f"{session.eval_id} are kept; resume with `forethought eval --resume "
                        f"{session.eval_id}`", code=130) from None
    _print_report(report, as_json)
    return report


def _print_report(report: EvalReport, as_json: bool) -> None:
    outcome = report.outcome
    left = report.total - len(report.results)
    if as_json:
        typer.echo(json.dumps({"summary": report.summary.to_dict(), "eval_id": report.eval_id,
                               "total": report.total, "done": len(report.results),
                               "not_run": left, "budget_stop": outcome.budget_stop,
                               "results": str(report.results_path)}))
        return
    from rich.console import Console

    from forethought.eval.report import summary_renderable

    console = Console()
    console.print(summary_renderable(report.summary, eval_id=report.eval_id,
                                     total=report.total))
    console.print(f"results: {report.results_path} ({len(report.results)} lines)")
    if outcome.budget_stop:
        console.print(f"[yellow]stopped: {outcome.budget_stop}[/]")
    if left:
        console.print(f"{left} instances not run; resume with "
                      f"`forethought eval --resume {report.eval_id}`")


def _compare(names: list[str], store: Path | None, plot: Path | None, x_axis: str) -> None:
    from rich.console import Console

    from forethought.eval.compare import compare_rows, compare_table
    from forethought.eval.store import EvalStore
    from forethought.exceptions import UserError

    if not names:
        raise UserError("--compare needs one or more eval ids")
    with EvalStore(store) as eval_store:
        rows = compare_rows(eval_store, names)
    Console().print(compare_table(rows))
    if plot is not None:
        from forethought.eval.plot import plot_evals

        plot_evals(rows, plot, x_axis=x_axis)
        typer.echo(f"plot: {plot}")
