"""Small renderings the REPL shares: collapsed long text, a tool call as one line, a usage
line. Text from a run (tool results, answers, arguments) is always :class:`rich.text.Text`,
never markup, so ``[bold]`` in a tool's output prints as written.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from forethought.repl.live_state import ToolLine
from forethought.trace import fmt

STATUS_STYLE = {"ok": "green", "done": "green", "failed": "red", "budget_exhausted": "yellow",
                "cancelled": "yellow", "unverified": "yellow", "skipped": "yellow",
                "running": "cyan", "pending": "dim"}
SYMBOL = {"pending": "○", "running": "◐", "done": "●", "failed": "✗", "skipped": "⊘"}


def collapse(text: str, *, lines: int = 3, chars: int = 240) -> tuple[str, int]:
    """``text`` cut to its first ``lines`` lines and ``chars`` characters, and how many
    characters were left out (0: nothing).
    """
    kept = "\n".join(text.splitlines()[:lines])
    kept = kept[:chars]
    return kept, len(text) - len(kept) if len(kept) < len(text) else 0


def arguments(args: dict[str, Any], limit: int = 120) -> str:
    body = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}"
                     for k, v in args.items())
    return fmt.one_line(body, limit)


def tool_line(line: ToolLine) -> Text:
    """A tool call: ``⚙ #3 calculator(expression="1 + 2")``, then, once it ended, its result
    (``→ 3  2ms``), cut when long, saying where to read it whole.
    """
    out = Text.assemble(("⚙ ", "blue"), (f"#{line.n} ", "bold"), (line.tool, "blue"),
                        f"({arguments(line.arguments)})")
    if not line.ended:
        out.append(" …", style="cyan")
        return out
    if line.error is not None:
        shown, hidden = collapse(line.error)
        out.append(f" → error: {shown}", style="red")
    else:
        shown, hidden = collapse(line.output)
        out.append(" → ")
        out.append(shown)
    out.append(f"  {fmt.duration(line.duration_s)}", style="dim")
    if hidden:
        out.append(f"\n    … {hidden:,} more characters (/trace --call {line.n} shows all)",
                   style="dim")
    return out


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, "bold"))


def usage_line(*, status: str, run_id: str, model_calls: int, prompt_tokens: int,
               completion_tokens: int, cost_usd: float, seconds: float,
               extra: str = "") -> Text:
    """The line under an answer: ``ok · 2 model calls · 453+60 tok · $0.0000 · 0.23s · run ...``."""
    text = status_text(status)
    text.append(f" · {model_calls} model call{'s' * (model_calls != 1)} · "
                f"{fmt.tokens(prompt_tokens, completion_tokens)} · {fmt.cost(cost_usd)} · "
                f"{fmt.duration(seconds)} · run {run_id}{extra}", style="dim")
    return text
