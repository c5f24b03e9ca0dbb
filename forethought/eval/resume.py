"""Starting an eval, or taking up one that stopped: which instances are still to run.

A resumed eval runs what was stored when it started (the recipe text, the resolved dataset
settings), refuses a dataset whose selected instances changed since, skips every finished
instance and runs the rest; ``retry_failed`` runs only the failed ones again. Results are
keyed by instance id in the store, so nothing is ever counted twice.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from forethought.eval.datasets import Dataset, Instance
from forethought.eval.metrics import Metric
from forethought.eval.plan import EvalSpec
from forethought.eval.results import FAILED_STATUSES, InstanceResult
from forethought.eval.store import EvalRecord, EvalStore
from forethought.exceptions import UserError


@dataclass(kw_only=True)
class Session:
    """One sitting of an eval: what to run now, and what earlier sittings finished."""

    store: EvalStore
    record: EvalRecord
    spec: EvalSpec
    dataset: Dataset
    metric: Metric
    pending: list[Instance]
    """To run in this session, in dataset order."""
    previous: list[InstanceResult] = field(default_factory=list[InstanceResult])
    """Finished earlier and kept (retried instances are not among them)."""
    resumed: bool = False

    @property
    def eval_id(self) -> str:
        return self.record.id


def _load(spec: EvalSpec, strict: bool) -> tuple[Dataset, Metric]:
    dataset, metric = spec.load(strict=strict)
    for problem in dataset.problems:
        print(f"warning: dataset {spec.dataset.path!r}: skipped {problem}", file=sys.stderr)
    return dataset, metric


def start(store: EvalStore, spec: EvalSpec, *, strict: bool = False) -> Session:
    """A new eval of ``spec``."""
    dataset, metric = _load(spec, strict)
    record = store.create(name=spec.name, key=spec.key(), fingerprint=dataset.fingerprint(),
                          total=len(dataset.instances), spec=spec.to_json())
    return Session(store=store, record=record, spec=spec, dataset=dataset, metric=metric,
                   pending=list(dataset.instances))


def resume(store: EvalStore, record: EvalRecord, *, retry_failed: bool = False,
           strict: bool = False) -> Session:
    """Take up ``record`` where it stopped (see the module docs)."""
    spec = EvalSpec.from_json(record.spec)
    dataset, metric = _load(spec, strict)
    if dataset.fingerprint() != record.fingerprint:
        raise UserError(f"eval {record.id!r}: the instances of {spec.dataset.path!r} changed "
                        f"since it started ({len(dataset.instances)} selected now, "
                        f"{record.total} then); start a new eval instead of resuming")
    done = store.statuses(record.id)
    failed = {i for i, status in done.items() if status in FAILED_STATUSES}
    if retry_failed:
        if not failed:
            raise UserError(f"eval {record.id!r} has no failed instances to retry "
                            f"({len(done)} of {record.total} finished)")
        pending = [inst for inst in dataset.instances if inst.id in failed]
    else:
        pending = [inst for inst in dataset.instances if inst.id not in done]
        if not pending:
            hint = (f"; {len(failed)} failed: rerun them with --retry-failed" if failed
                    else "; nothing to resume")
            raise UserError(f"eval {record.id!r} is finished: all {record.total} instances "
                            f"have results{hint}")
    rerun = {inst.id for inst in pending}
    previous = [r for r in store.results(record.id) if r.id not in rerun]
    return Session(store=store, record=record, spec=spec, dataset=dataset, metric=metric,
                   pending=pending, previous=previous, resumed=True)


def resume_latest(store: EvalStore, spec: EvalSpec, *, retry_failed: bool = False,
                  strict: bool = False) -> Session:
    """``forethought eval RECIPE --resume``: the latest eval of the same command, taken up
    where it stopped; a new one when there is none.
    """
    record = store.latest(spec.key())
    if record is None:
        if retry_failed:
            raise UserError("--retry-failed: no earlier eval of this recipe, dataset and "
                            "metric in the store")
        return start(store, spec, strict=strict)
    return resume(store, record, retry_failed=retry_failed, strict=strict)
