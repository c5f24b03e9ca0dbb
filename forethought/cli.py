"""The ``forethought`` command line: a thin shell over the SDK.

Heavy modules (litellm above all) are imported inside commands so that ``--help`` and
``--version`` stay fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forethought._version import __version__
from forethought.eval.cli import eval_command
from forethought.mcp_cli import mcp_app
from forethought.trace.commands import runs_app, trace_command

if TYPE_CHECKING:
    from forethought.runtime.events import Event

app = typer.Typer(name="forethought", no_args_is_help=True, add_completion=False,
                  help="Agentic reasoning with tools: plan, search, verify.")
recipe_app = typer.Typer(no_args_is_help=True, help="Inspect and check recipe files.")
app.add_typer(recipe_app, name="recipe")
app.add_typer(mcp_app, name="mcp")
app.add_typer(runs_app, name="runs")
app.command("trace")(trace_command)
app.command("eval")(eval_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"forethought {__version__}")
        raise typer.Exit


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")]
          = False) -> None:
    """Agentic reasoning with tools: plan, search, verify."""


def _fail(exc: Exception) -> typer.Exit:
    from forethought.exceptions import UserError

    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2 if isinstance(exc, UserError) else 1)


def _print_event(event: Event) -> None:
    data = event.to_dict()
    detail = {k: v for k, v in data.items() if k not in ("kind", "run_id", "ts", "node_id")
              and v not in (None, "", (), [], {})}
    node = f" [{event.node_id}]" if event.node_id else ""
    typer.echo(f"· {event.kind}{node} {json.dumps(detail, default=str)[:200]}", err=True)


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.")],
    input_: Annotated[str | None, typer.Option(
        "--input", "-i", help="The question (default: the recipe's `input`).")] = None,
    model: Annotated[str | None, typer.Option(
        help="Override the recipe's model: 'simulated' or any LiteLLM model string.")] = None,
    api_base: Annotated[str | None, typer.Option(
        "--api-base", metavar="URL", help="Base URL of an OpenAI-compatible server (vLLM, "
        "llama.cpp server, Ollama...); overrides the recipe's model.api_base.")] = None,
    api_key_env: Annotated[str | None, typer.Option(
        "--api-key-env", metavar="NAME", help="The environment variable holding the API key; "
        "overrides the recipe's model.api_key_env.")] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Bypass the response cache.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
    = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print every event.")]
    = False,
    store: Annotated[Path | None, typer.Option(
        help="Run store file (default: $FORETHOUGHT_HOME/runs.sqlite).")] = None,
    otel: Annotated[bool, typer.Option(
        "--otel", help="Export OpenTelemetry spans as the OTEL_* variables say (OTLP by "
                       "default; needs the otel extra).")] = False,
    otel_console: Annotated[bool, typer.Option(
        "--otel-console", help="Print OpenTelemetry spans to stderr.")] = False,
) -> None:
    """Run a recipe on one question and print the answer and a usage line."""
    from forethought.exceptions import ForethoughtError, UserError
    from forethought.recipes import build_agent, effective_model, load_recipe

    agent = None
    stop_otel = None
    try:
        # The recipe is checked completely (files, programs, variables) before anything runs.
        spec = load_recipe(recipe)
        question = input_ if input_ is not None else spec.input
        if not question:
            raise UserError(f"{recipe}: no question: pass -i/--input or set `input:` "
                            f"in the recipe")
        _, dropped = effective_model(spec, model=model, api_base=api_base,
                                     api_key_env=api_key_env)
        if dropped:
            typer.echo(f"note: --model {model} does not apply the recipe's model settings "
                       f"{', '.join(dropped)} (the simulator applies only `seed`)", err=True)
        agent = build_agent(spec, model=model, cache=False if no_cache else None,
                            store=store if store is not None else "default",
                            api_base=api_base, api_key_env=api_key_env)
        if verbose:
            agent.subscribers.append(_print_event)
        if otel or otel_console:
            from forethought.trace.otel_setup import start_otel

            stop_otel = start_otel(agent.subscribers, console=otel_console, agent_name=spec.name)
        result = agent.run(question)
    except ForethoughtError as exc:
        raise _fail(exc) from None
    finally:
        if agent is not None:
            agent.close()
        if stop_otel is not None:
            stop_otel()
    if json_output:
        out: dict[str, Any] = {"answer": result.answer, "status": result.status,
                               "partial": result.partial, "verified": result.verified,
                               "score": result.score, "run_id": result.run_id,
                               "error": result.error, "usage": {
                                   "model_calls": result.usage.model_calls,
                                   "prompt_tokens": result.usage.prompt_tokens,
                                   "completion_tokens": result.usage.completion_tokens,
                                   "cost_usd": result.usage.cost_usd},
                               "duration_s": round(result.duration_s, 4)}
        typer.echo(json.dumps(out))
    else:
        typer.echo(result.answer if result.answer is not None else "(no answer)")
        flag = "" if result.status == "ok" else f" [{result.status}" + (
            ", partial" if result.partial else "") + "]"
        if result.verified is not None:
            flag += " [verified]" if result.verified else " [rejected by the verifier]"
        typer.echo(f"usage: {result.usage.summary()}; {result.duration_s:.2f}s wall; "
                   f"run {result.run_id}{flag}", err=False)
    if result.status != "ok":
        if result.error:
            typer.echo(f"note: {result.error}", err=True)
        raise typer.Exit(1)


@recipe_app.command("schema")
def recipe_schema() -> None:
    """Print the recipe JSON Schema (for editor validation)."""
    from forethought.recipes import recipe_json_schema

    typer.echo(json.dumps(recipe_json_schema(), indent=2))


@recipe_app.command("check")
def recipe_check(recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.")]) -> None:
    """Check a recipe file without running it: its YAML, every field, and every file,
    program, environment variable, tool, scorer and strategy it names. Prints one line per
    problem (`file:line: field: message`) and exits 2 if there is any.
    """
    from forethought.recipes import check_recipe, load_recipe

    problems = check_recipe(recipe)
    if problems:
        for problem in problems:
            typer.echo(str(problem))
        raise typer.Exit(2)
    typer.echo(f"{recipe}: ok ({load_recipe(recipe).name})")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="forethought")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
