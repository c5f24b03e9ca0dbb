"""The live view of a run: the task graph or the search as it goes, what it has spent, and
the answer streaming in as markdown; tool calls are printed above it as they happen.

The view is an event subscriber (:meth:`LiveView.on_event`) and a text sink
(:meth:`LiveView.on_text`). It redraws on the event loop only (rich's own refresh thread is
off, so nothing reads the state while an event changes it): at most ``fps`` times a second
on events, at once for the first streamed text (so the first token is on screen without
waiting for a tick), and on a timer so the clock moves while a call is waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.rule import Rule
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from forethought.repl.live_state import LiveState, NodeView, SearchView
from forethought.repl.render import STATUS_STYLE, SYMBOL, tool_line
from forethought.runtime.events import Event
from forethought.trace import fmt

MAX_ROWS = 10
"""Graph nodes shown at once (running ones first, then the latest); the rest are counted."""


def _node_row(node: NodeView) -> tuple[Text, Text, Text, Text]:
    style = STATUS_STYLE.get(node.status, "")
    detail = node.output if node.status == "done" else node.error
    return (Text(SYMBOL[node.status], style=style), Text(node.id, style="bold"),
            Text(fmt.one_line(node.description, 60), style="dim"),
            Text(fmt.one_line(detail, 40), style="red" if node.status == "failed" else ""))


def _shown_nodes(nodes: list[NodeView], limit: int) -> list[NodeView]:
    if len(nodes) <= limit:
        return nodes
    running = [n for n in nodes if n.status == "running"][:limit]
    rest = [n for n in nodes if n.status != "running"][-(limit - len(running)):] \
        if limit > len(running) else []
    keep = {id(n) for n in running + rest}
    return [n for n in nodes if id(n) in keep]


def _search_line(search: SearchView) -> Text:
    actions = ", ".join(f"{count} {tag}" for tag, count in search.actions.items())
    name = "search" if search.node == "search" else f"search at {search.node}"
    text = Text.assemble((name, "bold magenta"), f" · step {search.steps}")
    if actions:
        text.append(f" · actions: {actions}", style="dim")
    text.append(f" · {search.candidates} candidate{'s' * (search.candidates != 1)}")
    if search.best_score is not None:
        text.append(f" · best score {search.best_score:.3g}", style="bold green")
        if search.best_answer is not None:
            text.append(f" → {fmt.one_line(search.best_answer, 40)}")
    if search.failed:
        text.append(f" · {search.failed} failed", style="red")
    return text


def render(state: LiveState, *, max_rows: int = MAX_ROWS) -> RenderableType:
    """The live view of ``state``: totals, planner steps, the search, the graph, the answer."""
    parts: list[RenderableType] = []
    counts = state.counts()
    head = Text.assemble(("running", "cyan"), f" · {fmt.duration(state.elapsed())} · "
                         f"{state.model_calls + state.model_calls_running} model calls")
    if state.model_calls_running:
        head.append(f" ({state.model_calls_running} in flight)", style="cyan")
    head.append(f" · {state.tool_calls} tool calls · "
                f"{fmt.tokens(state.prompt_tokens, state.completion_tokens)} · "
                f"{fmt.cost(state.cost_usd)}")
    parts.append(Group(Spinner("dots", text=head)))
    if state.steps:
        steps = Text("steps ", style="bold")
        for step in state.steps.values():
            mark = "…" if step.running else ("✗" if step.failed and not step.done else "✓")
            steps.append(f"{step.id} {mark}  ",
                         style="cyan" if step.running else STATUS_STYLE["done"])
        parts.append(steps)
    parts.extend(_search_line(s) for s in state.searches.values())
    running = list(state.tools_running.values())
    parts.extend(tool_line(line) for line in running[:max_rows])
    if len(running) > max_rows:
        parts.append(Text(f"  … {len(running) - max_rows} more tool calls running",
                          style="dim"))
    if state.nodes:
        nodes = list(state.nodes.values())
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        parts.append(Text(f"graph · {len(nodes)} nodes ({summary})", style="bold"))
        table = Table.grid(padding=(0, 1))
        for _ in range(4):
            table.add_column(no_wrap=True, overflow="ellipsis")
        for node in _shown_nodes(nodes, max_rows):
            table.add_row(*_node_row(node))
        parts.append(table)
        if len(nodes) > max_rows:
            parts.append(Text(f"  … {len(nodes) - max_rows} more nodes", style="dim"))
    if state.last_note:
        parts.append(Text(fmt.one_line(state.last_note, 100), style="dim"))
    if state.text:
        parts.append(Rule("answer", style="dim", align="left"))
        parts.append(Markdown(state.text))
    return Group(*parts)


class LiveView:
    """Shows one run at a time on ``console`` (see the module docs)."""

    def __init__(self, console: Console, *, fps: float = 12.0, tick_s: float = 0.25) -> None:
        self.console = console
        self.min_interval = 1.0 / fps
        self.tick_s = tick_s
        self.state: LiveState | None = None
        self._live: Live | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._drawn = 0.0
        self.first_text_shown: float | None = None
        """When the first streamed text was drawn (``time.perf_counter()``)."""

    def start(self, question: str) -> None:
        self.state = LiveState(question=question)
        self.first_text_shown = None
        self._live = Live(render(self.state), console=self.console, auto_refresh=False,
                          transient=True, redirect_stdout=False, redirect_stderr=False)
        self._live.start(refresh=True)
        self._drawn = time.monotonic()
        with contextlib.suppress(RuntimeError):  # no running loop: no clock (tests)
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            self._draw(force=True)

    def _draw(self, *, force: bool = False) -> None:
        if self._live is None or self.state is None:
            return
        now = time.monotonic()
        if not force and now - self._drawn < self.min_interval:
            return
        self._drawn = now
        self._live.update(render(self.state), refresh=True)

    def on_event(self, event: Event) -> None:
        """Subscriber: fold ``event`` in; print a tool call that starts or ends."""
        if self.state is None or self._live is None:
            return
        line = self.state.feed(event)
        if line is not None:
            self._live.console.print(tool_line(line))
        self._draw()

    def on_text(self, chunk: str) -> None:
        """The answer's next streamed text."""
        if self.state is None:
            return
        first = not self.state.text
        self.state.text += chunk
        self._draw(force=first)
        if first:
            self.first_text_shown = time.perf_counter()

    def stop(self) -> LiveState | None:
        """End the view (it leaves the screen); the run's state as it was last drawn."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._live is not None:
            self._live.stop()
            self._live = None
        state, self.state = self.state, None
        return state
