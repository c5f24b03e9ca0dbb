"""Evaluating from Python: open a session (new or resumed), run it, get the report.

The command line is a thin shell over these functions::

    from forethought.eval import evaluate

    report = evaluate("recipes/game24_eval.yaml", limit=20)
    print(report.summary.total.accuracy, report.results_path)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forethought._sync import run_sync
from forethought.eval.plan import Overrides, spec_from_recipe
from forethought.eval.report import write_results
from forethought.eval.results import InstanceResult, Summary, summarise
from forethought.eval.resume import Session, resume, resume_latest, start
from forethought.eval.runner import Backend, SessionOutcome, Sink, run_session
from forethought.eval.store import EvalStore
from forethought.exceptions import UserError


@dataclass(kw_only=True)
class EvalReport:
    """What an eval session produced (the results cover every session of the eval)."""

    eval_id: str
    total: int
    """Instances the eval selected."""
    results: list[InstanceResult]
    """Every finished instance, in dataset order."""
    summary: Summary
    outcome: SessionOutcome
    results_path: Path | None

    @property
    def complete(self) -> bool:
        return len(self.results) == self.total


def open_session(store: EvalStore, *, recipe: Path | None = None, eval_id: str | None = None,
                 overrides: Overrides | None = None, resume_eval: bool = False,
                 retry_failed: bool = False, strict: bool = False) -> Session:
    """A new eval of ``recipe``, or ``eval_id`` (or the latest eval of ``recipe`` with
    ``resume_eval``) taken up where it stopped; ``retry_failed`` reruns only failed instances.
    """
    if eval_id is not None:
        if recipe is not None:
            raise UserError("name a recipe or an eval id to resume, not both")
        return resume(store, store.get(eval_id), retry_failed=retry_failed, strict=strict)
    if recipe is None:
        raise UserError("name a recipe file (or an eval id with --resume)")
    spec = spec_from_recipe(recipe, overrides or Overrides())
    if resume_eval or retry_failed:
        return resume_latest(store, spec, retry_failed=retry_failed, strict=strict)
    return start(store, spec, strict=strict)


def make_backend(name: str, *, concurrency: int | None = None, address: str | None = None,
                 store: Path | None = None) -> Backend:
    """``local`` (this process) or ``ray`` (a Ray cluster; the ``ray`` extra)."""
    if name == "local":
        if address is not None:
            raise UserError("--address is for --backend ray")
        from forethought.eval.local import LocalBackend

        return LocalBackend(concurrency=concurrency, store=store or "default")
    if name == "ray":
        from forethought.eval.ray_backend import RayBackend

        return RayBackend(address=address, concurrency=concurrency)
    raise UserError(f"unknown backend {name!r}; valid backends: 'local', 'ray'")


def default_results_path(eval_id: str) -> Path:
    return Path("evals") / f"{eval_id}.jsonl"


def finish(session: Session, outcome: SessionOutcome, output: Path | None) -> EvalReport:
    """Write the results file from the store (every instance exactly once) and summarise."""
    results = session.store.results(session.eval_id)
    path = output if output is not None else default_results_path(session.eval_id)
    write_results(path, results)
    return EvalReport(eval_id=session.eval_id, total=session.record.total, results=results,
                      summary=summarise(results), outcome=outcome, results_path=path)


async def arun_session(session: Session, backend: Backend, *, sinks: Sequence[Sink] = (),
                       output: Path | None = None) -> EvalReport:
    """Run ``session`` on ``backend``, then write the results file and summarise. Cancelled
    (Ctrl-C), it still writes the results file of what finished before re-raising.
    """
    try:
        outcome = await run_session(session, backend, sinks)
    except asyncio.CancelledError:
        write_results(output or default_results_path(session.eval_id),
                      session.store.results(session.eval_id))
        raise
    finally:
        await backend.close()
    return finish(session, outcome, output)


async def aevaluate(recipe: Path | str | None = None, *, eval_id: str | None = None,
                    overrides: Overrides | None = None, resume_eval: bool = False,
                    retry_failed: bool = False, strict: bool = False,
                    store: Path | str | None = None, backend: str | Backend = "local",
                    concurrency: int | None = None, address: str | None = None,
                    output: Path | None = None, sinks: Sequence[Sink] = ()) -> EvalReport:
    """Evaluate ``recipe`` over its dataset (or resume ``eval_id``); see the module docs."""
    with EvalStore(store) as eval_store:
        session = open_session(eval_store, recipe=None if recipe is None else Path(recipe),
                               eval_id=eval_id, overrides=overrides, resume_eval=resume_eval,
                               retry_failed=retry_failed, strict=strict)
        runner = backend if isinstance(backend, Backend) else make_backend(
            backend, concurrency=concurrency or session.spec.concurrency, address=address,
            store=eval_store.path)
        return await arun_session(session, runner, sinks=sinks, output=output)


def evaluate(recipe: Path | str | None = None, *, eval_id: str | None = None,
             data: Path | str | None = None, question: str | None = None,
             reference: str | None = None, id_field: str | None = None,
             limit: int | None = None, offset: int | None = None, ids: list[str] | None = None,
             metric: str | None = None, model: str | None = None, planner: str | None = None,
             resume_eval: bool = False, retry_failed: bool = False, strict: bool = False,
             store: Path | str | None = None, backend: str = "local",
             concurrency: int | None = None, address: str | None = None,
             output: Path | None = None) -> EvalReport:
    """Synchronous :func:`aevaluate` with the common overrides as keywords."""
    overrides = Overrides(data=None if data is None else Path(data), question=question,
                          reference=reference, id=id_field, limit=limit, offset=offset, ids=ids,
                          metric=metric, model=model, planner=planner)
    return run_sync(aevaluate(recipe, eval_id=eval_id, overrides=overrides,
                              resume_eval=resume_eval, retry_failed=retry_failed, strict=strict,
                              store=store, backend=backend, concurrency=concurrency,
                              address=address, output=output),
                    name="evaluate()", async_form="aevaluate(...)")
