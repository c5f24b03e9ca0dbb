"""The Ray backend: each instance is a Ray task on a cluster (``--backend ray``).

Ray schedules the tasks and retries those whose worker died (``max_retries``); the driver keeps
a window of tasks in flight, and as each returns it writes the run (with its events) to the
run store and commits the result, exactly as the local backend does, so resume works the
same. Without an address a local Ray starts on 127.0.0.1 (no dashboard) and stops at the end.

The dataset budget is accounted on the driver: every returned instance's spending counts
against it, and no instance is dispatched once it is spent. Calls are not admitted across
machines one by one, so the instances in flight when the cap is reached can each take it
further, by at most their own per-instance budget.

A local Ray binds 127.0.0.1 only; an ``--address`` is checked first (a TCP connection and a
gRPC greeting, a few seconds at most) because Ray itself retries an address that does not
answer for minutes.

Ray is the ``ray`` extra (``pip install 'forethought[ray]'``), imported only here.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from forethought.eval.datasets import Instance
from forethought.eval.results import InstanceResult
from forethought.eval.resume import Session
from forethought.eval.runner import Backend, OnResult
from forethought.exceptions import UserError
from forethought.models.messages import Usage
from forethought.runtime.budget import BudgetTracker
from forethought.runtime.store import RunStore

CONNECT_TIMEOUT_S = 3.0
MAX_RETRIES = 3
"""Times Ray reruns an instance whose worker died (its own default, made explicit)."""


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
"""An HTTP/2 client preface and an empty SETTINGS frame: a gRPC server (Ray's GCS, the Ray
client server) answers with a SETTINGS frame of its own."""


def import_ray(*, local: bool = False) -> Any:
    """Ray, or a :class:`UserError` naming the extra to install.

    ``local``: a cluster is about to start in this process, so Ray is told it is a single
    machine: it then binds 127.0.0.1 only, instead of every interface (read when Ray is first
    imported).
    """
    # Under `uv run`, Ray would otherwise package the working directory as the workers'
    # environment (and refuse a recipe run from outside the project). forethought ships the
    # recipe text itself; workers use this interpreter (a local cluster) or their own
    # installation of forethought (a remote one). Set it to 1 to get Ray's behaviour back.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    if local:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install 'forethought[ray]' (or uv sync "
                        "--extra ray)") from None


def check_address(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail within seconds with a clear error when no Ray cluster answers at ``address``
    (``host:port`` or ``ray://host:port``; ``auto`` is left to Ray): nothing listens, or what
    listens does not speak gRPC (Ray itself would retry for minutes).
    """
    if address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise UserError(f"Ray address {address!r} is not host:port (or ray://host:port)")
    hint = "start a cluster with `ray start --head`, or leave out --address for a local one"
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise UserError(f"Ray address {address!r} does not answer ({reason} within "
                        f"{timeout_s:g}s); {hint}") from None
    head = b""
    with sock:
        try:
            sock.settimeout(timeout_s)
            sock.sendall(_HTTP2_PREFACE)
            while len(head) < 9:
                chunk = sock.recv(9 - len(head))
                if not chunk:
                    break
                head += chunk
        except OSError:  # silence, or the connection dropped: not a gRPC server
            pass
    if len(head) < 9 or head[3] != 0x04:
        raise UserError(f"Ray address {address!r} answers, but not as a Ray cluster (no gRPC "
                        f"reply within {timeout_s:g}s); {hint}")


class RayBackend(Backend):
    name = "ray"

    def __init__(self, *, address: str | None = None, concurrency: int | None = None,
                 num_cpus: int = 2, max_retries: int = MAX_RETRIES) -> None:
        """Args:
        address: A running cluster (``host:port``, ``ray://host:port`` or ``auto``); ``None``
            starts a local Ray with ``num_cpus`` CPUs on 127.0.0.1.
        concurrency: Tasks in flight (default: twice the cluster's CPUs).
        max_retries: Reruns of an instance whose worker died.
        """
        self.address = address
        self.concurrency = concurrency
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self._ray: Any = None
        self._started = False

    def connect(self) -> Any:
        """Connect to the cluster (or start the local one) once."""
        if self._ray is not None:
            return self._ray
        ray = import_ray(local=self.address is None)
        if not ray.is_initialized():
            if self.address is not None:
                check_address(self.address)
                ray.init(address=self.address, logging_level=logging.WARNING,
                         configure_logging=True)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False,
                         _node_ip_address="127.0.0.1", logging_level=logging.WARNING,
                         configure_logging=True)
            self._started = True
        self._ray = ray
        return ray

    def window(self, ray: Any) -> int:
        if self.concurrency is not None:
            return self.concurrency
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return max(2, 2 * cpus)

    async def run(self, session: Session, instances: Sequence[Instance], on_result: OnResult,
                  dataset_budget: BudgetTracker) -> None:
        from forethought.eval.ray_worker import TaskOutcome, run_instance

        ray = self.connect()  # in the main thread: Ray installs its signal handlers there
        task = ray.remote(max_retries=self.max_retries, retry_exceptions=False)(run_instance)
        spec_ref = ray.put(session.spec.to_json())
        window = self.window(ray)
        runs = RunStore(session.store.path)
        in_flight: dict[asyncio.Future[Any], Instance] = {}

        def submit(instance: Instance) -> None:
            ref = task.remote(spec_ref, instance)
            in_flight[asyncio.wrap_future(ref.future())] = instance

        async def collect() -> None:
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                instance = in_flight.pop(future)
                try:
                    outcome: TaskOutcome = future.result()
                except Exception as exc:  # noqa: BLE001 - retries exhausted: the instance failed
                    on_result(_failed(instance, exc, self.max_retries))
                    continue
                _deliver(outcome, runs, on_result, dataset_budget)

        try:
            for instance in instances:
                while len(in_flight) >= window:
                    await collect()
                if dataset_budget.exhausted() is not None:
                    break
                submit(instance)
            while in_flight:
                await collect()
        finally:
            for future in in_flight:
                future.cancel()
            runs.close()

    async def close(self) -> None:
        if self._ray is not None and self._started:
            await asyncio.to_thread(self._ray.shutdown)
        self._ray = None


def _deliver(outcome: Any, runs: RunStore, on_result: OnResult,
             dataset_budget: BudgetTracker) -> None:
    """Record the run the worker made, count its spending, hand the result on."""
    run = outcome.run
    if outcome.result is None:
        return
    result = InstanceResult.from_dict(outcome.result)
    if run is not None:
        runs.start_run(run.run_id, question=run.question, meta=run.meta)
        for event in run.events:
            runs.record(event)
        u = result.usage
        runs.finish_run(run.run_id, status=result.status, answer=result.answer,
                        error=result.error, usage={
                            "prompt_tokens": u.prompt_tokens,
                            "completion_tokens": u.completion_tokens,
                            "cost_usd": u.cost_usd, "model_calls": u.model_calls})
    dataset_budget.spent.add(Usage(prompt_tokens=result.usage.prompt_tokens,
                                   completion_tokens=result.usage.completion_tokens,
                                   cost_usd=result.usage.cost_usd,
                                   model_calls=result.usage.model_calls))
    dataset_budget.started_calls += result.usage.model_calls
    on_result(result)


def _failed(instance: Instance, exc: BaseException, retries: int) -> InstanceResult:
    message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return InstanceResult(id=instance.id, index=instance.index, question=instance.question,
                          answer=None, reference=instance.reference, correct=False, score=0.0,
                          status="error", tags=instance.tags,
                          error=f"ray task failed (retried {retries} times): "
                                f"{type(exc).__name__}: {message}")

