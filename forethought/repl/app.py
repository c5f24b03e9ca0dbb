"""The REPL's loop: read a line (prompt_toolkit), run a slash command or ask the question
(rich shows the run live and the answer as markdown), and go back to the prompt.

Ctrl-C at the prompt clears the line; during a run it cancels the run (the run store records it
as cancelled with everything it did, its spending counts in ``/usage``, the conversation gets
no turn) and the prompt comes back. Ctrl-D on an empty line leaves.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import Output
from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from forethought.agents.agent import AgentResult
from forethought.exceptions import ForethoughtError
from forethought.repl.commands import dispatch
from forethought.repl.completion import ReplCompleter
from forethought.repl.live_view import LiveView
from forethought.repl.render import usage_line
from forethought.repl.session import Session
from forethought.repl.session_file import Entry
from forethought.trace import fmt

PROMPT = "› "


def key_bindings() -> KeyBindings:
    """Enter sends (or takes the highlighted completion); Esc Enter (Alt-Enter) and a line
    ending in a backslash start a new line. Ctrl-J is Enter too: an Enter typed while a run
    goes reaches the prompt as a line feed (the terminal is not in raw mode between prompts),
    and it must send the line typed ahead, not break it. Pasted text keeps its line breaks.
    """
    kb = KeyBindings()

    @kb.add("enter")
    @kb.add("c-j")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.apply_completion(state.current_completion)
        elif buffer.document.text_before_cursor.endswith("\\"):
            buffer.delete_before_cursor(1)
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    @kb.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return kb


class Repl:
    """One interactive session on a terminal (or on prompt_toolkit's pipe input in tests).

    Args:
        session: The settings, agent and conversation.
        live: The live view; it must be among ``session``'s subscribers.
        console: Where everything but the prompt is printed.
        input: prompt_toolkit input (default: the terminal).
        output: prompt_toolkit output (default: the terminal).
        history: Where typed lines are kept (default: in memory).
    """

    def __init__(self, session: Session, *, live: LiveView, console: Console,
                 input: Input | None = None, output: Output | None = None,
                 history: History | None = None) -> None:
        self.session = session
        self.live = live
        self.console = console
        self._exit = False
        self.prompt: PromptSession[str] = PromptSession(
            message=FormattedText([("bold ansicyan", PROMPT)]), multiline=True,
            prompt_continuation="  ", key_bindings=key_bindings(),
            completer=ReplCompleter(self), complete_while_typing=True,
            reserve_space_for_menu=6, history=history, bottom_toolbar=self._toolbar,
            input=input, output=output)

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read and run lines until ``/exit`` or Ctrl-D."""
        await self.session.open()
        try:
            self._welcome()
            if self.session.transcript:  # a session loaded at start
                self.show_transcript()
            while not self._exit:
                try:
                    line = await self.prompt.prompt_async()
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    break
                await self.handle(line)
        finally:
            await self.session.aclose()

    async def handle(self, line: str) -> None:
        """Run one input: a slash command, or a question."""
        text = line.strip()
        if not text:
            return
        if text.startswith("/"):
            self.session.transcript.append(Entry(kind="command", text=text))
            await dispatch(self, text)
            return
        self.session.transcript.append(Entry(kind="question", text=text))
        await self.watch(text, self._streamed(text))

    async def _streamed(self, question: str) -> AgentResult[Any]:
        async with self.session.conversation.run_stream(question) as stream:
            async for chunk in stream:
                self.live.on_text(chunk)
        return stream.result

    def request_exit(self) -> None:
        self._exit = True

    # -- a run ----------------------------------------------------------------------------------

    async def watch(self, question: str, work: Awaitable[AgentResult[Any]]
                    ) -> AgentResult[Any] | None:
        """Run ``work`` with the live view; Ctrl-C cancels it. Reports how it ended."""
        self.live.start(question)
        task = asyncio.ensure_future(work)
        restore = self._cancel_on_interrupt(task)
        outcome: AgentResult[Any] | BaseException
        try:
            outcome = await task
        except asyncio.CancelledError as exc:
            if not task.cancelled():
                raise  # the REPL itself is being cancelled, not the run
            outcome = exc
        except Exception as exc:  # noqa: BLE001 - reported; the prompt comes back
            outcome = exc
        finally:
            restore()
            self.live.stop()
        if isinstance(outcome, AgentResult):
            self._report(outcome)
            return outcome
        self._report_stop(outcome)
        return None

    def _cancel_on_interrupt(self, task: asyncio.Future[Any]) -> Callable[[], None]:
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            if not task.done():
                self.console.print(Text("cancelling the run…", style="yellow"))
                task.cancel()

        try:
            loop.add_signal_handler(signal.SIGINT, interrupt)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
            return lambda: None

        def restore() -> None:
            loop.remove_signal_handler(signal.SIGINT)

        return restore

    def _report(self, result: AgentResult[Any]) -> None:
        answer = result.answer if result.answer is not None else "(no answer)"
        self.console.print(Markdown(answer))
        flags = " · partial" if result.partial else ""
        if result.verified is not None:
            flags += " · verified" if result.verified else " · rejected by the verifier"
        if result.score is not None:
            flags += f" · score {result.score:.3g}"
        u = result.usage
        detail = usage_line(status=result.status, run_id=result.run_id,
                            model_calls=u.model_calls, prompt_tokens=u.prompt_tokens,
                            completion_tokens=u.completion_tokens, cost_usd=u.cost_usd,
                            seconds=result.duration_s, extra=flags)
        self.console.print(detail)
        if not result.ok and result.error:
            self.console.print(Text(f"note: {result.error}", style="yellow"))
        self.session.transcript.append(Entry(kind="answer", text=answer, run_id=result.run_id,
                                             status=result.status, detail=detail.plain))

    def _report_stop(self, error: BaseException) -> None:
        runs = self.session.runs
        run = runs[-1] if runs and runs[-1].status in ("cancelled", "failed") else None
        where = f"run {run.run_id}" if run is not None else "the run"
        if isinstance(error, asyncio.CancelledError):
            text = Text.assemble(("cancelled", "bold yellow"), f" · {where} is in the run store "
                                 "as cancelled, with what it did; the conversation is as it was")
            status = "cancelled"
        else:
            kind = "" if isinstance(error, ForethoughtError) else f"{type(error).__name__}: "
            text = Text.assemble(("error: ", "bold red"), f"{kind}{error}")
            if run is not None:
                text.append(f" ({where} is recorded as failed)", style="dim")
            status = "failed"
        if run is not None:
            text.append(f" · spent {run.model_calls} model calls, "
                        f"{fmt.tokens(run.prompt_tokens, run.completion_tokens)}, "
                        f"{fmt.cost(run.cost_usd)}", style="dim")
        self.console.print(text)
        self.session.transcript.append(Entry(
            kind="answer", text=f"({status})", status=status,
            run_id=None if run is None else run.run_id, detail=text.plain))

    # -- screens --------------------------------------------------------------------------------

    def _welcome(self) -> None:
        s = self.session.summary()
        strategy = f" ({s['strategy']})" if s["strategy"] else ""
        self.console.print(Text.assemble(
            ("forethought repl", "bold"), f" · model {s['model']} · planner {s['planner']}"
            f"{strategy} · tools {s['tools']} · runs stored in {self.session.store_path}"))
        self.console.print(Text("Ask a question, or /help. Tab completes, Ctrl-C cancels a "
                                "run, Ctrl-D leaves.", style="dim"))

    def _toolbar(self) -> str:
        s = self.session.summary()
        u = self.session.usage
        strategy = f" ({s['strategy']})" if s["strategy"] else ""
        return (f" {s['model']} · {s['planner']}{strategy} · tools {s['tools']} · budget "
                f"{s['budget']} · session {len(self.session.runs)} runs, {u.total_tokens} tok, "
                f"{fmt.cost(u.cost_usd)} ")

    def show_transcript(self) -> None:
        for entry in self.session.transcript:
            if entry.kind == "question":
                self.console.print(Text.assemble((PROMPT, "bold cyan"), entry.text))
            elif entry.kind == "command":
                self.console.print(Text(PROMPT + entry.text, style="dim"))
            else:
                self.console.print(Markdown(entry.text))
                if entry.detail:
                    self.console.print(Text(entry.detail, style="dim"))
