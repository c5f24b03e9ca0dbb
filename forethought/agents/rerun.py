"""Re-running one node of a finished run, keeping the rest: ``agent.rerun(result, node)``.

A run's result keeps what its planner would need to run one of its nodes again
(:attr:`AgentResult.replay`: the question as the planner saw it, and the planner's own record
of the run). :meth:`Agent.rerun` starts a new run (its own id in the run store, with
``rerun_of`` and ``node`` in its settings) that hands that record to
:meth:`Planner.rerun <forethought.planners.base.Planner.rerun>`, optionally with another
search strategy. What a node is depends on the planner, and each says so in
:meth:`~forethought.planners.base.Planner.rerun_targets`:

============== ===============================================================================
planner        nodes
============== ===============================================================================
``search``     ``search``: the whole search is the run's one node; re-running it searches
               again, with another strategy if given
``llmcompiler`` each task of the plans (a tool call, by number): it runs again with what
               depends on it, the other results are kept, and the answer is decided again;
               ``join``: decide again over the same results. A strategy, if given, makes that
               decision by sampling answers over the results
``react``,     none: each step sees every step before it (ReAct) or the question contracted
``aot``        from the previous step's answers (Atom of Thoughts), so nothing after a step
               could be kept
============== ===============================================================================

The re-run's result replaces the previous one in a conversation
(:meth:`Conversation.rerun <forethought.agents.conversation.Conversation.arerun>`): its
messages are the previous run's history followed by the new exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forethought.exceptions import UserError
from forethought.planners.base import Planner, RerunTarget
from forethought.search.base import Strategy, make_strategy

if TYPE_CHECKING:
    from forethought.agents.agent import AgentResult
    from forethought.models.messages import Message

StrategySpec = Strategy | str | Mapping[str, Any]
"""A strategy, its name, or a mapping with ``kind`` and its options."""


@dataclass(kw_only=True, frozen=True)
class Replay:
    """What a run's result keeps so that one of its nodes can be re-run."""

    planner: str
    """The name of the planner that made the run (a re-run needs the same kind)."""
    asked: str
    """The question as the planner saw it (with the conversation so far, if any)."""
    state: Any
    """The planner's record of the run (:attr:`PlanOutcome.state`)."""


@dataclass(kw_only=True, frozen=True)
class RerunRequest:
    """One re-run, checked before it starts."""

    previous_run: str
    replay: Replay
    node: str
    strategy: Strategy | None

    def meta(self) -> dict[str, Any]:
        """What the run store records about it with the new run's settings."""
        shown = None if self.strategy is None else repr(self.strategy)
        return {"rerun_of": self.previous_run, "node": self.node, "strategy": shown}


def _replay(planner: Planner, previous: AgentResult[Any]) -> Replay:
    replay = previous.replay
    if replay is None:
        raise UserError(f"run {previous.run_id} kept nothing to re-run: its planner "
                        f"{planner.name!r} cannot re-run nodes ({planner.cannot_rerun}), or "
                        f"the run ended before its planner had done anything")
    if replay.planner != planner.name:
        raise UserError(f"run {previous.run_id} was made by planner {replay.planner!r}; this "
                        f"agent's planner is {planner.name!r}, which cannot re-run its nodes")
    return replay


def rerun_targets(planner: Planner, previous: AgentResult[Any]) -> list[RerunTarget]:
    """The nodes of ``previous`` that ``planner`` can run again."""
    return planner.rerun_targets(_replay(planner, previous).state)


def make_rerun(planner: Planner, previous: AgentResult[Any], node: str,
               strategy: StrategySpec | None) -> RerunRequest:
    """Check a re-run of ``node`` of ``previous`` (errors name the valid nodes)."""
    replay = _replay(planner, previous)
    if not isinstance(node, str) or not node.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
        raise UserError(f"which node? a node is a non-empty name, got {node!r}")
    targets = planner.rerun_targets(replay.state)
    if node not in {t.node for t in targets}:
        valid = ", ".join(t.node for t in targets) or "none"
        raise UserError(f"run {previous.run_id} has no node {node!r} to re-run; its nodes: "
                        f"{valid}")
    chosen = None if strategy is None else make_strategy(strategy)
    return RerunRequest(previous_run=previous.run_id, replay=replay, node=node,
                        strategy=chosen)


def split_history(previous: AgentResult[Any]) -> tuple[str, list[Message]]:
    """The question ``previous`` answered and the history it was given."""
    new = previous.new_messages
    if not new or new[0].role != "user":
        raise UserError(f"run {previous.run_id} has no question in its messages; it cannot "
                        f"be re-run")
    return new[0].content, list(previous.messages[:len(previous.messages) - len(new)])
