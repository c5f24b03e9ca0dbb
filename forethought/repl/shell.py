"""What slash commands are and what they may use of the REPL that runs them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console

    from forethought.agents.agent import AgentResult
    from forethought.repl.session import Session


class Shell(Protocol):
    """The REPL as its commands see it."""

    console: Console
    session: Session

    async def watch(self, question: str, work: Awaitable[AgentResult[Any]]
                    ) -> AgentResult[Any] | None:
        """Run ``work`` with the live view, Ctrl-C cancelling it; its result (``None`` if it
        was cancelled or failed: that was reported).
        """
        ...

    def show_transcript(self) -> None:
        """Print the session's transcript (after ``/load``)."""
        ...

    def request_exit(self) -> None: ...


def _no_names(shell: Shell, words: list[str]) -> list[str]:
    del shell, words
    return []


@dataclass(frozen=True, kw_only=True)
class Command:
    """A slash command."""

    name: str
    args: str
    """What follows the name in the usage line (``[NAME [key=value ...]]``)."""
    summary: str
    """One line for ``/help``."""
    handler: Callable[[Shell, list[str]], Awaitable[None]]
    """Runs the command with the words after its name; raises :class:`CommandError` (the
    usage is printed) or a :class:`UserError` for a bad value."""
    names: Callable[[Shell, list[str]], list[str]] = field(default=_no_names)
    """Completion: candidates for the next word, given the words before it."""
    details: str = ""
    """More for ``/help NAME``."""

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.args}".rstrip()
