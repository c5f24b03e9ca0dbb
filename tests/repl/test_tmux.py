"""End to end in a real terminal: tmux runs ``forethought repl`` (the simulated model,
offline), send-keys types questions, a completion, commands and Ctrl-C, and capture-pane reads
the screen. The tmux server has a socket of its own (``-L``) and is killed by the test."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (Debian package `tmux`)")

WIDTH, HEIGHT = 120, 45


class Terminal:
    """A tmux server of its own with one window running a command."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=30, check=True)
        return done.stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "repl", *(["-l"] if literal else []), *keys)

    def type(self, text: str) -> None:
        self.keys(text, literal=True)
        self.keys("Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "repl", "-S", "-200")

    def wait_for(self, text: str, timeout: float = 60.0, *, more_than: int = 0) -> str:
        """The screen once ``text`` is on it more than ``more_than`` times (the screen is
        not append-only: blank lines fill in, so positions cannot say what is new).
        """
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if screen.count(text) > more_than:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear; the screen:\n{screen}")
            time.sleep(0.1)

    def after(self, action: str, text: str, timeout: float = 60.0) -> str:
        """Type ``action`` (a line), then wait for one more ``text`` on the screen."""
        seen = self.screen().count(text)
        self.type(action)
        return self.wait_for(text, timeout, more_than=seen)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(f"forethought-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    env = {"FORETHOUGHT_HOME": str(tmp_path / "home"), "TERM": "xterm-256color",
           "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    command = [sys.executable, "-m", "forethought", "repl", "--model",
               "simulated:sleep=true,mean_latency_s=0.6", "--store",
               str(tmp_path / "runs.sqlite")]
    shell = (f"env -i {' '.join(f'{k}={shlex.quote(v)}' for k, v in env.items())} "
             f"{shlex.join(command)}; echo EXITED $?; sleep 60")
    socket_path: Path | None = None
    try:  # new-session inside: a server that started but failed later is killed too
        term.tmux("new-session", "-d", "-s", "repl", "-x", str(WIDTH), "-y", str(HEIGHT),
                  shell)
        socket_path = Path(term.tmux("display-message", "-p", "#{socket_path}").strip())
        yield term
    finally:
        subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True,
                       timeout=30, check=False)
        if socket_path is not None:
            socket_path.unlink(missing_ok=True)  # kill-server leaves the socket file behind


def test_a_session_in_a_real_terminal(terminal: Terminal, tmp_path: Path) -> None:
    terminal.wait_for("Ask a question, or /help")

    # A question: the live view while it runs, then the answer and its usage line.
    terminal.type("What is (17 + 25) * 2?")
    live = terminal.wait_for("running ·")
    assert "model calls" in live
    screen = terminal.wait_for("ok · 2 model calls")
    assert "⚙ #2 calculator(expression=\"17 + 25\") → 42" in screen
    assert "\n84" in screen

    # Completion: "/us" shows the menu, Tab takes "/usage", Enter closes the menu, Enter sends.
    terminal.keys("/us")
    terminal.wait_for("      /usage")
    terminal.keys("Tab")
    terminal.wait_for("› /usage")
    terminal.keys("Enter")
    terminal.keys("Enter")
    terminal.wait_for("session: 1 run")

    # Ctrl-C in the middle of a search cancels it and gives the prompt back.
    terminal.type("/planner search")
    terminal.after("/strategy best_of_n n=6", 'strategy: {"kind": "best_of_n", "n": 6}')
    terminal.after("What is 17 * 23?", "search · step")
    terminal.keys("C-c")
    screen = terminal.wait_for("cancelled · run")
    assert "the conversation is as it was" in " ".join(screen.split())

    # A bad command prints its usage; /exit leaves with status 0.
    terminal.after("/budget calls", "usage: /budget")
    screen = terminal.after("/exit", "EXITED 0")
    assert "Traceback" not in screen
    (tmp_path / "screen.txt").write_text(screen)

    history = (tmp_path / "home" / "repl_history").read_text()
    assert "+What is (17 + 25) * 2?" in history and "+/exit" in history
