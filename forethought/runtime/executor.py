"""The asyncio executor: runs every ready node at once, up to a concurrency limit.

Nodes may be added while the graph runs (streaming planners add tasks as they parse them);
:meth:`Executor.close` says no more will come. Failures follow a :class:`FailurePolicy`, the
budget is enforced by the :class:`RunContext` before every model call, and every step emits an
event.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, Literal

from forethought.exceptions import (
    BudgetExceeded,
    DependencyFailedError,
    GraphValidationError,
    NodeTimeoutError,
    UserError,
)
from forethought.models.messages import Message, ModelRequest
from forethought.runtime.collector import large_batch
from forethought.runtime.context import RunContext
from forethought.runtime.events import NodeAdded, NodeFailed, NodeFinished, NodeSkipped, NodeStarted
from forethought.runtime.graph import Subtask, TaskGraph, cycle_message, find_cycle, resolve
from forethought.runtime.rendering import render_output


class NodeStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


# Compared by identity in the hot paths: an enum member's hash is a Python-level call.
_PENDING, _RUNNING, _DONE = NodeStatus.PENDING, NodeStatus.RUNNING, NodeStatus.DONE

RunStatus = Literal["ok", "failed", "budget_exhausted", "cancelled"]


@dataclass(kw_only=True, frozen=True)
class FailurePolicy:
    """What happens when a node fails (after its retries)."""

    mode: Literal["fail_fast", "skip_dependants"] = "skip_dependants"
    """``fail_fast`` cancels the whole run; ``skip_dependants`` skips only what needs the failed
    node and lets independent work finish."""
    retries: int = 0
    """Extra attempts per node before it counts as failed."""
    retry_backoff_s: float = 0.0
    """Pause before each retry, doubled each time."""

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise UserError(f"FailurePolicy.retries must be >= 0, got {self.retries!r}")


@dataclass(kw_only=True, slots=True)
class NodeResult:
    id: str
    status: NodeStatus = NodeStatus.PENDING
    output: Any = None
    error: BaseException | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None


@dataclass(kw_only=True)
class GraphResult:
    """The outcome of running a graph; partial results are kept whatever the status."""

    status: RunStatus
    nodes: dict[str, NodeResult]
    error: BaseException | None = None
    """Why the run stopped early (the first failure under fail-fast, or the budget)."""

    @property
    def outputs(self) -> dict[str, Any]:
        return {k: r.output for k, r in self.nodes.items() if r.status is NodeStatus.DONE}

    def output(self, node_id: str) -> Any:
        result = self.nodes[node_id]
        if result.status is not NodeStatus.DONE:
            raise KeyError(f"node {node_id!r} has no output: {result.status.value}"
                           + (f" ({result.error})" if result.error else ""))
        return result.output

    def failed(self) -> dict[str, NodeResult]:
        return {k: r for k, r in self.nodes.items()
                if r.status in (NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.CANCELLED)}


@dataclass(slots=True, eq=False)
class _Node:
    """The executor's state for one node, reached by reference once the node is known: a
    large graph's bookkeeping then follows pointers instead of hashing the id into several
    dicts at every step.
    """

    subtask: Subtask | None
    """``None`` for a result registered by :meth:`Executor.add_result`."""
    result: NodeResult
    waiting: int = 0
    """Inputs not done yet."""
    dependants: list[_Node] | None = None
    """Nodes waiting for this one (``None`` until there is one)."""

    def take_dependants(self) -> list[_Node]:
        dependants = self.dependants
        self.dependants = None
        return dependants or []


def _in_given_order(subtask: Subtask) -> Iterable[str]:
    """The node's dependencies, in the order ``after`` lists them when that is all of them
    once each: usually the order the nodes were added, which is their order in memory. A
    100,000-input join then walks its inputs in that order rather than in the set's hash
    order, which misses the CPU caches at every step.
    """
    if not subtask.args and len(subtask.after) == len(subtask.deps):
        return subtask.after
    return subtask.deps


class Executor:
    """Runs a task graph on the current event loop. One executor runs one graph."""

    def __init__(self, ctx: RunContext, *, max_concurrency: int = 64,
                 policy: FailurePolicy | None = None, node_timeout_s: float | None = None) -> None:
        if max_concurrency < 1:
            raise UserError(f"max_concurrency must be >= 1, got {max_concurrency!r}")
        self.ctx = ctx
        self.max_concurrency = max_concurrency
        self.policy = policy or FailurePolicy()
        self.node_timeout_s = node_timeout_s
        self._state: dict[str, _Node] = {}
        self._outputs: dict[str, Any] = {}
        self._missing: dict[str, list[_Node]] = {}
        """Nodes waiting for an id that has not been added yet."""
        self._unchecked: list[str] = []
        """Nodes added by :meth:`add`, not yet checked for cycles (at :meth:`close`)."""
        self._ready: deque[_Node] = deque()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._closed = False
        self._stop: RunStatus | None = None
        self._stop_error: BaseException | None = None
        self._idle: asyncio.Event | None = None

    # -- building ---------------------------------------------------------------------------

    def add(self, subtask: Subtask) -> None:
        """Add a node; it starts as soon as its inputs exist. Raises
        :class:`GraphValidationError` for a duplicate id or an unknown tool.
        """
        self._add(subtask)
        self._unchecked.append(subtask.id)

    def _check_new(self, subtask: Subtask) -> None:
        node_id = subtask.id
        if self._closed:
            raise UserError(f"cannot add node {node_id!r}: the graph was closed")
        if node_id in self._state:
            raise GraphValidationError(f"duplicate node id {node_id!r}", node_id=node_id)
        if subtask.kind == "tool" and subtask.tool not in self.ctx.tools:
            raise GraphValidationError(
                f"node {node_id!r} calls unknown tool {subtask.tool!r}; available tools: "
                f"{', '.join(repr(n) for n in sorted(self.ctx.tools.names())) or '(none)'}",
                node_id=node_id)

    def _add(self, subtask: Subtask) -> None:
        self._check_new(subtask)
        node_id = subtask.id
        node = _Node(subtask, NodeResult(id=node_id))
        self._state[node_id] = node
        if self.ctx.events.active:
            self.ctx.events.emit(NodeAdded(node_id=node_id, node_kind=subtask.kind,
                                           deps=tuple(sorted(subtask.deps)),
                                           description=subtask.description))
        if self._stop is not None:
            self._settle(node, NodeStatus.CANCELLED, error=self._stop_error)
            return
        waiting = 0
        for dep in _in_given_order(subtask):
            other = self._state.get(dep)
            if other is None:
                missing = self._missing.get(dep)
                if missing is None:
                    self._missing[dep] = [node]
                else:
                    missing.append(node)
                waiting += 1
                continue
            status = other.result.status
            if status is _DONE:
                continue
            if status is not _PENDING and status is not _RUNNING:
                self._skip(node, dep)
                return
            if other.dependants is None:
                other.dependants = [node]
            else:
                other.dependants.append(node)
            waiting += 1
        for waiter in self._missing.pop(node_id, ()):
            if waiter.result.status is _PENDING:
                if node.dependants is None:
                    node.dependants = [waiter]
                else:
                    node.dependants.append(waiter)
        node.waiting = waiting
        if waiting == 0:
            self._ready.append(node)
            self._pump()

    def add_result(self, node_id: str, output: Any) -> None:
        """Register a node that already ran elsewhere (an earlier planning round), so new
        nodes can reference its output without running it again.
        """
        if node_id in self._state:
            raise GraphValidationError(f"duplicate node id {node_id!r}", node_id=node_id)
        result = NodeResult(id=node_id, status=NodeStatus.DONE, output=output)
        self._state[node_id] = _Node(None, result)
        self._outputs[node_id] = output
        for waiter in self._missing.pop(node_id, ()):
            waiter.waiting -= 1
            if waiter.waiting == 0 and waiter.result.status is _PENDING:
                self._ready.append(waiter)
        self._pump()

    def close(self) -> None:
        """No more nodes will be added: references to absent nodes and cycles now fail."""
        if self._closed:
            return
        self._closed = True
        for dep, waiters in sorted(self._missing.items()):
            for waiter in waiters:
                if waiter.result.status is _PENDING:
                    self._fail(waiter, GraphValidationError(
                        f"node {waiter.result.id!r} references ${dep}, which is not a node of "
                        "the graph", node_id=waiter.result.id))
        self._missing.clear()
        # Only nodes added one by one can be on a cycle: a graph given to run() was checked
        # whole, and its nodes depend only on each other.
        state = self._state
        pending: dict[str, frozenset[str]] = {}
        for node_id in self._unchecked:
            node = state[node_id]
            if node.result.status is _PENDING and node.subtask is not None:
                pending[node_id] = node.subtask.deps
        self._unchecked.clear()
        while cycle := find_cycle(pending):
            message = cycle_message(cycle)
            # Fail the whole cycle first, so its members are reported as the cycle rather than
            # as skipped dependants of each other; then skip what depends on them.
            for node_id in cycle:
                self._fail(state[node_id], GraphValidationError(message, node_id=node_id),
                           propagate=False)
            for node_id in cycle:
                for dependant in state[node_id].take_dependants():
                    self._skip(dependant, node_id)
            pending = {n: d for n, d in pending.items() if state[n].result.status is _PENDING}
        self._check_idle()

    # -- running ----------------------------------------------------------------------------

    async def run(self, graph: TaskGraph) -> GraphResult:
        """Validate ``graph`` (raising before anything runs), run it to the end, return results."""
        # A large graph's bookkeeping lives as long as the run: see collector.py.
        with large_batch(len(graph)):
            graph.validate(self.ctx.tools.names())
            for subtask in graph:
                self._add(subtask)
            self.close()
            return await self.join()

    async def join(self) -> GraphResult:
        """Wait until the graph is closed and every node has settled."""
        if self._idle is None:
            self._idle = asyncio.Event()
            self._check_idle()
        try:
            await self._idle.wait()
        except asyncio.CancelledError:
            self.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)
            raise
        return self.result()

    @property
    def results(self) -> dict[str, NodeResult]:
        """Every node's result so far, by id (a new dict each time)."""
        return {node_id: node.result for node_id, node in self._state.items()}

    def result(self) -> GraphResult:
        status: RunStatus = self._stop or "ok"
        nodes = self.results
        if status == "ok" and any(r.status is not _DONE for r in nodes.values()):
            status = "failed"
        return GraphResult(status=status, nodes=nodes, error=self._stop_error)

    def cancel(self) -> None:
        """Stop the run: running nodes are cancelled, pending ones will not start."""
        self._halt("cancelled", None, cancel_running=True)

    @property
    def outputs(self) -> dict[str, Any]:
        return self._outputs

    def _take_ready(self) -> _Node | None:
        """The next ready node, marked running, or None."""
        while self._ready and self._stop is None:
            node = self._ready.popleft()
            if node.result.status is _PENDING:
                node.result.status = _RUNNING
                return node
        return None

    def _pump(self) -> None:
        """Start workers for ready nodes, up to the concurrency limit."""
        loop = asyncio.get_running_loop()
        while len(self._running) < self.max_concurrency:
            node = self._take_ready()
            if node is None:
                return
            node_id = node.result.id
            task = loop.create_task(self._worker(node), name=f"forethought-worker-{node_id}")
            self._running[node_id] = task
            task.add_done_callback(partial(self._worker_done, node))

    def _worker_done(self, first: _Node, task: asyncio.Task[None]) -> None:
        """Clean up after a worker cancelled before its first step (by fail-fast or
        :meth:`cancel` right after its node became ready): its body, and so its ``finally``,
        never ran, and without this its node would stay running and :meth:`join` wait for ever.
        """
        node_id = first.result.id
        if not task.cancelled() or self._running.get(node_id) is not task:
            return  # the worker ran and cleaned up after itself
        del self._running[node_id]
        if first.result.status is _RUNNING:
            self._settle(first, NodeStatus.CANCELLED, error=self._stop_error)
        self._check_idle()

    async def _worker(self, first: _Node) -> None:
        """Run ``first``, then keep taking ready nodes: a chain runs in one task instead of
        paying a task creation per node, and a wide graph in at most ``max_concurrency``.
        """
        task = asyncio.current_task()
        assert task is not None
        current: _Node | None = first
        try:
            while current is not None:
                await self._run_node(current)
                self._running.pop(current.result.id, None)
                current = self._take_ready()
                if current is not None:
                    self._running[current.result.id] = task
                    if self._ready:
                        self._pump()  # more ready nodes than this worker can take
        finally:
            if current is not None:
                self._running.pop(current.result.id, None)
            self._pump()
            self._check_idle()

    async def _run_node(self, node: _Node) -> None:
        subtask = node.subtask
        assert subtask is not None
        result = node.result
        node_id = result.id
        retries = self.policy.retries if subtask.retries is None else subtask.retries
        timeout = subtask.timeout_s if subtask.timeout_s is not None else self.node_timeout_s
        events = self.ctx.events
        try:
            while True:
                result.attempts += 1
                start = time.perf_counter()
                if result.started_at is None:
                    result.started_at = start
                if events.active:
                    events.emit(NodeStarted(node_id=node_id, attempt=result.attempts))
                try:
                    inputs: dict[str, Any] = resolve(subtask.args, self._outputs) \
                        if subtask.deps and subtask.args else subtask.args
                    if timeout is None:
                        output = await self._dispatch(subtask, inputs)
                    else:
                        output = await self._with_timeout(subtask, inputs, timeout)
                except asyncio.CancelledError:
                    self._settle(node, NodeStatus.CANCELLED, error=self._stop_error)
                    return
                except BudgetExceeded as exc:
                    self._fail(node, exc)
                    self._halt("budget_exhausted", exc, cancel_running=False)
                    return
                except Exception as exc:  # noqa: BLE001 - a node's failure is data, not a crash
                    will_retry = result.attempts <= retries and self._stop is None
                    if not will_retry:
                        self._fail(node, exc)
                        return
                    if events.active:
                        events.emit(NodeFailed(node_id=node_id, error=str(exc),
                                               error_type=type(exc).__name__,
                                               attempt=result.attempts, will_retry=True))
                    backoff = self.policy.retry_backoff_s * 2 ** (result.attempts - 1)
                    if backoff:
                        await asyncio.sleep(backoff)
                    continue
                result.output = output
                self._outputs[node_id] = output
                if events.active:
                    events.emit(NodeFinished(node_id=node_id,
                                             output=render_output(output)[:500],
                                             duration_s=time.perf_counter() - start))
                self._settle(node, _DONE)
                return
        except BaseException:
            if result.status is _RUNNING:
                self._settle(node, NodeStatus.CANCELLED, error=self._stop_error)
            raise

    async def _with_timeout(self, subtask: Subtask, inputs: dict[str, Any], limit_s: float
                            ) -> Any:
        try:
            async with asyncio.timeout(limit_s):
                return await self._dispatch(subtask, inputs)
        except TimeoutError:
            raise NodeTimeoutError(f"node {subtask.id!r} timed out after {limit_s}s") from None

    def _dispatch(self, subtask: Subtask, inputs: dict[str, Any]) -> Awaitable[Any]:
        """The awaitable doing the node's work (a function node's own coroutine, not a
        wrapper around it: one frame less per node).
        """
        if subtask.kind == "tool":
            assert subtask.tool is not None
            return self.ctx.call_tool(subtask.tool, inputs, node_id=subtask.id)
        if subtask.kind == "llm" and subtask.fn is None:
            return self._complete(subtask, inputs)
        assert subtask.fn is not None
        return subtask.fn(self.ctx, inputs)

    async def _complete(self, subtask: Subtask, inputs: dict[str, Any]) -> str:
        messages: tuple[Message, ...] = (Message.user(str(inputs["prompt"])),)
        if "system" in inputs:
            messages = (Message.system(str(inputs["system"])), *messages)
        response = await self.ctx.complete(
            ModelRequest(messages=messages, purpose=str(inputs.get("purpose", "answer"))),
            node_id=subtask.id)
        return response.text

    # -- bookkeeping ------------------------------------------------------------------------

    def _settle(self, node: _Node, status: NodeStatus, *, error: BaseException | None = None
                ) -> None:
        result = node.result
        result.status = status
        result.error = error
        result.finished_at = time.perf_counter()
        if status is _DONE:
            for dependant in node.take_dependants():
                dependant.waiting -= 1
                if dependant.waiting == 0 and dependant.result.status is _PENDING:
                    self._ready.append(dependant)

    def _fail(self, node: _Node, error: BaseException, *, propagate: bool = True) -> None:
        if self.ctx.events.active:
            self.ctx.events.emit(NodeFailed(node_id=node.result.id, error=str(error),
                                            error_type=type(error).__name__,
                                            attempt=node.result.attempts))
        self._settle(node, NodeStatus.FAILED, error=error)
        if not propagate:
            return
        if self.policy.mode == "fail_fast" and not isinstance(error, BudgetExceeded):
            self._halt("failed", error, cancel_running=True)
        else:
            for dependant in node.take_dependants():
                self._skip(dependant, node.result.id)

    def _skip(self, node: _Node, because: str) -> None:
        # A worklist, not recursion: a 10,000-node chain behind a failed node is ordinary.
        stack = [(node, because)]
        while stack:
            node, because = stack.pop()
            if node.result.status is not _PENDING:
                continue
            node_id = node.result.id
            error = DependencyFailedError(f"node {node_id!r} skipped: its input ${because} "
                                          f"{self._state[because].result.status.value}")
            if self.ctx.events.active:
                self.ctx.events.emit(NodeSkipped(node_id=node_id, reason=str(error)))
            self._settle(node, NodeStatus.SKIPPED, error=error)
            stack.extend(reversed([(d, node_id) for d in node.take_dependants()]))

    def _halt(self, status: RunStatus, error: BaseException | None, *, cancel_running: bool
              ) -> None:
        if self._stop is None:
            self._stop = status
            self._stop_error = error
        self._ready.clear()
        for node in self._state.values():
            if node.result.status is _PENDING:
                self._settle(node, NodeStatus.CANCELLED, error=error)
        if cancel_running:
            for task in self._running.values():
                task.cancel()
        self._check_idle()

    def _check_idle(self) -> None:
        if self._idle is None or self._running or not self._closed:
            return
        if self._ready and self._stop is None:
            return
        self._idle.set()
