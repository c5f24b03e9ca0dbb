"""The known shapes of inference-time scaling, reproduced by the strategies on SimulatedModel
(seeded; the assertions leave room for sampling noise):

- coverage (any sample right) grows roughly log-linearly with the number of samples (Brown et
  al., 2024, "Large Language Monkeys");
- majority vote plateaus below coverage, and a verifier with false positives caps best-of-N
  (Stroebl et al., 2024, "Inference Scaling fLaws");
- step-level tree search beats best-of-N at equal model calls when step errors compound, and
  only ties it on one-step problems (Snell et al., 2024, "Scaling LLM Test-Time Compute
  Optimally").
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Callable

import pytest

from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.answers import same_answer
from forethought.models.simulated.multistep import SimulatedMultiStepTask
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.base import Strategy, StrategyResult, strategy_names
from forethought.search.best_of_n import BestOfN
from forethought.search.chain import ChainTask
from forethought.search.scorers import JudgeScorer
from forethought.search.self_consistency import SelfConsistency
from forethought.search.sizing import sized


def mix(n: int, steps: int, low: float, high: float) -> list[SimulatedMultiStepTask]:
    """``n`` tasks of ``steps`` steps, difficulties evenly spread over [low, high]."""
    return [SimulatedMultiStepTask(id=f"t{i}", question=f"What is hidden value number {i}?",
                                   answer=f"v{i}", difficulty=low + (high - low) * (i + .5) / n,
                                   steps=steps, distractors=(f"w{i}", f"x{i}", f"y{i}"))
            for i in range(n)]


def chain(task: SimulatedMultiStepTask, **kw: object) -> ChainTask:
    return ChainTask(question=task.question, max_depth=task.steps + 2,
                     metadata={"instance_id": task.id}, **kw)  # type: ignore[arg-type]


def solve(tasks: list[SimulatedMultiStepTask], make: Callable[[], Strategy], *, seed: int,
          calls: int | None = None, judge_fpr: float = 0.15, **task_kw: object
          ) -> list[StrategyResult]:
    model = SimulatedModel(tasks, seed=seed, judge_fpr=judge_fpr)

    async def run() -> list[StrategyResult]:
        out: list[StrategyResult] = []
        for t in tasks:
            ctx = RunContext(model=model,
                             budget=BudgetTracker(budget=Budget(max_model_calls=calls)))
            out.append(await make().arun(ctx, chain(t, **task_kw)))
            assert calls is None or ctx.budget.started_calls <= calls
        return out

    return asyncio.run(run())


def accuracy(tasks: list[SimulatedMultiStepTask], results: list[StrategyResult]) -> float:
    return statistics.mean(r.answer is not None and same_answer(r.answer, t.answer)
                           for t, r in zip(tasks, results, strict=True))


def coverage(tasks: list[SimulatedMultiStepTask], results: list[StrategyResult], k: int
             ) -> float:
    """Share of tasks with a right answer among ``k`` of the samples (the unbiased pass@k
    estimate over all of them)."""
    total = 0.0
    for task, result in zip(tasks, results, strict=True):
        n = sum(int(c.meta.get("samples", 1)) for c in result.candidates)
        right = sum(int(c.meta.get("samples", 1)) for c in result.candidates
                    if c.answer is not None and same_answer(c.answer, task.answer))
        total += 1.0 if n - right < k else 1.0 - math.comb(n - right, k) / math.comb(n, k)
    return total / len(tasks)


def test_coverage_grows_log_linearly_with_samples() -> None:
    tasks = mix(100, 1, 0.3, 1.0)
    results = solve(tasks, lambda: SelfConsistency(n=64), seed=1)
    ks = [1, 2, 4, 8, 16, 32, 64]
    cov = [coverage(tasks, results, k) for k in ks]
    assert cov == sorted(cov) and cov[0] < 0.45 and cov[-1] > 0.85
    # a straight line in log2(k) explains the curve: R^2 of the least-squares fit
    xs = [math.log2(k) for k in ks]
    slope, intercept = statistics.linear_regression(xs, cov)
    residual = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, cov, strict=True))
    total = sum((y - statistics.mean(cov)) ** 2 for y in cov)
    assert 1 - residual / total > 0.95
    assert 0.05 < slope < 0.12  # each doubling of samples adds a similar share of tasks


def test_majority_vote_plateaus_below_coverage() -> None:
    tasks = mix(100, 1, 0.1, 1.0)
    votes = {n: accuracy(tasks, solve(tasks, lambda n=n: SelfConsistency(n=n), seed=2))
             for n in (1, 16, 64)}
    many = solve(tasks, lambda: SelfConsistency(n=64), seed=3)
    assert votes[16] > votes[1]  # voting helps at first...
    assert abs(votes[64] - votes[16]) < 0.06  # ...then plateaus
    assert coverage(tasks, many, 64) - votes[64] > 0.25  # far below coverage


def test_a_verifier_with_false_positives_caps_best_of_n() -> None:
    tasks = mix(100, 1, 0.3, 1.0)

    def best_of(n: int, fpr: float) -> list[StrategyResult]:
        return solve(tasks, lambda: BestOfN(n=n), seed=4, judge_fpr=fpr, scorer=JudgeScorer())

    leaky = {n: accuracy(tasks, best_of(n, 0.15)) for n in (4, 16, 48)}
    assert leaky[16] > leaky[4]
    assert abs(leaky[48] - leaky[16]) < 0.07  # capped by false positives...
    precise = best_of(48, 0.0)
    assert accuracy(tasks, precise) - leaky[48] > 0.15  # ...which a precise judge avoids
    assert coverage(tasks, precise, 48) - leaky[48] > 0.2


@pytest.mark.parametrize(("steps", "tree_wins"), [(4, True), (1, False)])
def test_tree_search_beats_best_of_n_only_when_step_errors_compound(steps: int,
                                                                    tree_wins: bool) -> None:
    tasks = mix(100, steps, 0.6, 1.0)
    calls = 64
    acc = {name: accuracy(tasks, solve(tasks, lambda name=name: sized(name, calls,
                                                                       depth=steps),
                                       seed=6, calls=calls))
           for name in ("best_of_n", "beam", "rebase")}
    tree = (acc["beam"] + acc["rebase"]) / 2
    if tree_wins:
        assert tree - acc["best_of_n"] > 0.08, acc
    else:  # loses or ties
        assert tree - acc["best_of_n"] < 0.08, acc


def test_every_strategy_improves_on_a_single_sample() -> None:
    tasks = mix(40, 3, 0.2, 0.6)
    single = accuracy(tasks, solve(tasks, lambda: SelfConsistency(n=1), seed=7))
    for name in strategy_names():
        got = accuracy(tasks, solve(tasks, lambda name=name: sized(name, 48, depth=3),
                                    seed=7, calls=48))
        assert got > single + 0.1, (name, got, single)


@pytest.mark.parametrize("calls", [1, 8, 256, 4096])
def test_every_sized_strategy_builds_at_any_budget(calls: int) -> None:
    # Sizing must stay within each strategy's option bounds however many calls it is given
    # (refine's rounds stop at 50; the rest goes into its width).
    from forethought.search.sizing import _SIZED  # pyright: ignore[reportPrivateUsage]

    for name in sorted(_SIZED):
        strategy = sized(name, calls, depth=3)
        assert strategy.name == name
