"""Every strategy's exact behaviour on a scripted two-step problem, driven by hand
(``run_offline``, no event loop) and through the runtime (``arun`` with ScriptedModel); and
bad input: unparseable steps, failing scorers, a budget that runs out mid-search."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

import pytest

from forethought.exceptions import BudgetExceeded, ModelError, UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.base import StrategyResult, strategy_class, strategy_names
from forethought.search.beam import BeamSearch
from forethought.search.best_of_n import BestOfN
from forethought.search.chain import ChainTask
from forethought.search.machine import Action, Outcome, Sample, run_offline
from forethought.search.mcts import MCTS
from forethought.search.particle_filter import ParticleFilter, resample
from forethought.search.rebase import Rebase, allocate
from forethought.search.scorers import JudgeScorer, ValueScorer
from forethought.search.self_consistency import SelfConsistency
from forethought.search.tot import TreeOfThoughtsBFS, TreeOfThoughtsDFS, parse_vote

# root -> A | B;  A -> A1 | A2;  B -> B1 | B2; the second step states the answer.
CHILDREN = {(): ["A", "B"], ("A",): ["A1", "A2"], ("B",): ["B1", "B2"]}
ANSWER = {"A1": "1", "A2": "2", "B1": "3", "B2": "4"}
REWARD = {"A": 0.9, "B": 0.2, "A1": 0.3, "A2": 0.95, "B1": 0.1, "B2": 0.5}
LEAVES = ["A2", "B2", "A1", "A2", "B1"]
STEP = re.compile(r"^Step \d+: (\w+)$", re.MULTILINE)


def path_of(request: ModelRequest) -> tuple[str, ...]:
    user = request.messages[-1].content
    return tuple(STEP.findall(user))


def step_text(node: str, depth: int) -> str:
    text = f"Step {depth}: {node}"
    return text + f"\nAnswer: {ANSWER[node]}" if node in ANSWER else text


class Toy:
    """Answers the chain task's requests for the scripted problem; counts calls; can fail
    scorers, garble proposals and run out of budget."""

    def __init__(self, *, budget: int | None = None, fail: frozenset[str] = frozenset(),
                 garble: int = 0) -> None:
        self.budget = budget
        self.fail = fail
        self.garble = garble
        self.calls: Counter[str] = Counter()
        self.cursor: Counter[tuple[str, ...]] = Counter()

    def reply(self, request: ModelRequest) -> str:
        purpose = request.purpose or ""
        path = path_of(request)
        if purpose == "propose":
            if self.garble:
                self.garble -= 1
                return "I am not sure what to do next."
            options = CHILDREN[path]
            node = options[self.cursor[path] % len(options)]
            self.cursor[path] += 1
            return step_text(node, len(path) + 1)
        if purpose == "rollout":
            leaf = LEAVES[self.cursor[("rollout", *path)] % len(LEAVES)]
            self.cursor[("rollout", *path)] += 1
            if path and not leaf.startswith(path[0]):
                leaf = path[0] + leaf[1:]
            first = "" if path else f"Step 1: {leaf[0]}\n"
            return f"{first}{step_text(leaf, 2)}"
        if purpose in ("step", "score"):
            return f"Score: {REWARD[path[-1]]}"
        if purpose == "value":
            return "sure" if REWARD[path[-1]] > 0.5 else "impossible"
        if purpose == "judge":
            return "Yes" if request.metadata["candidate"] == "2" else "No"
        if purpose == "vote":
            choices = re.split(r"^Choice \d+:$", request.messages[-1].content, flags=re.M)[1:]
            best = max(range(len(choices)),
                       key=lambda i: REWARD[STEP.findall(choices[i])[-1]])
            return f"Choice {best + 1} looks best.\nThe best choice is {best + 1}"
        raise AssertionError(f"unexpected purpose {purpose!r}")

    def __call__(self, action: Action) -> Outcome:
        assert isinstance(action, Sample)
        purpose = action.request.purpose or ""
        texts: list[str] = []
        for _ in range(action.n):
            if self.budget is not None and sum(self.calls.values()) >= self.budget:
                return Outcome(value=texts, error=BudgetExceeded("model calls >= limit"))
            self.calls[purpose] += 1
            if purpose in self.fail:
                return Outcome(value=texts, error=ModelError(f"{purpose} failed"))
            texts.append(self.reply(action.request))
        return Outcome(value=texts)


def task(**kw: Any) -> ChainTask:
    return ChainTask(question="Which leaf?", max_depth=4, **kw)


def run(strategy: Any, toy: Toy, **kw: Any) -> StrategyResult:
    result = run_offline(strategy.steps(task(**kw)), toy)
    assert isinstance(result, StrategyResult)
    return result


# --- each strategy, exactly -------------------------------------------------------------------

def test_best_of_n_samples_n_and_keeps_the_top_score() -> None:
    toy = Toy()
    result = run(BestOfN(n=4), toy)
    assert toy.calls == {"rollout": 4, "step": 4}
    assert [c.answer for c in result.candidates] == ["2", "4", "1"]  # A2 sampled twice: one
    assert [c.score for c in result.candidates] == [0.95, 0.5, 0.3]
    assert result.answer == "2" and not result.partial
    assert result.candidates[0].text == "Step 1: A\nStep 2: A2\nAnswer: 2"


def test_best_of_n_weighted_sums_scores_per_answer() -> None:
    toy = Toy()
    # with a judge: A2 -> Yes (1.0), the rest No; weighted sums agree with max here
    result = run(BestOfN(n=5, aggregation="weighted"), toy, scorer=JudgeScorer())
    assert result.answer == "2"
    assert toy.calls == {"rollout": 5, "judge": 5}


def test_self_consistency_takes_the_majority_and_counts_votes() -> None:
    toy = Toy()
    result = run(SelfConsistency(n=5), toy)
    assert toy.calls == {"rollout": 5}  # no scorer
    assert result.answer == "2"
    assert {c.answer: c.meta["votes"] for c in result.candidates} == {"2": 2, "4": 1, "1": 1,
                                                                      "3": 1}
    assert result.stats["votes"] == 2 and result.stats["distinct_answers"] == 4
    assert all(c.score is None for c in result.candidates)


def test_beam_keeps_the_best_beams_and_expands_them() -> None:
    toy = Toy()
    result = run(BeamSearch(width=1, expansion=2), toy)
    # depth 1: A, B scored 0.9, 0.2 -> keep A; depth 2: A1, A2 scored 0.3, 0.95
    assert toy.calls == {"propose": 4, "step": 4}
    assert result.answer == "2"
    assert sorted((c.answer, c.score) for c in result.candidates) == [("1", 0.3), ("2", 0.95)]
    assert result.stats["depth"] == 2


def test_tot_bfs_with_values_votes_or_the_scorer() -> None:
    toy = Toy()
    result = run(TreeOfThoughtsBFS(breadth=1, proposals=2, evaluations=3), toy)
    # 2 proposals + 2 states x 3 value samples, then 2 proposals + 2 final rewards
    assert toy.calls == {"propose": 4, "value": 6, "step": 2}
    assert result.answer == "2"
    toy = Toy()
    result = run(TreeOfThoughtsBFS(breadth=1, proposals=2, evaluation="vote",
                                   evaluations=2), toy)
    assert toy.calls == {"propose": 4, "vote": 4, "step": 2}
    assert result.answer == "2"
    toy = Toy()
    assert run(TreeOfThoughtsBFS(breadth=2, proposals=2, evaluation="scorer"),
               toy).answer == "2"
    assert toy.calls == {"propose": 6, "step": 6}


def test_tot_dfs_explores_best_first_prunes_and_stops_at_an_accepted_solution() -> None:
    toy = Toy()
    result = run(TreeOfThoughtsDFS(proposals=2, evaluation="scorer", threshold=0.5,
                                   accept=0.9), toy)
    assert result.answer == "2" and result.stats["accepted"] == 1
    assert result.stats["expansions"] == 2 and result.stats["pruned"] == 1  # B pruned
    toy = Toy()
    result = run(TreeOfThoughtsDFS(proposals=2, evaluation="scorer", threshold=0.0,
                                   accept=1.0), toy)
    # nothing reaches 1.0: A, then B are expanded (backtracking), the best solution is kept
    assert result.stats["expansions"] == 3 and "accepted" not in result.stats
    assert result.answer == "2" and len(result.candidates) == 4


def test_mcts_expands_by_uct_and_returns_the_best_solution() -> None:
    toy = Toy()
    result = run(MCTS(simulations=3, width=2, evaluation="value"), toy)
    # sim 1 expands the root (A 0.9, B 0.2); sim 2 selects A (higher mean) and reaches the
    # finals A1, A2; A is then exhausted, so sim 3 expands B
    assert toy.calls == {"propose": 6, "step": 6}
    assert result.answer == "2" and result.stats["simulations"] == 3
    toy = Toy()
    result = run(MCTS(simulations=10, width=2, evaluation="value"), toy)
    assert result.stats["exhausted"] == 1 and result.stats["simulations"] == 3
    toy = Toy()
    result = run(MCTS(simulations=1, width=2), toy)  # rollouts from A and B
    assert toy.calls == {"propose": 2, "rollout": 2, "step": 2}
    assert {c.answer for c in result.candidates} == {"2", "4"} and result.answer == "2"


def test_mcts_stops_early_when_a_solution_is_accepted() -> None:
    toy = Toy()
    result = run(MCTS(simulations=50, width=2, evaluation="value", accept=0.9), toy)
    assert result.stats["accepted"] == 1 and result.stats["simulations"] == 2


def test_rebase_allocates_children_by_softmax_of_rewards() -> None:
    assert allocate(4, [0.47, 0.47, 0.03, 0.03]) == [2, 2, 0, 0]
    assert allocate(5, [0.5, 0.5]) == [3, 2]
    assert sum(allocate(7, [0.2, 0.3, 0.5])) == 7
    toy = Toy()
    result = run(Rebase(width=4, temperature=0.2), toy)
    # depth 1: A, B, A, B; the budget of 4 goes 2 + 2 to the two A nodes, none to B
    assert toy.calls == {"propose": 8, "step": 8}
    assert result.answer == "2" and result.stats["depth"] == 2
    assert {c.answer for c in result.candidates} == {"1", "2"}


def test_particle_filter_resamples_towards_high_rewards() -> None:
    toy = Toy()
    result = run(ParticleFilter(particles=4, seed=1), toy)
    assert toy.calls["propose"] == toy.calls["step"] == 4 + 4
    assert result.answer == "2"
    assert resample([0.0, 1.0, 0.0], 5, __import__("random").Random(0), "systematic") == [1] * 5
    counts = Counter(resample([0.25, 0.75], 4000, __import__("random").Random(0),
                              "multinomial"))
    assert counts[1] == pytest.approx(3000, abs=150)


def test_vote_and_value_parsers() -> None:
    assert parse_vote("...\nThe best choice is 2", 3) == 1
    assert parse_vote("The best choice is **Choice 3**", 3) == 2
    assert parse_vote("The best choice is 9", 3) is None
    assert parse_vote("no idea", 3) is None


def test_every_strategy_runs_from_code_through_the_runtime() -> None:
    toy = Toy()
    model = ScriptedModel(toy.reply)
    for name in strategy_names():
        ctx = RunContext(model=model)
        result = asyncio.run(strategy_class(name)().arun(ctx, task()))
        assert result.answer in {"1", "2", "3", "4"}, name
        assert not result.partial and ctx.budget.started_calls > 0, name


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["beam", "tot_bfs", "tot_dfs", "mcts", "rebase",
                                  "particle_filter"])
def test_unparseable_steps_are_skipped_and_counted(name: str) -> None:
    toy = Toy(garble=2)
    result = run(strategy_class(name)(), toy)
    assert result.stats["unparseable"] == 2
    assert result.answer in {"1", "2", "3", "4"}


def test_unparseable_solutions_are_counted_by_sampling_strategies() -> None:
    for name in ("best_of_n", "self_consistency"):
        model = ScriptedModel(["no answer here", "Step 1: A\nStep 2: A2\nAnswer: 2",
                               "Score: 0.9"] * 4)
        ctx = RunContext(model=model)
        result = asyncio.run(strategy_class(name).from_options({"n": 2}).arun(ctx, task()))
        assert result.stats["unparseable"] == 1 and result.answer == "2", name


@pytest.mark.parametrize("name", ["best_of_n", "beam", "tot_bfs", "rebase", "particle_filter",
                                  "mcts"])
def test_a_failing_scorer_leaves_candidates_unscored(name: str) -> None:
    toy = Toy(fail=frozenset({"step", "value"}))
    result = run(strategy_class(name)(), toy)
    assert result.stats["unscored"] > 0 and "scored" not in result.stats
    assert result.stats["failed_calls"] > 0
    assert result.candidates and all(c.score is None for c in result.candidates)
    assert result.answer is not None  # the majority of the unscored candidates


def test_an_unreadable_score_is_unscored_too() -> None:
    model = ScriptedModel(lambda r: "I would rather not say." if r.purpose == "step"
                          else "Step 1: A\nStep 2: A2\nAnswer: 2")
    result = asyncio.run(BestOfN(n=3).arun(RunContext(model=model), task()))
    assert result.stats["unscored"] == 3 and result.candidates[0].score is None
    assert result.answer == "2"


@pytest.mark.parametrize("name", sorted(strategy_names()))
def test_budget_exhausted_mid_search_returns_the_best_so_far(name: str) -> None:
    full = run(strategy_class(name)(), Toy())
    assert not full.partial
    toy = Toy(budget=7)
    result = run(strategy_class(name)(), toy)
    assert sum(toy.calls.values()) == 7
    assert result.partial and result.stats["budget_exhausted"] == 1
    if result.candidates:
        assert result.answer in {c.answer for c in result.candidates}
    else:
        assert result.answer is None


def test_budget_through_the_runtime_keeps_the_best_scored_candidate() -> None:
    toy = Toy()
    ctx = RunContext(model=ScriptedModel(toy.reply),
                     budget=BudgetTracker(budget=Budget(max_model_calls=6)))
    result = asyncio.run(BestOfN(n=4).arun(ctx, task()))
    # 4 rollouts, then only 2 of the 4 scores fit: the best scored one is the answer
    assert result.partial and ctx.budget.started_calls == 6
    assert [c.score for c in result.candidates] == [0.95, 0.5, None]
    assert result.answer == "2"


def test_bad_options_name_the_option_and_the_valid_ones() -> None:
    with pytest.raises(UserError, match=r"strategy 'beam'.*widht.*valid options: width"):
        strategy_class("beam").from_options({"widht": 3})
    with pytest.raises(UserError, match="strategy 'best_of_n': n: Input should be greater"):
        BestOfN(n=0)
    with pytest.raises(UserError, match="unknown strategy 'bfs'; valid strategies: 'beam'"):
        strategy_class("bfs")
    assert repr(BeamSearch(width=2)) == "BeamSearch(width=2, expansion=4, aggregation='max')"


def test_value_scorer_reads_tree_of_thoughts_verdicts() -> None:
    scorer = ValueScorer(samples=3)
    state = task().root()
    outcome = Outcome(value=["x\nsure", "likely", "hmm\nimpossible"])
    assert scorer.read(task(), state, [outcome]) == pytest.approx(21.001 / 60)
    assert scorer.read(task(), state, [Outcome(value=["no verdict"])]) is None
