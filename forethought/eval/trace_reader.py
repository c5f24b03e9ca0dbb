"""The eval tables as ``forethought trace --eval EVAL_ID --html FILE`` reads them.

The trace page reads evaluations only through its small ``EvalReader`` protocol
(:mod:`forethought.trace.eval_page`); importing this module installs the reader over these
tables. Instances not run yet are listed as ``pending`` when the eval's dataset can still be
read.
"""

from __future__ import annotations

from collections.abc import Iterable

from forethought.eval.plan import EvalSpec
from forethought.eval.store import EvalStore
from forethought.exceptions import UserError
from forethought.runtime.store import RunStore
from forethought.trace.eval_page import EvalInstance, EvalSummary, set_eval_reader_factory


class StoreEvalReader:
    """Reads the evaluations of one run store file."""

    def __init__(self, store: RunStore) -> None:
        self.path = store.path

    def get_eval(self, eval_id: str) -> EvalSummary:
        with EvalStore(self.path) as evals:
            record = evals.get(eval_id)
            progress = evals.progress(eval_id)
        spec = EvalSpec.from_json(record.spec)
        status = "finished" if progress.done == record.total else \
            f"unfinished ({progress.done} of {record.total})"
        return EvalSummary(id=record.id, status=status, recipe=spec.recipe_path,
                           created=record.created,
                           meta={"name": record.name, "metric": spec.metric.kind,
                                 "model": spec.model or spec.recipe().model_config_obj().name,
                                 "dataset": spec.dataset.path, "failed": progress.failed})

    def eval_instances(self, eval_id: str) -> Iterable[EvalInstance]:
        with EvalStore(self.path) as evals:
            record = evals.get(eval_id)
            results = evals.results(eval_id)
        rows = {r.id: EvalInstance(
            instance_id=r.id, status=r.status, correct=r.correct, answer=r.answer,
            reference=r.reference, run_id=r.run_id, strategy=r.strategy,
            usage={"prompt_tokens": r.usage.prompt_tokens,
                   "completion_tokens": r.usage.completion_tokens,
                   "cost_usd": r.usage.cost_usd, "model_calls": r.usage.model_calls},
            duration_s=r.duration_s, error=r.error) for r in results}
        order = [r.id for r in results]
        if len(results) < record.total:
            try:
                dataset, _ = EvalSpec.from_json(record.spec).load()
            except UserError:
                dataset = None  # moved or changed since: list what finished
            if dataset is not None:
                order = [inst.id for inst in dataset.instances]
                for inst in dataset.instances:
                    rows.setdefault(inst.id, EvalInstance(
                        instance_id=inst.id, status="pending", reference=inst.reference))
        return [rows[i] for i in order if i in rows]


def install() -> None:
    """Make the trace pages read evaluations from these tables."""
    set_eval_reader_factory(StoreEvalReader)


install()
