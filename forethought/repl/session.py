"""The state of one REPL session: the settings (a recipe), the agent built from them, the
conversation, what was shown, and every run with what it spent.

Everything here is the SDK's: settings change through
:func:`~forethought.recipes.revise.revise_recipe` (checked as a recipe file is), the agent is
:func:`~forethought.recipes.build_agent`'s, a settings change carries the conversation over
with :meth:`~forethought.agents.conversation.Conversation.continue_with`, and runs are
recorded in the run store as any run is. The session only keeps the books: a run's usage is
taken from its ``run_finished`` event, so a cancelled run counts too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from forethought.agents.agent import Agent
from forethought.agents.conversation import Conversation
from forethought.agents.history import message_to_dict, read_history
from forethought.exceptions import UserError
from forethought.models.messages import Usage
from forethought.recipes import Recipe, build_agent
from forethought.recipes.revise import recipe_settings, revise_recipe, settings_recipe
from forethought.repl.session_file import (
    Entry,
    RunSummary,
    SessionFile,
    read_session,
    write_session,
)
from forethought.runtime.events import Event, RunFinished, RunStarted, Subscriber
from forethought.runtime.store import default_store_path

DEFAULT_SETTINGS: dict[str, Any] = {"name": "repl", "model": "simulated",
                                    "tools": ["calculator"], "planner": {"kind": "llmcompiler"}}
"""The settings without a recipe: the offline simulator planning calculator calls."""


class Session:
    """Settings, agent, conversation, transcript and runs of one REPL session.

    Args:
        recipe: The starting settings.
        store: The run store file (default: ``$FORETHOUGHT_HOME/runs.sqlite``).
        subscribers: Event subscribers of every run (the list may change at any time).
    """

    def __init__(self, recipe: Recipe, *, store: Path | None = None,
                 subscribers: Sequence[Subscriber] = ()) -> None:
        self.store_path = store if store is not None else default_store_path()
        self.subscribers = list(subscribers)
        self.recipe = recipe
        self.agent = self._build(recipe)
        self.conversation: Conversation[Any, Any] = self.agent.chat()
        self.transcript: list[Entry] = []
        self.runs: list[RunSummary] = []
        self._questions: dict[str, str] = {}
        self._entered = False

    # -- life cycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the agent's toolsets once for the whole session."""
        await self.agent.__aenter__()
        self._entered = True

    async def aclose(self) -> None:
        if self._entered:
            self._entered = False
            await self.agent.__aexit__(None, None, None)
        self.agent.close()

    def _build(self, recipe: Recipe) -> Agent[Any, Any]:
        agent = build_agent(recipe, store=self.store_path)
        agent.subscribers.append(self._on_event)
        return agent

    def _on_event(self, event: Event) -> None:
        self._record(event)
        for subscriber in self.subscribers:  # read at each event: they may change
            subscriber(event)

    async def _switch(self, recipe: Recipe, conversation: Callable[[Agent[Any, Any]],
                                                                   Conversation[Any, Any]]
                      | None = None) -> None:
        """Use ``recipe`` from now on: a new agent, the conversation carried over to it
        (or the one ``conversation`` makes with it). Nothing changes if it fails to start.
        """
        agent = self._build(recipe)
        try:
            if self._entered:
                await agent.__aenter__()
            try:
                carried = conversation(agent) if conversation is not None else \
                    self.conversation.continue_with(agent)
            except BaseException:
                if self._entered:
                    await agent.__aexit__(None, None, None)
                raise
        except BaseException:
            agent.close()
            raise
        old = self.agent
        self.agent, self.recipe, self.conversation = agent, recipe, carried
        if self._entered:
            await old.__aexit__(None, None, None)
        old.close()

    # -- settings -----------------------------------------------------------------------------

    @property
    def settings(self) -> dict[str, Any]:
        return recipe_settings(self.recipe)

    def summary(self) -> dict[str, str]:
        """The settings in a few words each: model, planner, strategy, tools, budget."""
        planner = self.recipe.planner_config()
        options = planner.options()
        strategy = options.get("strategy")
        if isinstance(strategy, dict):
            strategy = cast(dict[str, Any], strategy).get("kind")
        budget = self.recipe.budget.model_dump(exclude_none=True)
        return {"model": self.recipe.model_config_obj().name, "planner": planner.kind,
                "strategy": str(strategy) if strategy is not None else "",
                "tools": ", ".join(t.name for t in self.recipe.tool_configs()) or "none",
                "budget": " ".join(f"{k.removeprefix('max_')}={v}" for k, v in budget.items())
                or "none"}

    async def configure(self, **changes: Any) -> None:
        """Change settings (see :func:`revise_recipe`); a bad change leaves all as it was."""
        await self._switch(revise_recipe(self.recipe, **changes))

    async def use_recipe(self, recipe: Recipe) -> None:
        """Take all settings from ``recipe``; the conversation goes on."""
        await self._switch(recipe)

    # -- the books ----------------------------------------------------------------------------

    def _record(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._questions[event.run_id] = event.question
        elif isinstance(event, RunFinished):
            u = event.usage
            self.runs.append(RunSummary(
                run_id=event.run_id, status=event.status,
                question=self._questions.pop(event.run_id, ""), model_calls=u.model_calls,
                prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
                cost_usd=u.cost_usd))

    def mark_rerun(self, run_id: str, of: str) -> None:
        for run in self.runs:
            if run.run_id == run_id:
                run.rerun_of = of

    @property
    def usage(self) -> Usage:
        """What every run of the session spent, cancelled ones included."""
        total = Usage()
        for r in self.runs:
            total.add(Usage(prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                            cost_usd=r.cost_usd, model_calls=r.model_calls))
        return total

    @property
    def last_run_id(self) -> str | None:
        return self.runs[-1].run_id if self.runs else None

    def clear(self) -> None:
        """Start a new conversation (the settings and the runs' books stay)."""
        self.conversation = self.agent.chat()
        self.transcript.clear()

    # -- save and load --------------------------------------------------------------------------

    def save(self, path: Path) -> SessionFile:
        data = SessionFile(
            saved=time.time(), settings=self.settings, source=self.recipe.source,
            base_dir=None if self.recipe.base_dir is None else str(self.recipe.base_dir),
            conversation_id=self.conversation.id,
            messages=[message_to_dict(m) for m in self.conversation.messages],
            transcript=[e.model_copy() for e in self.transcript],
            runs=[r.model_copy() for r in self.runs], store=str(self.store_path))
        write_session(data, path)
        return data

    async def load(self, path: Path) -> SessionFile:
        """Put the session saved in ``path`` back: settings, conversation, transcript, runs.
        The conversation resumes from the run store when it holds it as saved; otherwise a new
        one starts from the saved messages. A bad file changes nothing.
        """
        data = read_session(path)
        base = None if data.base_dir is None else Path(data.base_dir)
        recipe = settings_recipe(data.settings, source=data.source, base_dir=base)
        messages = read_history(data.messages)

        def conversation(agent: Agent[Any, Any]) -> Conversation[Any, Any]:
            try:
                stored = agent.chat(data.conversation_id)
            except UserError:  # not in this store
                return agent.chat(messages=messages)
            return stored if list(stored.messages) == messages else \
                agent.chat(messages=messages)

        await self._switch(recipe, conversation)
        self.transcript = list(data.transcript)
        self.runs = list(data.runs)
        return data
