"""Typed events emitted at every step of a run, and the bus that delivers them.

Subscribers (the run store, progress bars, the REPL, tracing) receive each event
synchronously in emission order; they must be quick and must not raise. Streamed model text
(:class:`ModelTextDelta`) goes only to subscribers that ask for it, so that nobody pays for
it (events, a streaming transport) unless someone watches it.

Model and tool call events carry the call's content (the request, the response, the tool's
result) as references to the objects the run already holds, so building an event copies
nothing. These *content fields* are left out of :meth:`Event.to_dict`: a subscriber that
keeps content (the run store unless it keeps metadata only, the OpenTelemetry exporter when
content is opted in) converts them itself, with :mod:`forethought.runtime.call_content`.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forethought.models.messages import ModelRequest, ModelResponse, Usage

_CONTENT = {"content": True}
"""Field metadata marking a content field (see the module docstring)."""


@dataclass(kw_only=True, slots=True)
class Event:
    """Base of all events."""

    kind: str = "event"
    run_id: str = ""
    node_id: str | None = None
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """Every metadata field by name, a :class:`Usage` as a dict of its counters (content
        fields, marked ``metadata={"content": True}``, are left out).
        """
        to_dict = _TO_DICT.get(type(self))
        if to_dict is None:
            to_dict = _TO_DICT[type(self)] = _compile_to_dict(type(self))
        return to_dict(self)


def _usage_as_dict(value: Any) -> Any:
    if isinstance(value, Usage):
        return {"prompt_tokens": value.prompt_tokens,
                "completion_tokens": value.completion_tokens,
                "cost_usd": value.cost_usd, "latency_s": value.latency_s,
                "model_calls": value.model_calls}
    return value


# Field annotations whose values are never a Usage: to_dict copies them as they are.
_PLAIN = frozenset({"str", "int", "float", "bool", "str | None", "int | None", "float | None",
                    "bool | None", "tuple[str, ...]"})
_TO_DICT: dict[type[Event], Callable[[Event], dict[str, Any]]] = {}


def _compile_to_dict(cls: type[Event]) -> Callable[[Event], dict[str, Any]]:
    """``to_dict`` for ``cls`` as one dict display (``{"kind": self.kind, ...}``), generated
    once per class as dataclasses generate ``__init__``. Every step of a run is serialised for
    the run store, and a loop of ``getattr`` calls over ``dataclasses.fields()`` costs 2-3x
    more; only fields whose annotation could hold a :class:`Usage` go through a conversion.
    """
    items = ", ".join(
        f"{f.name!r}: self.{f.name}" if str(f.type) in _PLAIN
        else f"{f.name!r}: _usage_as_dict(self.{f.name})"
        for f in dataclasses.fields(cls) if not f.metadata.get("content"))
    namespace: dict[str, Any] = {"_usage_as_dict": _usage_as_dict}
    # Nothing but field names (identifiers) goes into the source.
    exec(f"def to_dict(self):\n    return {{{items}}}\n", namespace)
    to_dict: Callable[[Event], dict[str, Any]] = namespace["to_dict"]
    return to_dict


@dataclass(kw_only=True, slots=True)
class RunStarted(Event):
    kind: str = "run_started"
    question: str = ""
    model: str = ""
    """The run's default model (empty when the emitter did not say)."""
    planner: str = ""


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
    request: ModelRequest | None = field(default=None, metadata=_CONTENT)
    """Content: the request as sent (messages, tools, settings)."""


@dataclass(kw_only=True, slots=True)
class ModelCallFinished(Event):
    kind: str = "model_call_finished"
    model: str = ""
    purpose: str | None = None
    call_id: int = 0
    usage: Usage = field(default_factory=Usage)
    cached: bool = False
    error: str | None = None
    warnings: tuple[str, ...] = ()
    """What the usage counts say was cut short (see :mod:`forethought.models.truncation`)."""
    response: ModelResponse | None = field(default=None, metadata=_CONTENT)
    """Content: the reply (every sample's text and tool calls); on a failure, what arrived
    before it (a stream cut short), else ``None``."""


@dataclass(kw_only=True, slots=True)
class ModelTextDelta(Event):
    """A chunk of a model call's reply as it streams (first sample only). Delivered only to
    subscribers registered with ``text=True``; while there is one, every single-sample call
    streams.
    """

    kind: str = "model_text_delta"
    call_id: int = 0
    """The call this chunk belongs to (as in :class:`ModelCallStarted`)."""
    purpose: str | None = None
    text: str = ""


@dataclass(kw_only=True, slots=True)
class ToolCallStarted(Event):
    kind: str = "tool_call_started"
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict[str, Any])
    call_id: int = 0
    """Pairs the start with its finish (tool calls are numbered apart from model calls)."""


@dataclass(kw_only=True, slots=True)
class ToolCallFinished(Event):
    kind: str = "tool_call_finished"
    tool: str = ""
    output: str = ""
    """The output as shown to the model, cut to 500 characters."""
    error: str | None = None
    duration_s: float = 0.0
    call_id: int = 0
    result: Any = field(default=None, metadata=_CONTENT)
    """Content: the tool's return value, whole."""


@dataclass(kw_only=True, slots=True)
class BudgetExhausted(Event):
    kind: str = "budget_exhausted"
    reason: str = ""
    spent: Usage = field(default_factory=Usage)


@dataclass(kw_only=True, slots=True)
class StrategyStep(Event):
    """A search strategy's step machine ran one batch of actions (its progress)."""

    kind: str = "strategy_step"
    step: int = 0
    """Batches run so far in this search, this one included."""
    actions: dict[str, int] = field(default_factory=dict[str, int])
    """Actions of the batch by tag (``{"propose": 4, "value": 12}``; untagged: ``""``)."""
    failed: int = 0
    """Actions of the batch that failed (budget refusals included)."""
    budget_hit: bool = False
    candidates: int = 0
    """Final candidates (distinct solutions) the search has recorded so far."""
    best_score: float | None = None
    """The best score among them so far (``None``: none scored yet, e.g. a majority vote)."""
    best_answer: str | None = None
    """That candidate's answer."""


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

    __slots__ = ("_subscribers", "_text_subscribers", "run_id")

    def __init__(self, run_id: str = "") -> None:
        self.run_id = run_id
        self._subscribers: list[Subscriber] = []
        self._text_subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber, *, text: bool = False) -> Callable[[], None]:
        """Add ``subscriber`` (with ``text=True`` it also receives :class:`ModelTextDelta`
        events); returns a function that removes it.
        """
        self._subscribers.append(subscriber)
        if text:
            self._text_subscribers.append(subscriber)
        return lambda: self._drop(subscriber)

    def _drop(self, subscriber: Subscriber) -> None:
        for group in (self._subscribers, self._text_subscribers):
            if subscriber in group:
                group.remove(subscriber)

    @property
    def active(self) -> bool:
        """Whether anyone listens (hot paths skip building events otherwise)."""
        return bool(self._subscribers)

    @property
    def text_active(self) -> bool:
        """Whether anyone listens to streamed model text."""
        return bool(self._text_subscribers)

    def emit(self, event: Event) -> None:
        self._deliver(event, self._subscribers)

    def emit_text(self, event: ModelTextDelta) -> None:
        """Deliver a text chunk to the subscribers that asked for text."""
        self._deliver(event, self._text_subscribers)

    def _deliver(self, event: Event, subscribers: list[Subscriber]) -> None:
        event.run_id = self.run_id
        for subscriber in tuple(subscribers):
            try:
                subscriber(event)
            except Exception as exc:  # noqa: BLE001 - isolate subscribers from the run
                self._drop(subscriber)
                warnings.warn(f"event subscriber {subscriber!r} raised {exc!r} and was removed",
                              RuntimeWarning, stacklevel=3)
