"""Driving a step machine without models or an event loop: the way to test a strategy's exact
behaviour, and to replay it under any latencies, deterministically.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection
from typing import Any

from forethought.exceptions import UserError
from forethought.search.protocol import (
    Action,
    Arrival,
    Arrivals,
    Cancel,
    Launch,
    Launched,
    Outcome,
    StepMachine,
    Wait,
)

Latency = Callable[[Action, int], float]
"""Seconds an action takes, given it and its ticket (for a plain batch, its position)."""


class _Clock:
    """Launched actions on a simulated clock: each completes ``latency`` after its launch and
    is answered then (in completion order, launch order on a tie).
    """

    def __init__(self, respond: Callable[[Action], Outcome], latency: Latency | None) -> None:
        self.respond = respond
        self.latency = latency
        self.now = 0.0
        self.next = 0
        self.due: list[tuple[float, int]] = []
        self.actions: dict[int, Action] = {}
        self.arrived: dict[int, Outcome] = {}

    def batch(self, actions: list[Action]) -> list[Outcome]:
        """A plain batch: answered in order, the clock moved on by its slowest action."""
        if self.latency is not None and actions:
            self.now += max(self.latency(a, i) for i, a in enumerate(actions))
        return [self.respond(a) for a in actions]

    def launch(self, command: Launch) -> Launched:
        first = self.next
        for action in command.actions:
            delay = 0.0 if self.latency is None else self.latency(action, self.next)
            if delay < 0:
                raise UserError(f"latency of {action!r} is {delay!r}; it must be >= 0")
            heapq.heappush(self.due, (self.now + delay, self.next))
            self.actions[self.next] = action
            self.next += 1
        return Launched(tickets=range(first, self.next), at=self.now)

    def _complete_until(self, time: float) -> list[int]:
        done: list[int] = []
        while self.due and self.due[0][0] <= time:
            _, ticket = heapq.heappop(self.due)
            action = self.actions.pop(ticket, None)
            if action is not None:  # else cancelled
                self.arrived[ticket] = self.respond(action)
                done.append(ticket)
        return done

    def _next_due(self) -> float | None:
        while self.due and self.due[0][1] not in self.actions:  # cancelled
            heapq.heappop(self.due)
        return self.due[0][0] if self.due else None

    def _check(self, tickets: Collection[int], command: str) -> None:
        for t in tickets:
            if not 0 <= t < self.next:
                raise UserError(f"{command} names ticket {t!r}, which was never launched "
                                f"(tickets launched: 0 to {self.next - 1})")

    def wait(self, command: Wait) -> Arrivals:
        self._check(command.tickets, "Wait")
        watch = set(command.tickets)
        self._complete_until(self.now)  # what is due has completed, named or not
        ready = sum(1 for t in watch if t in self.arrived)
        flying = sum(1 for t in watch if t in self.actions)
        need = min(command.at_least, ready + flying)
        while ready < need:
            when = self._next_due()
            if when is None:
                break
            if command.until is not None and when > command.until:
                self.now = max(self.now, command.until)
                break
            self.now = max(self.now, when)
            ready += sum(1 for t in self._complete_until(self.now) if t in watch)
        got = sorted(t for t in self.arrived if t in watch)
        return Arrivals(items=[Arrival(ticket=t, outcome=self.arrived.pop(t)) for t in got],
                        now=self.now)

    def cancel(self, command: Cancel) -> list[int]:
        self._check(command.tickets, "Cancel")
        stopped: list[int] = []
        for t in sorted(command.tickets):
            self.arrived.pop(t, None)
            if self.actions.pop(t, None) is not None:
                stopped.append(t)
        return stopped


def run_offline(machine: StepMachine, respond: Callable[[Action], Outcome], *,
                latency: Latency | None = None) -> Any:
    """Drive ``machine`` with a function that answers each action synchronously: the way to
    test a strategy's exact behaviour without models or an event loop.

    Plain batches are answered in order. Launched actions are answered when they complete:
    without ``latency`` all at once, in launch order, at the machine's next :class:`Wait`
    (so a streaming machine sees what a batch would have given it); with ``latency`` on a
    simulated clock, each ``latency(action, ticket)`` seconds after its launch. Cancelled
    actions are never answered.
    """
    clock = _Clock(respond, latency)
    try:
        step = next(machine)
        while True:
            if isinstance(step, list):
                step = machine.send(clock.batch(step))
            elif isinstance(step, Launch):
                step = machine.send(clock.launch(step))
            elif isinstance(step, Wait):
                step = machine.send(clock.wait(step))
            elif isinstance(step, Cancel):  # pyright: ignore[reportUnnecessaryIsInstance]
                step = machine.send(clock.cancel(step))
            else:
                raise TypeError(f"a step machine yielded {step!r}: a list of actions, "
                                f"Launch, Wait or Cancel were expected")
    except StopIteration as stop:
        return stop.value
