"""``forethought repl [RECIPE]``: the command that starts an interactive session.

Light at import (typer only), like the other commands: prompt_toolkit, rich and the SDK load
when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def repl_command(
    recipe: Annotated[Path | None, typer.Argument(
        help="A recipe YAML file to take the settings from (default: the simulated model "
             "planning calculator calls).", show_default=False)] = None,
    model: Annotated[str | None, typer.Option(
        help="Start with this model: 'simulated' or any LiteLLM model string.")] = None,
    store: Annotated[Path | None, typer.Option(
        help="Run store file (default: $FORETHOUGHT_HOME/runs.sqlite).")] = None,
    load: Annotated[Path | None, typer.Option(
        "--load", help="Start from a session saved with /save.")] = None,
) -> None:
    """An interactive session: ask questions (follow-ups see the conversation), watch each
    run live, change model, planner, strategy, tools and budget with slash commands (/help).
    """
    from forethought.repl.main import start

    raise typer.Exit(start(recipe=recipe, model=model, store=store, load=load))
