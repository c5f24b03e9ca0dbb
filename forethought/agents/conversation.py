"""Conversations: questions that each see the turns before them, stored and resumable by id.

``conv = agent.chat()`` starts one; ``conv.run(q)`` (``arun``, ``iter``, ``run_stream``) asks
the next question with the conversation's messages as history and appends the run's
messages when it finishes. A run that fails, is cancelled or raises adds no turn (its run is
in the run store as usual), so the conversation can go on from where it was.

Conversations live in the run store's SQLite file, in tables of their own (``conversations``,
``conversation_turns``, and ``history_summaries`` for the summaries of long histories), each
turn pointing at its run. ``agent.chat(id)`` resumes one, in this process or another.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from forethought._sync import run_sync
from forethought.agents.history import (
    HistoryItem,
    messages_from_json,
    messages_to_json,
    read_history,
)
from forethought.agents.output import OutputT
from forethought.exceptions import UserError
from forethought.models.messages import Message
from forethought.runtime.budget import Budget
from forethought.runtime.context import DepsT

D = TypeVar("D")
O = TypeVar("O")  # noqa: E741

if TYPE_CHECKING:
    from forethought.agents.agent import Agent, AgentResult
    from forethought.agents.streaming import AgentRun, StreamedRun

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    title TEXT,
    meta TEXT
);
CREATE TABLE IF NOT EXISTS conversation_turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    turn INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    created REAL NOT NULL,
    question TEXT NOT NULL,
    answer TEXT,
    status TEXT NOT NULL,
    messages TEXT NOT NULL,
    PRIMARY KEY (conversation_id, turn)
);
CREATE TABLE IF NOT EXISTS history_summaries (
    key TEXT PRIMARY KEY,
    summary TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass(kw_only=True, frozen=True)
class ConversationInfo:
    """A stored conversation, as listed."""

    id: str
    created: float
    updated: float
    turns: int
    title: str | None
    """The first question."""


@dataclass(kw_only=True, frozen=True)
class Turn:
    """One stored turn: a question, its run and the messages it added."""

    turn: int
    run_id: str
    question: str
    answer: str | None
    status: str
    messages: list[Message]


def new_conversation_id() -> str:
    return f"c-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


class ConversationStore:
    """Conversations (and history summaries) in the run store's SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def create(self, conversation_id: str, *, meta: dict[str, Any] | None = None) -> None:
        now = time.time()
        with self._lock:
            self._conn.execute(
                "INSERT INTO conversations (id, created, updated, meta) VALUES (?, ?, ?, ?)",
                (conversation_id, now, now, json.dumps(meta or {}, default=str)))

    def exists(self, conversation_id: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM conversations WHERE id=?",
                                 (conversation_id,)).fetchone()
        return row is not None

    def add_turn(self, conversation_id: str, *, run_id: str, question: str,
                 answer: str | None, status: str, messages: Sequence[Message]) -> int:
        """Append a turn (in one transaction with the conversation's update); its number."""
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                (count,) = self._conn.execute(
                    "SELECT COUNT(*) FROM conversation_turns WHERE conversation_id=?",
                    (conversation_id,)).fetchone()
                turn = int(count) + 1
                self._conn.execute(
                    "INSERT INTO conversation_turns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (conversation_id, turn, run_id, now, question, answer, status,
                     messages_to_json(messages)))
                self._conn.execute(
                    "UPDATE conversations SET updated=?, title=COALESCE(title, ?) WHERE id=?",
                    (now, question[:200], conversation_id))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return turn

    def turns(self, conversation_id: str) -> list[Turn]:
        """The stored turns in order; :class:`UserError` if there is no such conversation."""
        if not self.exists(conversation_id):
            known = ", ".join(repr(c.id) for c in self.list(limit=5)) or "none"
            raise UserError(f"no conversation {conversation_id!r} in {self.path} (most recent: "
                            f"{known})")
        rows = self._conn.execute(
            "SELECT turn, run_id, question, answer, status, messages FROM conversation_turns "
            "WHERE conversation_id=? ORDER BY turn", (conversation_id,))
        return [Turn(turn=r[0], run_id=r[1], question=r[2], answer=r[3], status=r[4],
                     messages=messages_from_json(r[5])) for r in rows]

    def list(self, limit: int = 50) -> list[ConversationInfo]:
        """The most recently updated conversations first."""
        rows = self._conn.execute(
            "SELECT c.id, c.created, c.updated, c.title, (SELECT COUNT(*) FROM "
            "conversation_turns t WHERE t.conversation_id = c.id) FROM conversations c "
            "ORDER BY c.updated DESC LIMIT ?", (limit,))
        return [ConversationInfo(id=r[0], created=r[1], updated=r[2], title=r[3], turns=r[4])
                for r in rows]

    # -- the SummaryCache protocol ----------------------------------------------------------

    def get_summary(self, key: str) -> str | None:
        row = self._conn.execute("SELECT summary FROM history_summaries WHERE key=?",
                                 (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_summary(self, key: str, summary: str) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO history_summaries VALUES (?, ?, ?)",
                               (key, summary, time.time()))


class Conversation(Generic[DepsT, OutputT]):
    """A conversation with ``agent``: each question sees the turns before it.

    Example::

        conv = agent.chat()
        conv.run("How many moons has Mars?")
        result = conv.run("And Jupiter, twice that many?")   # sees the first turn
        again = agent.chat(conv.id)                          # resumed from the store

    Args:
        agent: The agent that answers.
        id: The conversation's id (a new one by default).
        messages: Where it starts (e.g. another run's ``result.messages``).
        store: Where turns are stored (``None``: kept in memory only).
    """

    def __init__(self, agent: Agent[DepsT, OutputT], *, id: str | None = None,
                 messages: Sequence[HistoryItem] = (),
                 store: ConversationStore | None = None) -> None:
        self.agent = agent
        self.id = id or new_conversation_id()
        self._messages: list[Message] = read_history(messages)
        self._store = store
        self._busy = False
        self.turns = 0
        """Turns taken in this conversation (stored ones included when resumed)."""

    @property
    def messages(self) -> tuple[Message, ...]:
        """Every message so far (the next question's history)."""
        return tuple(self._messages)

    def _restore(self, turns: Sequence[Turn]) -> None:
        for turn in turns:
            self._messages.extend(turn.messages)
        self.turns = len(turns)

    def _begin(self) -> None:
        if self._busy:
            raise UserError(f"conversation {self.id!r} is answering a question already; ask "
                            f"the next one when it has finished")
        self._busy = True

    def _end(self, question: str, result: AgentResult[Any] | None) -> None:
        self._busy = False
        if result is None:
            return
        if self._store is not None:
            if self.turns == 0 and not self._store.exists(self.id):
                self._store.create(self.id, meta={"model": self.agent.model.name,
                                                  "planner": self.agent.planner.name})
            self._store.add_turn(self.id, run_id=result.run_id, question=question,
                                 answer=result.answer, status=result.status,
                                 messages=result.new_messages)
        self._messages.extend(result.new_messages)
        self.turns += 1

    async def arun(self, question: str, *, deps: DepsT | None = None,
                   budget: Budget | None = None) -> AgentResult[OutputT]:
        """Ask ``question`` as the next turn (see :meth:`Agent.arun`)."""
        self._begin()
        result: AgentResult[OutputT] | None = None
        try:
            result = await self.agent.arun(question, history=self._messages, deps=deps,
                                           budget=budget)
            return result
        finally:
            self._end(question, result)

    def run(self, question: str, *, deps: DepsT | None = None,
            budget: Budget | None = None) -> AgentResult[OutputT]:
        """Synchronous :meth:`arun`."""
        return run_sync(self.arun(question, deps=deps, budget=budget),
                        name="Conversation.run()", async_form="conversation.arun(...)")

    def iter(self, question: str, *, deps: DepsT | None = None,
             budget: Budget | None = None) -> AgentRun[OutputT]:
        """Ask ``question`` as the next turn, iterating over its events
        (see :meth:`Agent.iter`); the turn is added when the run finishes. The history is
        the conversation's messages when this is called.
        """
        run = self.agent.iter(question, history=self._messages, deps=deps, budget=budget)
        run.on_enter(self._begin)
        run.on_close(lambda result: self._end(question, result))
        return run

    def run_stream(self, question: str, *, deps: DepsT | None = None,
                   budget: Budget | None = None) -> StreamedRun[OutputT]:
        """Ask ``question`` as the next turn, streaming its answer
        (see :meth:`Agent.run_stream`); the turn is added when the run finishes.
        """
        stream = self.agent.run_stream(question, history=self._messages, deps=deps,
                                       budget=budget)
        stream.run.on_enter(self._begin)
        stream.run.on_close(lambda result: self._end(question, result))
        return stream

    def __repr__(self) -> str:
        return f"<Conversation {self.id!r}: {self.turns} turns>"


def resume_conversation(agent: Agent[D, O], conversation_id: str, store: ConversationStore
                        ) -> Conversation[D, O]:
    """The stored conversation ``conversation_id``, ready for its next question."""
    turns = store.turns(conversation_id)
    conv: Conversation[D, O] = Conversation(agent, id=conversation_id, store=store)
    conv._restore(turns)  # pyright: ignore[reportPrivateUsage]
    return conv
