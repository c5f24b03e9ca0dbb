"""What a step machine yields and receives: actions, their outcomes, and the streaming commands.

A machine yields either a plain *batch* (a list of actions; it receives their outcomes, in
order, once all are done) or one of three *commands*, for machines that use outcomes as they
arrive:

- :class:`Launch` starts actions without waiting; the machine receives :class:`Launched`, the
  actions' *tickets* (consecutive integers, in launch order, unique within one drive).
- :class:`Wait` receives outcomes of launched actions as they complete: at least
  ``at_least`` of the named tickets, and with them every other named one that has completed
  by then (a small group, in launch order), or fewer when the ``until`` time comes first.
- :class:`Cancel` stops launched actions the machine no longer needs. A model call cancelled
  at the provider is still charged its prompt by the run context.

Times are the driver's clock, in seconds since the drive began (``0.0`` throughout an offline
drive without latencies): a machine stays free of I/O and clocks, and reads time as data.
Use the typed helpers :func:`launch`, :func:`wait` and :func:`cancel` with ``yield from``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

from forethought.exceptions import BudgetExceeded, UserError
from forethought.models.messages import ModelRequest, Usage

if TYPE_CHECKING:
    from forethought.runtime.context import RunContext


@dataclass(kw_only=True, frozen=True, slots=True)
class Sample:
    """Draw ``n`` independent completions of ``request`` (one model call each)."""

    request: ModelRequest
    n: int = 1
    tag: str = ""
    """What this sample is for (``propose``, ``value``, ``vote``...), for traces."""


@dataclass(kw_only=True, frozen=True, slots=True)
class CallTool:
    """Call a registered tool (an exact verifier, a calculator...)."""

    tool: str
    args: dict[str, Any] = field(default_factory=dict[str, Any])
    tag: str = ""


@dataclass(kw_only=True, frozen=True, slots=True)
class Compute:
    """Run exact Python work: ``fn()``, sync (in a worker thread) or async."""

    fn: Callable[[], Any]
    tag: str = ""


@dataclass(kw_only=True, frozen=True, slots=True)
class Invoke:
    """Run async work that needs the run context: ``await fn(ctx)``. For agents whose work
    is a short conversation of its own (a structured reply with a repair turn, formal checks
    that call sandboxed tools, then a model judgement), so every call inside is still budgeted
    and observed through ``ctx``.
    """

    fn: Callable[[RunContext], Awaitable[Any]]
    tag: str = ""


Action: TypeAlias = Sample | CallTool | Compute | Invoke


@dataclass(kw_only=True, frozen=True, slots=True)
class Outcome:
    """What an action produced: ``value`` (a list of texts for a :class:`Sample`, the output
    otherwise) or the ``error`` that stopped it.
    """

    value: Any = None
    error: BaseException | None = None
    usage: Usage | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def budget_exceeded(self) -> bool:
        return isinstance(self.error, BudgetExceeded)

    @property
    def texts(self) -> list[str]:
        """The completions of a :class:`Sample` (those drawn before any failure)."""
        value: object = self.value
        if not isinstance(value, list):
            return []
        return [str(v) for v in cast(list[object], value)]


def budget_hit(outcomes: Sequence[Outcome]) -> bool:
    """Whether any outcome of a batch was refused for lack of budget."""
    return any(o.budget_exceeded for o in outcomes)


def merge(outcomes: Sequence[Outcome]) -> Outcome:
    """The outcomes of several one-call samples as one :class:`Sample`'s outcome: their texts
    in order, their usage summed, and one error: what one ``Sample(n=len(outcomes))`` would
    have produced from the same calls.
    """
    texts: list[str] = []
    usage = Usage()
    error: BaseException | None = None
    for o in outcomes:
        texts.extend(o.texts)
        if o.usage is not None:
            usage.add(o.usage)
        # The rule of one Sample's calls: the first error, unless a budget refusal follows.
        if o.error is not None and (error is None or o.budget_exceeded):
            error = o.error
    return Outcome(value=texts, error=error, usage=usage)


# --- streaming commands ---------------------------------------------------------------------

@dataclass(kw_only=True, frozen=True, slots=True)
class Launch:
    """Start ``actions`` now, without waiting for them."""

    actions: Sequence[Action]


@dataclass(kw_only=True, frozen=True, slots=True)
class Wait:
    """Receive outcomes of ``tickets`` as they complete.

    Returns once ``at_least`` of the named tickets not yet received have completed (all of
    them, if fewer are left), with every other named ticket completed by then; or at time
    ``until`` with what has completed, possibly nothing. Tickets already received or cancelled
    are skipped, so a machine may keep naming a whole step's tickets.
    """

    tickets: Collection[int]
    at_least: int = 1
    until: float | None = None
    """A time on the driver's clock (see :attr:`Launched.at`)."""

    def __post_init__(self) -> None:
        if self.at_least < 0:
            raise UserError(f"Wait.at_least must be >= 0, got {self.at_least!r}")


@dataclass(kw_only=True, frozen=True, slots=True)
class Cancel:
    """Stop ``tickets`` still in flight; outcomes of named tickets that completed but were not
    received are discarded.
    """

    tickets: Collection[int]


Command: TypeAlias = Launch | Wait | Cancel
Yielded: TypeAlias = list[Action] | Command
"""What a step machine may yield."""


@dataclass(kw_only=True, frozen=True, slots=True)
class Launched:
    """The reply to :class:`Launch`."""

    tickets: range
    """One per action, in order."""
    at: float
    """When they were launched, on the driver's clock."""


@dataclass(kw_only=True, frozen=True, slots=True)
class Arrival:
    """One launched action's outcome."""

    ticket: int
    outcome: Outcome


@dataclass(kw_only=True, frozen=True, slots=True)
class Arrivals:
    """The reply to :class:`Wait`: what completed, in launch order, and the time."""

    items: list[Arrival]
    now: float

    @property
    def budget_hit(self) -> bool:
        return any(a.outcome.budget_exceeded for a in self.items)


T = TypeVar("T")
StepMachine: TypeAlias = Generator[Yielded, Any, Any]
"""Yields batches of actions (receiving their outcomes) or commands (receiving their replies);
returns the machine's result."""
Flow: TypeAlias = Generator[Yielded, Any, T]
"""A step machine returning ``T``."""


def _expect(reply: object, kind: type[T], command: object) -> T:
    if not isinstance(reply, kind):
        raise TypeError(f"the driver answered {command!r} with {reply!r}, not a "
                        f"{kind.__name__}")
    return reply


def launch(actions: Sequence[Action]) -> Flow[Launched]:
    """Start ``actions``; their tickets and the launch time."""
    command = Launch(actions=actions)
    return _expect((yield command), Launched, command)


def wait(tickets: Collection[int], *, at_least: int = 1, until: float | None = None
         ) -> Flow[Arrivals]:
    """Outcomes of ``tickets`` as they complete (see :class:`Wait`)."""
    command = Wait(tickets=tickets, at_least=at_least, until=until)
    return _expect((yield command), Arrivals, command)


def cancel(tickets: Collection[int]) -> Flow[list[int]]:
    """Stop ``tickets``; the ones that were still in flight."""
    command = Cancel(tickets=tickets)
    reply = yield command
    if not isinstance(reply, list):
        raise TypeError(f"the driver answered {command!r} with {reply!r}, not a list")
    return cast(list[int], reply)
