"""Showing an eval while it runs: a live display on a terminal, JSON lines otherwise.

The live display shows instances done, accuracy so far with its 95 % Wilson interval, tokens,
dollars, model calls, failures, the rate and an ETA; it redraws a few times a second from
counters the runner updates once per instance, so its cost does not grow with the instances.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from forethought.eval.results import InstanceResult, Tally

if TYPE_CHECKING:
    from forethought.eval.resume import Session


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class ProgressView:
    """The live display's content (a rich renderable), computed from the tally at each
    redraw.
    """

    def __init__(self, *, eval_id: str, name: str, total: int, tally: Tally,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.eval_id = eval_id
        self.name = name
        self.total = total
        self.tally = tally
        self.clock = clock
        self.started = clock()
        self.done_before = tally.n
        self.last: InstanceResult | None = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        t = self.tally
        ran = t.n - self.done_before
        elapsed = self.clock() - self.started
        rate = ran / elapsed if elapsed > 0 else 0.0
        left = self.total - t.n
        eta = _duration(left / rate) if rate > 0 else "-:--:--"
        head = Text.assemble((f"eval {self.eval_id}", "bold"), f"  {self.name}")
        if self.done_before:
            head.append(f"  (resumed: {self.done_before} done before)", style="dim")
        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=self.total or 1, completed=t.n, width=40),
                    Text(f"{t.n}/{self.total} ({100 * t.n / (self.total or 1):.0f}%)"),
                    Text(f"{rate:.1f} inst/s", style="dim"), Text(f"ETA {eta}"))
        low, high = t.interval()
        accuracy = Text.assemble(
            ("accuracy ", "dim"), (f"{100 * t.accuracy:.1f}%", "bold green" if t.n else ""),
            (f" (95% CI {100 * low:.1f}-{100 * high:.1f}%)", "dim"))
        usage = t.usage
        stats = Text.assemble(
            accuracy, "  ", ("tokens ", "dim"), f"{usage.total_tokens:,}", "  ", ("$", "dim"),
            f"{usage.cost_usd:.4f}", "  ", ("calls ", "dim"), f"{usage.model_calls:,}", "  ",
            ("failures ", "dim"), (f"{t.failures}", "bold red" if t.failures else ""))
        parts: list[Text | Table] = [head, bar, stats]
        if self.last is not None:
            mark = "✓" if self.last.correct else "✗"
            parts.append(Text(f"last: {mark} {self.last.id} [{self.last.status}] "
                              f"{(self.last.answer or '')[:60]!r}", style="dim"))
        yield Group(*parts)


class LiveProgress:
    """The terminal sink: a live :class:`ProgressView` on stderr."""

    def __init__(self, console: Console | None = None, *, refresh_per_second: float = 4) -> None:
        self.console = console or Console(stderr=True)
        self.refresh_per_second = refresh_per_second
        self.view: ProgressView | None = None
        self._live: Live | None = None

    def start(self, session: Session, tally: Tally) -> None:
        self.view = ProgressView(eval_id=session.eval_id, name=session.spec.name,
                                 total=session.record.total, tally=tally)
        self._live = Live(self.view, console=self.console,
                          refresh_per_second=self.refresh_per_second, transient=False)
        self._live.start()

    def finished(self, result: InstanceResult) -> None:
        if self.view is not None:
            self.view.last = result

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class JsonLines:
    """The sink without a terminal: one JSON line per finished instance."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout

    def start(self, session: Session, tally: Tally) -> None:
        pass

    def finished(self, result: InstanceResult) -> None:
        self.out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.flush()
