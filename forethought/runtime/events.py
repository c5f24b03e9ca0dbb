"""Typed events emitted at every step of a run, and the bus that delivers them.

Subscribers (the run store, progress bars, the REPL, tracing) receive each event
synchronously in emission order; they must be quick and must not raise.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forethought.models.messages import Usage


@dataclass(kw_only=True, slots=True)
class Event:
    """Base of all events."""

    kind: str = "event"
    run_id: str = ""
    node_id: str | None = None
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if isinstance(value, Usage):
                value = {"prompt_tokens": value.prompt_tokens,
                         "completion_tokens": value.completion_tokens,
                         "cost_usd": value.cost_usd, "latency_s": value.latency_s,
                         "model_calls": value.model_calls}
            out[name] = value
        return out


_FIELD_NAMES: dict[type[Event], tuple[str, ...]] = {}


def _field_names(cls: type[Event]) -> tuple[str, ...]:
    # dataclasses.fields() rebuilds its tuple on every call; events are serialised per step.
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclass(kw_only=True, slots=True)
class RunStarted(Event):
    kind: str = "run_started"
    question: str = ""


@dataclass(kw_only=True, slots=True)
class RunFinished(Event):
    kind: str = "run_finished"
    status: str = "ok"
    """``ok``, ``failed``, ``budget_exhausted`` or ``cancelled``."""
    answer: str | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None


@dataclass(kw_only=True, slots=True)
class NodeAdded(Event):
    kind: str = "node_added"
    node_kind: str = ""
    deps: tuple[str, ...] = ()
    description: str = ""


@dataclass(kw_only=True, slots=True)
class NodeStarted(Event):
    kind: str = "node_started"
    attempt: int = 1


@dataclass(kw_only=True, slots=True)
class NodeFinished(Event):
    kind: str = "node_finished"
    output: str = ""
    """A short rendering of the output."""
    duration_s: float = 0.0


@dataclass(kw_only=True, slots=True)
class NodeFailed(Event):
    kind: str = "node_failed"
    error: str = ""
    error_type: str = ""
    attempt: int = 1
    will_retry: bool = False


@dataclass(kw_only=True, slots=True)
class NodeSkipped(Event):
    kind: str = "node_skipped"
    reason: str = ""


@dataclass(kw_only=True, slots=True)
class ModelCallStarted(Event):
    kind: str = "model_call_started"
    model: str = ""
    purpose: str | None = None
    call_id: int = 0


@dataclass(kw_only=True, slots=True)
class ModelCallFinished(Event):
    kind: str = "model_call_finished"
    model: str = ""
    purpose: str | None = None
    call_id: int = 0
    usage: Usage = field(default_factory=Usage)
    cached: bool = False
    error: str | None = None


@dataclass(kw_only=True, slots=True)
class ToolCallStarted(Event):
    kind: str = "tool_call_started"
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass(kw_only=True, slots=True)
class ToolCallFinished(Event):
    kind: str = "tool_call_finished"
    tool: str = ""
    output: str = ""
    error: str | None = None
    duration_s: float = 0.0


@dataclass(kw_only=True, slots=True)
class BudgetExhausted(Event):
    kind: str = "budget_exhausted"
    reason: str = ""
    spent: Usage = field(default_factory=Usage)


@dataclass(kw_only=True, slots=True)
class PlannerEvent(Event):
    """Something a planner decided: a plan parsed, a re-plan, a fallback."""

    kind: str = "planner"
    action: str = ""
    detail: str = ""


@dataclass(kw_only=True, slots=True)
class ConstraintsExtracted(Event):
    """The constraints an instance will be verified against, or why there are none (then the
    instance runs unguided).
    """

    kind: str = "constraints_extracted"
    source: str = ""
    """``task`` (the task supplied them), ``model:<name>`` (the constraint agent), or ``none``."""
    family: str = ""
    count: int = 0
    hard: int = 0
    formal: int = 0
    """Constraints with a formal check (z3, Python, registered)."""
    ids: tuple[str, ...] = ()
    guided: bool = True
    """``False``: no usable constraint set; the instance runs unguided."""
    error: str | None = None
    """Why extraction failed (the validation error after the repair turn, the call's error)."""


@dataclass(kw_only=True, slots=True)
class SelectionDecision(Event):
    """The selection agent chose a strategy (an *arm*) for an instance, and why: the
    complexity estimate and every arm's score under the bandit.
    """

    kind: str = "selection_decision"
    family: str = ""
    bin: str = ""
    """The complexity bin the statistics are kept under."""
    complexity: float = 0.0
    rating: float | None = None
    """The model's complexity rating in [0, 1] (``None``: it gave none)."""
    features: dict[str, float] = field(default_factory=dict[str, float])
    method: str = ""
    """``ucb`` or ``thompson``."""
    arms: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """Per arm: name, pulls, mean reward, prior, exploration bonus, score, and whether it was
    available (an arm already tried on this instance is not)."""
    chosen: str = ""
    round: int = 1
    """1 for the first choice; more when Mixture of Algorithms switched."""
    reason: str = ""


@dataclass(kw_only=True, slots=True)
class ArmFinished(Event):
    """What a chosen strategy produced for the instance, and the reward the bandit learnt."""

    kind: str = "arm_finished"
    arm: str = ""
    answer: str | None = None
    verified: bool | None = None
    score: float | None = None
    reward: float | None = None
    """What the bandit learnt: quality minus the cost of the calls spent (an arm cut short by
    the budget counts with what it found and what it spent)."""
    model_calls: int = 0
    tokens: int = 0
    status: str = ""


Subscriber = Callable[[Event], None]


class EventBus:
    """Delivers events to subscribers in order. A subscriber that raises is reported once
    with a warning and then dropped, so a broken progress bar cannot break a run.
    """

    __slots__ = ("_subscribers", "run_id")

    def __init__(self, run_id: str = "") -> None:
        self.run_id = run_id
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add ``subscriber``; returns a function that removes it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber) if subscriber in self._subscribers \
            else None

    @property
    def active(self) -> bool:
        """Whether anyone listens (hot paths skip building events otherwise)."""
        return bool(self._subscribers)

    def emit(self, event: Event) -> None:
        event.run_id = self.run_id
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(event)
            except Exception as exc:  # noqa: BLE001 - isolate subscribers from the run
                self._subscribers.remove(subscriber)
                warnings.warn(f"event subscriber {subscriber!r} raised {exc!r} and was removed",
                              RuntimeWarning, stacklevel=2)
