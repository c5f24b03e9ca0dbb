"""Slash commands about runs: ``/usage``, ``/runs``, ``/trace`` and ``/rerun``.

``/runs`` and ``/trace`` read the run store with the trace package's own views
(:mod:`forethought.trace`), so the REPL shows a run exactly as ``forethought trace`` does.
"""

from __future__ import annotations

import asyncio

from rich.table import Table
from rich.text import Text

from forethought.repl.args import CommandError, options, path, take_flag
from forethought.repl.render import status_text
from forethought.repl.shell import Command, Shell
from forethought.runtime.store import RunStore
from forethought.trace import fmt


def _store(shell: Shell) -> RunStore:
    path = shell.session.store_path
    if not path.is_file():
        raise CommandError(f"no run store at {path} yet: ask a question first")
    return RunStore(path)


# -- /usage ---------------------------------------------------------------------------------

async def usage_command(shell: Shell, words: list[str]) -> None:
    if words:
        raise CommandError("/usage takes no arguments")
    runs = shell.session.runs
    total = shell.session.usage
    shell.console.print(Text.assemble(
        ("session: ", "bold"), f"{len(runs)} run{'s' * (len(runs) != 1)} · "
        f"{total.model_calls} model calls · "
        f"{fmt.tokens(total.prompt_tokens, total.completion_tokens)} · "
        f"{fmt.cost(total.cost_usd)}"))
    if not runs:
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("run", "status", "calls", "tokens", "cost", "question"):
        table.add_column(column, no_wrap=column != "question")
    for r in runs:
        question = fmt.one_line(r.question, 50) + (f" (re-run of {r.rerun_of})"
                                                   if r.rerun_of else "")
        table.add_row(r.run_id, status_text(r.status), str(r.model_calls),
                      fmt.tokens(r.prompt_tokens, r.completion_tokens), fmt.cost(r.cost_usd),
                      Text(question))
    shell.console.print(table)


# -- /runs ----------------------------------------------------------------------------------

async def runs_command(shell: Shell, words: list[str]) -> None:
    from forethought.trace.commands import runs_table

    limit = 10
    if words:
        if len(words) > 1 or not words[0].isdigit() or int(words[0]) < 1:
            raise CommandError(f"expected a number of runs to show, got {' '.join(words)!r}")
        limit = int(words[0])
    with _store(shell) as db:
        records, total = db.runs(limit), db.count_runs()
    shell.console.print(runs_table(records))
    shell.console.print(Text(f"{len(records)} of {total} runs in {shell.session.store_path}",
                             style="dim"))


# -- /trace ---------------------------------------------------------------------------------

async def trace_command(shell: Shell, words: list[str]) -> None:
    from forethought.trace.model import build_trace
    from forethought.trace.tree import print_call, print_trace

    full, words = take_flag(words, "--full", has_value=False)
    call, words = take_flag(words, "--call")
    html, words = take_flag(words, "--html")
    if len(words) > 1:
        raise CommandError(f"one run at a time, got {' '.join(words)!r}")
    run = words[0] if words else shell.session.last_run_id
    if run is None:
        raise CommandError("no run in this session yet: name one (`/runs` lists them)")
    if call is not None and not (isinstance(call, str) and call.isdigit()):
        raise CommandError(f"--call takes a call number, got {call!r}")
    with _store(shell) as db:
        run_id = db.resolve_run_id(run)
        trace = build_trace(run_id, db.events(run_id, content=True), db.get_run(run_id))
    if isinstance(html, str):
        from forethought.trace.html import write_page

        written = await asyncio.to_thread(write_page, trace, path(html))
        size = (await asyncio.to_thread(written.stat)).st_size
        shell.console.print(Text(f"wrote {written} ({size:,} bytes)"))
    elif isinstance(call, str):
        try:
            print_call(trace, int(call), shell.console)
        except KeyError as exc:
            raise CommandError(str(exc.args[0])) from None
    else:
        print_trace(trace, shell.console, full=bool(full))


def _trace_names(shell: Shell, words: list[str]) -> list[str]:
    if words and words[-1] in ("--html", "--call"):
        return []
    ids = [r.run_id for r in reversed(shell.session.runs)]
    return ([*ids, "last"] if not words else []) + ["--full", "--call", "--html"]


# -- /rerun ---------------------------------------------------------------------------------

async def rerun_command(shell: Shell, words: list[str]) -> None:
    session = shell.session
    last = session.conversation.last_result
    if last is None:
        raise CommandError("no run of this conversation to re-run yet: ask a question first "
                           "(a run's graph is kept in memory, for the runs of this session)")
    strategy, words = take_flag(words, "--strategy")
    if not words:
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("node", no_wrap=True)
        table.add_column("re-running it")
        for target in session.agent.rerun_targets(last):
            table.add_row(Text(target.node), Text(target.description))
        shell.console.print(Text(f"nodes of run {last.run_id}:", style="bold"))
        shell.console.print(table)
        return
    node, given = words[0], options(words[1:])
    if given and strategy is None:
        raise CommandError("options after the node belong to --strategy NAME")
    spec = None if not isinstance(strategy, str) else (
        {"kind": strategy, **given} if given else strategy)
    result = await shell.watch(f"re-run of {node}", session.conversation.arerun(
        node, strategy=spec))
    if result is not None:
        session.mark_rerun(result.run_id, last.run_id)


def _rerun_names(shell: Shell, words: list[str]) -> list[str]:
    from forethought.exceptions import UserError
    from forethought.search.base import strategy_names

    if words and words[-1] == "--strategy":
        return strategy_names()
    last = shell.session.conversation.last_result
    if words or last is None:
        return ["--strategy"] if words and "--strategy" not in words else []
    try:
        return [t.node for t in shell.session.agent.rerun_targets(last)]
    except UserError:
        return []


COMMANDS = [
    Command(name="usage", args="", summary="what this session's runs spent (cancelled ones "
            "included)", handler=usage_command),
    Command(name="runs", args="[N]", summary="the latest runs in the run store",
            handler=runs_command),
    Command(name="trace", args="[RUN] [--full] [--call N] [--html FILE]",
            summary="a run as a tree (default: the last run), one call whole, or an HTML page",
            handler=trace_command, names=_trace_names),
    Command(name="rerun", args="[NODE [--strategy NAME [key=value ...]]]",
            summary="re-run one node of the last run, keeping the rest (no NODE: list them)",
            handler=rerun_command, names=_rerun_names,
            details="The search planner's node is the whole search; LLMCompiler's are its "
                    "tasks (run again with what depends on them, then the join) and `join` "
                    "(decide again over the same results). --strategy makes that decision "
                    "with a search strategy; the re-run replaces the last answer in the "
                    "conversation."),
]
