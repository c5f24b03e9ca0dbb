"""Message history: what a run exchanged, and how prior turns reach the planner.

A run's messages (:attr:`AgentResult.messages`) are the user's question, each tool call the
run made with its result (an assistant message calling the tool, then the tool's message),
and the final answer. ``agent.run(q, history=result.messages)`` continues from them.

Planners take one question, so prior turns reach them as text: the question is prefixed with
the conversation so far in a compact form (:func:`contextualize`). When that is longer than
:attr:`HistoryPolicy.max_chars`, the older turns are summarised by the agent's model (one
budgeted call, ``purpose="summarize"``, cached by the exact messages summarised, and
incremental: the next turn summarises the previous summary plus what is new) or, with
``summarize=False``, left out with a note saying how many; the last ``keep_turns`` turns are
always kept verbatim.

Histories may come from elsewhere (another agent, an OpenAI-style list of dicts). Messages
that call tools this agent does not have are kept as text for context, never re-run, with a
warning naming the tools.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

import pydantic

from forethought.exceptions import UserError
from forethought.models.messages import Message, ModelRequest, ModelSettings, ToolCall
from forethought.models.structured import describe_validation_errors
from forethought.runtime.context import RunContext
from forethought.runtime.events import Event, PlannerEvent, ToolCallFinished, ToolCallStarted

CONTEXT_TEMPLATE = """\
This question continues a conversation. The conversation so far, for context:
{context}

The question to answer now (it may refer to the conversation above):
{question}"""

SUMMARY_SYSTEM = """\
You summarise the earlier part of a conversation between a user and an assistant so that the
conversation can continue without it. Keep every fact, number, name, decision and result that
a follow-up question might refer to; drop pleasantries. Reply with the summary only."""


@dataclass(kw_only=True, frozen=True)
class HistoryPolicy:
    """How prior turns are shown to the planner (see :mod:`forethought.agents.history`)."""

    max_chars: int = 6000
    """Prior turns rendered longer than this are compacted."""
    keep_turns: int = 3
    """The most recent turns (a turn starts at a user message) always kept verbatim."""
    summarize: bool = True
    """Summarise older turns with the agent's model; ``False``: leave them out, saying how
    many."""
    max_message_chars: int = 2000
    """Any one message is cut to this many characters."""

    def __post_init__(self) -> None:
        for name in ("max_chars", "keep_turns", "max_message_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"HistoryPolicy.{name} must be an integer >= 1, got {value!r}")


class SummaryCache(Protocol):
    """Where summaries of message prefixes are kept, by the prefix's key."""

    def get_summary(self, key: str) -> str | None: ...

    def put_summary(self, key: str, summary: str) -> None: ...


class MemorySummaries:
    """A bounded in-process :class:`SummaryCache` (the oldest entries go first)."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._items: dict[str, str] = {}

    def get_summary(self, key: str) -> str | None:
        return self._items.get(key)

    def put_summary(self, key: str, summary: str) -> None:
        self._items[key] = summary
        while len(self._items) > self.limit:
            del self._items[next(iter(self._items))]


# -- reading histories ----------------------------------------------------------------------


class _Function(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str
    arguments: str = ""


class _ToolCallIn(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    id: str
    type: Literal["function"] = "function"
    function: _Function


class _TextPart(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class _MessageIn(pydantic.BaseModel):
    """A chat message in the OpenAI form, as other agents and SDKs write histories."""

    model_config = pydantic.ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[_TextPart] | None = None
    tool_calls: list[_ToolCallIn] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    def to_message(self) -> Message:
        content = self.content if isinstance(self.content, str) else "".join(
            p.text for p in self.content or [])
        calls = tuple(ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                      for c in self.tool_calls or [])
        return Message(role=self.role, content=content, tool_calls=calls,
                       tool_call_id=self.tool_call_id)


HistoryItem = Message | Mapping[str, Any]


def read_history(history: Iterable[HistoryItem]) -> list[Message]:
    """``history`` as messages: :class:`Message` objects as they are, dicts in the OpenAI
    chat form validated (the error names the message and field).
    """
    given: object = history
    if isinstance(given, str | bytes | Mapping):
        kind = type(given).__name__  # pyright: ignore[reportUnknownArgumentType]
        raise UserError(f"history must be a list of messages (e.g. result.messages), got "
                        f"{kind}")
    out: list[Message] = []
    for i, item in enumerate(cast(Iterable[object], history)):
        if isinstance(item, Message):
            out.append(item)
        elif isinstance(item, Mapping):
            try:
                out.append(_MessageIn.model_validate(dict(cast(Mapping[str, Any], item)))
                           .to_message())
            except pydantic.ValidationError as exc:
                raise UserError(f"history[{i}] is not a valid chat message: "
                                f"{describe_validation_errors(exc)}") from None
        else:
            raise UserError(f"history[{i}] must be a Message or a chat message dict, got "
                            f"{item!r}")
    return out


def warn_unknown_tools(messages: Sequence[Message], known: Collection[str]) -> None:
    """Warn once about the tools ``messages`` call that are not in ``known``."""
    unknown = sorted({c.name for m in messages for c in m.tool_calls if c.name not in known})
    if unknown:
        have = ", ".join(repr(n) for n in sorted(known)) or "none"
        warnings.warn(f"the history calls tools this agent does not have "
                      f"({', '.join(repr(n) for n in unknown)}; its tools: {have}); those calls "
                      f"and their results are kept as text for context, never re-run",
                      UserWarning, stacklevel=4)


# -- rendering and compaction --------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " ...(cut)"


def render_messages(messages: Sequence[Message], *, max_message_chars: int = 2000) -> str:
    """One line (or paragraph) per message: ``User: ...``, ``Assistant: ...``,
    ``Assistant called tool(args)``, ``tool returned: ...``.
    """
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    lines: list[str] = []
    for m in messages:
        content = _cut(m.content.strip(), max_message_chars)
        if m.role == "tool":
            name = names.get(m.tool_call_id or "", "a tool")
            lines.append(f"{name} returned: {content}")
            continue
        if content:
            lines.append(f"{m.role.capitalize()}: {content}")
        for call in m.tool_calls:
            lines.append(f"Assistant called {call.name}({_cut(call.arguments, 500)})")
    return "\n".join(lines)


def prefix_keys(messages: Sequence[Message]) -> list[str]:
    """``keys[i]`` identifies ``messages[: i + 1]`` exactly (for the summary cache)."""
    digest = hashlib.sha256(b"forethought-history-v1")
    keys: list[str] = []
    for m in messages:
        digest.update(json.dumps(message_to_dict(m), sort_keys=True).encode())
        digest.update(b"\x00")
        keys.append(digest.copy().hexdigest())
    return keys


def _turn_starts(messages: Sequence[Message]) -> list[int]:
    return [i for i, m in enumerate(messages) if m.role == "user"]


async def contextualize(ctx: RunContext[Any], question: str, history: Sequence[Message],
                        policy: HistoryPolicy, cache: SummaryCache) -> str:
    """The question as the planner sees it: ``question`` alone without history, else
    prefixed with the conversation so far, compacted per ``policy``.
    """
    if not history:
        return question
    limit = policy.max_message_chars
    context = render_messages(history, max_message_chars=limit)
    if len(context) > policy.max_chars:
        starts = _turn_starts(history)
        cut = starts[-policy.keep_turns] if len(starts) >= policy.keep_turns else 0
        if cut > 0:
            older, recent = history[:cut], history[cut:]
            if policy.summarize:
                summary = await summarize(ctx, older, cache)
                head = f"Summary of the earlier conversation: {summary}"
            else:
                head = f"({len(older)} earlier messages left out)"
            context = head + "\n" + render_messages(recent, max_message_chars=limit)
        if len(context) > policy.max_chars:  # the recent turns alone are too long
            context = "...(earlier text cut) " + context[-policy.max_chars:]
    return CONTEXT_TEMPLATE.format(context=context, question=question)


async def summarize(ctx: RunContext[Any], messages: Sequence[Message],
                    cache: SummaryCache) -> str:
    """A summary of ``messages``: from the cache, or extending the longest cached summary of
    a prefix with the messages after it (one model call).
    """
    keys = prefix_keys(messages)
    if (hit := cache.get_summary(keys[-1])) is not None:
        return hit
    start, previous = 0, None
    for j in range(len(keys) - 1, 0, -1):
        if (found := cache.get_summary(keys[j - 1])) is not None:
            start, previous = j, found
            break
    user = render_messages(messages[start:])
    if previous is not None:
        user = f"Summary so far: {previous}\n\nWhat was said after it:\n{user}"
    request = ModelRequest(messages=(Message.system(SUMMARY_SYSTEM), Message.user(user)),
                           purpose="summarize", settings=ModelSettings(temperature=0.0))
    response = await ctx.complete(request, node_id="history")
    summary = " ".join(response.text.split())
    if not summary:
        summary = f"({len(messages)} earlier messages; the summary came back empty)"
        if ctx.events.active:
            ctx.events.emit(PlannerEvent(node_id="history", action="summary_empty",
                                         detail="the model's summary was empty"))
    else:
        cache.put_summary(keys[-1], summary)
    return summary


# -- recording a run's exchange ------------------------------------------------------------


@dataclass(kw_only=True)
class ExchangeRecorder:
    """An event subscriber that turns a run's tool calls into messages, each call followed
    by its result (calls still running when the run ends are closed with a note).
    """

    run_id: str
    messages: list[Message] = field(default_factory=list[Message])
    _open: dict[tuple[str | None, str], list[ToolCall]] = field(
        default_factory=dict[tuple[str | None, str], list[ToolCall]])
    _count: int = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, ToolCallStarted):
            self._count += 1
            call = ToolCall(id=f"{self.run_id}-{self._count}", name=event.tool,
                            arguments=json.dumps(event.arguments, default=str,
                                                 ensure_ascii=False))
            self._open.setdefault((event.node_id, event.tool), []).append(call)
        elif isinstance(event, ToolCallFinished):
            pending = self._open.get((event.node_id, event.tool))
            if pending:
                result = event.output if event.error is None else f"Error: {event.error}"
                self._close(pending.pop(0), result)

    def _close(self, call: ToolCall, result: str) -> None:
        self.messages.append(Message.assistant("", (call,)))
        self.messages.append(Message.tool(result, tool_call_id=call.id))

    def finish(self) -> list[Message]:
        for calls in self._open.values():
            for call in calls:
                self._close(call, "(no result: the run ended first)")
        self._open.clear()
        return self.messages


def exchange_messages(question: str, recorder: ExchangeRecorder, text: str | None,
                      status: str, error: str | None) -> list[Message]:
    """A run's new messages: the question, its tool calls with their results, the answer
    (or what became of the run, so a follow-up knows).
    """
    if text is None:
        text = f"(no answer: the run ended {status}" + (f": {error})" if error else ")")
    return [Message.user(question), *recorder.finish(), Message.assistant(text)]


# -- storage form --------------------------------------------------------------------------


def message_to_dict(message: Message) -> dict[str, Any]:
    return message.to_openai()


def messages_to_json(messages: Sequence[Message]) -> str:
    return json.dumps([message_to_dict(m) for m in messages], ensure_ascii=False)


def messages_from_json(text: str) -> list[Message]:
    data: Any = json.loads(text)
    return read_history(data)

