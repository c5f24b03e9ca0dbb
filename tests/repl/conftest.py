"""Driving the REPL through prompt_toolkit's pipe input: lines are typed (with Enter) into a
pipe, the REPL runs until Ctrl-D, and what rich printed is read back as plain text."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from forethought.recipes.revise import settings_recipe
from forethought.repl.app import Repl
from forethought.repl.main import build_repl
from forethought.repl.session import DEFAULT_SETTINGS

CTRL_D = "\x04"


class Driver:
    """A REPL on a pipe, with the text it prints."""

    def __init__(self, repl: Repl, pipe: PipeInput, out: io.StringIO) -> None:
        self.repl = repl
        self.pipe = pipe
        self.out = out

    @property
    def session(self) -> Any:
        return self.repl.session

    def type(self, *lines: str) -> None:
        for line in lines:
            self.pipe.send_text(line + "\r")

    async def run(self, *lines: str) -> str:
        """Type ``lines``, then Ctrl-D; run the REPL to its end; what it printed."""
        start = len(self.out.getvalue())
        self.type(*lines)
        self.pipe.send_text(CTRL_D)
        await self.repl.run()
        return self.out.getvalue()[start:]


@contextmanager
def driving(store: Path, settings: dict[str, Any] | None = None) -> Iterator[Driver]:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False, color_system=None,
                      highlight=False, soft_wrap=True)
    with create_pipe_input() as pipe:
        repl = build_repl(settings_recipe(settings or DEFAULT_SETTINGS), store=store,
                          console=console, input=pipe, output=DummyOutput(),
                          history=InMemoryHistory())
        yield Driver(repl, pipe, out)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "runs.sqlite"


@pytest.fixture
def driver(store: Path) -> Iterator[Driver]:
    with driving(store) as d:
        yield d
