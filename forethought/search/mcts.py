"""Monte Carlo tree search over reasoning steps, with UCT selection.

Kocsis and Szepesvári, 2006, "Bandit Based Monte-Carlo Planning" (UCT); applied to language
reasoning by Hao et al., 2023, "Reasoning with Language Model is Planning with World Model"
(RAP, arXiv:2305.14992) and Zhou et al., 2024, "Language Agent Tree Search" (LATS,
arXiv:2310.04406). Each simulation selects a leaf by UCT (mean value plus
``exploration * sqrt(ln N_parent / N_child)``), expands it with ``width`` proposed steps,
evaluates every new child either with the task's scorer (``evaluation="value"``, LATS's value
function) or by rolling it out to a complete solution and scoring that
(``evaluation="rollout"``), and backs the values up to the root. Final states and dead ends are
not selected again (revisiting them teaches nothing), so every simulation expands a new node.
The answer is the best-scored complete solution found (LATS returns the highest-reward terminal
state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import pydantic

from forethought.search.base import StrategyResult
from forethought.search.ops import (
    Block,
    SearchLog,
    SearchStrategy,
    expand,
    rollout,
    score,
)
from forethought.search.task import SearchTask, State


class MCTSOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    simulations: int = pydantic.Field(default=16, ge=1, le=100_000, strict=True)
    """Select-expand-evaluate-backup iterations."""
    width: int = pydantic.Field(default=3, ge=1, le=256, strict=True)
    """Children proposed when a leaf is expanded (LATS: n = 5)."""
    exploration: float = pydantic.Field(default=1.0, ge=0, le=100)
    """The UCT constant c (LATS uses 1; sqrt(2) is the textbook value for rewards in [0, 1])."""
    evaluation: Literal["rollout", "value"] = "rollout"
    """Estimate a new child with the task's scorer, or by one rollout to a complete solution
    scored by the task's scorer."""
    accept: float | None = pydantic.Field(default=None, ge=0, le=1)
    """Stop as soon as a complete solution scores at least this (e.g. 1.0 with an exact
    verifier); ``None``: run every simulation."""


@dataclass(kw_only=True, eq=False)
class _Node:
    state: State
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list["_Node"])
    visits: int = 0
    total: float = 0.0
    expanded: bool = False
    reward: float = 0.0
    """The node's own evaluation."""
    exhausted: bool = False
    """Nothing more to learn below: a final state, a dead end, or all children exhausted."""

    @property
    def mean(self) -> float:
        return self.total / self.visits if self.visits else 0.0

    def uct(self, c: float) -> float:
        if self.visits == 0 or self.parent is None:
            return math.inf
        return self.mean + c * math.sqrt(math.log(max(1, self.parent.visits)) / self.visits)

    def backup(self, value: float) -> None:
        node: _Node | None = self
        while node is not None:
            node.visits += 1
            node.total += value
            node = node.parent


class MCTS(SearchStrategy[MCTSOptions]):
    """Monte Carlo tree search with UCT: ``simulations`` iterations of select, expand by
    ``width`` children, evaluate, back up.

    Calls per simulation: ``width`` proposals plus ``width`` evaluations (scores, or rollouts
    and their scores).
    """

    name: ClassVar[str] = "mcts"
    Options: ClassVar[type[pydantic.BaseModel]] = MCTSOptions

    def _select(self, root: _Node) -> _Node | None:
        """The leaf to expand: down the tree by UCT, never into an exhausted subtree (a final
        state or dead end, or one whose children are all exhausted); ``None`` when the whole
        tree is exhausted.
        """
        while not root.exhausted:
            node = root
            while node.expanded:
                options = [ch for ch in node.children if not ch.exhausted]
                if not options:
                    node.exhausted = True
                    break
                node = max(options, key=lambda ch: ch.uct(self.options.exploration))
            else:
                return node
        return None

    def _search(self, task: SearchTask, log: SearchLog) -> Block[StrategyResult]:
        o = self.options
        root = _Node(state=task.root())
        for sim in range(o.simulations):
            leaf = self._select(root)
            if leaf is None:
                log.stats["exhausted"] = 1
                break
            log.stats["simulations"] = sim + 1
            leaf.expanded = True
            children = (yield from expand(task, log, [leaf.state], [o.width]))[0]
            if not children:
                log.stats["dead_ends"] += 1
                leaf.exhausted = True
                leaf.backup(0.0)
                continue
            values = yield from self._evaluate(task, log, children)
            for state, value in zip(children, values, strict=True):
                child = _Node(state=state, parent=leaf, reward=value, exhausted=state.final)
                leaf.children.append(child)
                child.backup(value)
            if o.accept is not None and any(
                    c.score is not None and c.score >= o.accept for c in log.candidates):
                log.stats["accepted"] = 1
                break
        return log.result()

    def _evaluate(self, task: SearchTask, log: SearchLog, children: list[State]
                  ) -> Block[list[float]]:
        if self.options.evaluation == "value":
            scores = yield from score(task, log, children)
            return [x or 0.0 for x in scores]
        partial = [c for c in children if not c.final]
        finished = yield from rollout(task, log, partial, 1)
        ends = {id(c): (group[0] if group else None) for c, group in
                zip(partial, finished, strict=True)}
        to_score = [c for c in children if c.final] + [e for e in ends.values() if e is not None]
        scores = yield from score(task, log, to_score)
        by_id = {id(s): x or 0.0 for s, x in zip(to_score, scores, strict=True)}
        values: list[float] = []
        for child in children:
            target = child if child.final else ends[id(child)]
            values.append(0.0 if target is None else by_id[id(target)])
        return values
