"""Assembling a REPL: settings from a recipe (or the defaults), the session, the live view,
the prompt with its history under ``$FORETHOUGHT_HOME``, then the loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from prompt_toolkit.history import FileHistory, History
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output
from rich.console import Console
from rich.text import Text

from forethought._paths import forethought_home
from forethought.exceptions import ForethoughtError
from forethought.recipes import Recipe, load_recipe
from forethought.recipes.revise import revise_recipe, settings_recipe
from forethought.repl.app import Repl
from forethought.repl.live_view import LiveView
from forethought.repl.session import DEFAULT_SETTINGS, Session

HISTORY_FILE = "repl_history"


def starting_recipe(recipe: Path | None, model: str | None) -> Recipe:
    """The settings a session starts with: the recipe's, or the defaults; ``model`` replaces
    the model (and its settings).
    """
    spec = load_recipe(recipe) if recipe is not None else settings_recipe(DEFAULT_SETTINGS)
    return spec if model is None else revise_recipe(spec, model=model)


def build_repl(recipe: Recipe, *, store: Path | None = None, console: Console | None = None,
               input: Input | None = None, output: Output | None = None,
               history: History | None = None) -> Repl:
    """A REPL on ``recipe``'s settings (the arguments as :class:`Repl` takes them)."""
    console = console or Console(highlight=False)
    live = LiveView(console)
    session = Session(recipe, store=store, subscribers=[live.on_event])
    return Repl(session, live=live, console=console, input=input, output=output,
                history=history)


def start(*, recipe: Path | None = None, model: str | None = None, store: Path | None = None,
          load: Path | None = None) -> int:
    """Run a REPL on the terminal until it is left; the exit status."""
    console = Console(highlight=False)
    try:
        history = FileHistory(str(forethought_home() / HISTORY_FILE))
        repl = build_repl(starting_recipe(recipe, model), store=store, console=console,
                          history=history)
    except ForethoughtError as exc:
        console.print(Text.assemble(("error: ", "bold red"), str(exc)))
        return 2

    async def go() -> None:
        if load is not None:
            await repl.session.load(load)
        await repl.run()

    try:
        asyncio.run(go())
    except ForethoughtError as exc:  # a session file that cannot be loaded
        console.print(Text.assemble(("error: ", "bold red"), str(exc)))
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
