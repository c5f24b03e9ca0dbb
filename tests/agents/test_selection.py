"""The selection agent: complexity from a rating and cheap features, UCB with a decaying prior,
Thompson sampling, cost-aware rewards, and statistics that outlive the process."""

from __future__ import annotations

import asyncio
import math
import random
import sqlite3
import threading
from pathlib import Path

import pytest

from forethought.agents.selection import Arm, Complexity, SelectionAgent, parse_rating
from forethought.agents.selection_stats import ArmStats, MemoryStats, Pull, SqliteStats
from forethought.exceptions import BudgetExceeded, ModelHTTPError, UserError
from forethought.models.messages import ModelRequest
from forethought.models.scripted import ScriptedModel
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext
from forethought.search.best_of_n import BestOfN


def arms(*names: str) -> list[Arm]:
    return [Arm(name=n, strategy=BestOfN(n=1), spec={"kind": "best_of_n", "n": i})
            for i, n in enumerate(names)]


def stats(**pulls: tuple[int, float, float]) -> dict[str, ArmStats]:
    """arm key -> (pulls, mean quality, mean calls)."""
    return {k: ArmStats(pulls=n, quality_sum=q * n, quality_sq=q * q * n, calls_sum=c * n)
            for k, (n, q, c) in pulls.items()}


LOW = Complexity(value=0.1, bin="low")


def test_ratings_are_read_from_the_reply() -> None:
    assert parse_rating("Complexity: 10\nbecause") == 1.0
    assert parse_rating("**Complexity**: 1") is None  # no number after the colon we read
    assert parse_rating("complexity = 4") == pytest.approx(3 / 9)
    assert parse_rating("Complexity: 11") is None and parse_rating("hard") is None


def test_complexity_combines_the_rating_with_the_constraint_count() -> None:
    agent = SelectionAgent(count_scale=20, rating_weight=0.25)
    ctx = RunContext(model=ScriptedModel(["Complexity: 7"]))
    got = asyncio.run(agent.aestimate(ctx, "q", constraints=10))
    assert got.rating == pytest.approx(6 / 9) and got.features == {"constraints": 10.0}
    assert got.value == pytest.approx(0.25 * 6 / 9 + 0.75 * 0.5) and got.bin == "mid"
    assert ctx.budget.started_calls == 1
    no_rating = SelectionAgent(rate=False, count_scale=20)
    ctx = RunContext(model=ScriptedModel([]))
    got = asyncio.run(no_rating.aestimate(ctx, "q", constraints=40))
    assert (got.value, got.bin, got.rating) == (1.0, "high", None)
    assert ctx.budget.started_calls == 0
    unguided = asyncio.run(no_rating.aestimate(ctx, "q", constraints=None))
    assert unguided.value == 0.5 and unguided.features == {}


def test_a_rating_that_fails_leaves_the_features() -> None:
    agent = SelectionAgent()
    got = asyncio.run(agent.aestimate(RunContext(model=ScriptedModel(["no idea"])), "q",
                                      constraints=3))
    assert got.rating is None and got.value == pytest.approx(0.1)
    assert got.error == "no 'Complexity: 1-10' line in 'no idea'"

    def down(request: ModelRequest) -> str:
        raise ModelHTTPError("busy", status_code=503, model="scripted")

    got = asyncio.run(agent.aestimate(RunContext(model=ScriptedModel(down)), "q",
                                      constraints=3))
    assert got.rating is None and "the rating call failed: ModelHTTPError" in (got.error or "")
    broke = RunContext(model=ScriptedModel(["Complexity: 3"]),
                       budget=BudgetTracker(budget=Budget(max_model_calls=0)))
    with pytest.raises(BudgetExceeded):
        asyncio.run(agent.aestimate(broke, "q", constraints=3))


def test_ucb_scores_follow_the_formula() -> None:
    agent = SelectionAgent(method="ucb", exploration=1.0, prior_weight=0.5, cost_weight=0.25,
                           call_scale=32)
    a = arms("cheap", "dear")
    learnt = stats(**{a[0].key: (3, 0.8, 1.0), a[1].key: (1, 0.9, 16.0)})
    scored = agent.scores(a, learnt, LOW, exclude=set(), rng=random.Random(0))
    total = 4
    cheap = 0.8 - 0.25 * 1 / 32 + math.sqrt(math.log(total + 1) / 4) + 0.5 * 0.9 / 4
    dear = 0.9 - 0.25 * 16 / 32 + math.sqrt(math.log(total + 1) / 2) + 0.5 * 0.1 / 2
    assert [s.unbounded for s in scored] == [pytest.approx(cheap), pytest.approx(dear)]
    # each score is held at its ceiling: a perfect answer less what the arm is known to cost
    ceilings = [1 - 0.25 * 1 / 32, 1 - 0.25 * 16 / 32]
    assert [s.ceiling for s in scored] == [pytest.approx(c) for c in ceilings]
    assert [s.score for s in scored] == [pytest.approx(min(u, c)) for u, c in
                                         zip((cheap, dear), ceilings, strict=True)]
    assert [s.prior for s in scored] == [pytest.approx(0.9), pytest.approx(0.1)]


def test_the_ceiling_is_a_perfect_answer_less_the_known_cost() -> None:
    agent = SelectionAgent(cost_weight=0.5, call_scale=16)
    assert agent.ceiling(ArmStats()) == 1.0  # nothing known: quality 1 at no cost
    here = stats(a=(2, 0.3, 8.0))["a"]
    assert agent.ceiling(here) == pytest.approx(0.75)
    family = stats(a=(4, 0.9, 32.0))["a"]
    assert agent.ceiling(here, family) == pytest.approx(0.75)  # this bin's own cost first
    assert agent.ceiling(ArmStats(), family) == pytest.approx(0.5)  # else the family's
    assert SelectionAgent(cost_weight=0).ceiling(here) == 1.0


@pytest.mark.parametrize("method", ["ucb", "thompson"])
def test_an_arm_that_could_not_win_even_if_perfect_is_not_explored(method: str) -> None:
    agent = SelectionAgent(method=method)  # type: ignore[arg-type]
    a = arms("free", "dear")
    hard = Complexity(value=0.9, bin="high")  # where the prior favours "dear"
    # "free" is perfect at no cost; "dear" was tried once (so its quality is unsure, which
    # UCB's bonus and Thompson's wide posterior would pay to find out) and costs 8 calls
    learnt = stats(**{a[0].key: (10, 1.0, 0.0), a[1].key: (1, 1.0, 8.0)})
    for i in range(50):
        chosen, scored = agent.choose(a, learnt, hard, exclude=set(), rng=random.Random(i))
        assert chosen is not None and chosen.name == "free"
        assert all(s.score <= s.ceiling + 1e-12 for s in scored)
        assert scored[1].ceiling == pytest.approx(0.75)
    # the cost learnt in another bin bounds an arm this bin has never tried
    other = {a[0].key: learnt[a[0].key]}
    family = {a[1].key: ArmStats(pulls=3, quality_sum=3.0, quality_sq=3.0, calls_sum=24.0)}
    for i in range(50):
        chosen, scored = agent.choose(a, other, hard, exclude=set(), rng=random.Random(i),
                                      family=family)
        assert chosen is not None and chosen.name == "free"
        assert scored[1].pulls == 0 and scored[1].ceiling == pytest.approx(0.75)
    # without the family's record the untried arm's cost is unknown and it may be explored
    untried = [agent.choose(a, other, hard, exclude=set(), rng=random.Random(i))[0]
               for i in range(50)]
    assert any(c is not None and c.name == "dear" for c in untried)


def test_arms_held_at_the_same_ceiling_go_to_the_one_cut_most() -> None:
    agent = SelectionAgent(method="ucb", cost_weight=0.0)
    a = arms("known", "untried")
    # a middling arm listed first must not win every tie at the ceiling on its position
    learnt = stats(**{a[0].key: (5, 0.6, 0.0)})
    chosen, scored = agent.choose(a, learnt, LOW, exclude=set(), rng=random.Random(0))
    assert [s.score for s in scored] == [1.0, 1.0]
    assert scored[1].unbounded is not None and scored[0].unbounded is not None
    assert scored[1].unbounded > scored[0].unbounded
    assert chosen is not None and chosen.name == "untried"


def test_thompson_draws_stay_below_the_ceiling_and_repeat_with_the_seed() -> None:
    agent = SelectionAgent(exploration=3.0)
    a = arms("x")
    learnt = stats(**{a[0].key: (1, 0.2, 16.0)})  # ceiling 0.5, posterior mean above it
    draws = [agent.scores(a, learnt, Complexity(value=0.0, bin="low"), exclude=set(),
                          rng=random.Random(i))[0].score for i in range(200)]
    assert max(draws) <= 0.5 and min(draws) < 0.4
    assert draws[:5] == [agent.scores(a, learnt, Complexity(value=0.0, bin="low"),
                                      exclude=set(), rng=random.Random(i))[0].score
                         for i in range(5)]


def test_the_prior_decides_first_then_decays() -> None:
    agent = SelectionAgent(method="ucb", cost_weight=0.25, call_scale=32)
    a = arms("cheap", "middle", "thorough")
    first, _ = agent.choose(a, {}, LOW, exclude=set(), rng=random.Random(0))
    assert first is not None and first.name == "cheap"
    hard, _ = agent.choose(a, {}, Complexity(value=0.95, bin="high"), exclude=set(),
                           rng=random.Random(0))
    assert hard is not None and hard.name == "thorough"
    # the cheap arm keeps failing on easy instances, the thorough one costs too much: what
    # was learnt overrides the prior
    learnt = stats(**{a[0].key: (20, 0.0, 1.0), a[1].key: (20, 0.9, 4.0),
                      a[2].key: (20, 0.9, 30.0)})
    chosen, _ = agent.choose(a, learnt, LOW, exclude=set(), rng=random.Random(0))
    assert chosen is not None and chosen.name == "middle"


def test_given_priors_and_exclusions() -> None:
    agent = SelectionAgent(method="ucb")
    a = arms("a", "b")
    a[1].prior = (0.0, 0.0, 1.0)
    a[0].prior = 0.2
    scored = agent.scores(a, {}, Complexity(value=0.9, bin="high"), exclude={"b"},
                          rng=random.Random(0))
    assert [(s.prior, s.available) for s in scored] == [(0.2, True), (1.0, False)]
    per_instance = agent.scores(a, {}, LOW, exclude=set(), rng=random.Random(0),
                                priors={"a": 0.9, "b": 0.7})
    assert [s.prior for s in per_instance] == [0.2, 0.0]  # an arm's own prior wins
    chosen, _ = agent.choose(a, {}, LOW, exclude={"a", "b"}, rng=random.Random(0))
    assert chosen is None


def test_thompson_sampling_is_seeded_and_exploits_what_it_learnt() -> None:
    agent = SelectionAgent()
    assert agent.method == "thompson"
    a = arms("weak", "strong")
    learnt = stats(**{a[0].key: (30, 0.2, 1.0), a[1].key: (30, 0.9, 1.0)})
    picks = [agent.choose(a, learnt, LOW, exclude=set(), rng=random.Random(i))[0]
             for i in range(50)]
    assert all(p is not None and p.name == "strong" for p in picks)
    once = agent.scores(a, {}, LOW, exclude=set(), rng=random.Random(7))
    again = agent.scores(a, {}, LOW, exclude=set(), rng=random.Random(7))
    assert once == again


def test_an_arms_key_changes_with_its_options() -> None:
    one, two = arms("x", "x")
    assert one.key != two.key and one.key.startswith("x#")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "greedy"}, "selection method must be 'ucb' or 'thompson', got 'greedy'"),
    ({"bins": 7}, "bins must be 1 to 4, got 7"),
    ({"exploration": -1.0}, "exploration must be a number >= 0, got -1.0"),
    ({"call_scale": 0.0}, "call_scale must be a positive number, got 0.0"),
    ({"rating_weight": 2.0}, "rating_weight must be in [0, 1], got 2.0")])
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        SelectionAgent(**kwargs)  # type: ignore[arg-type]


def test_memory_statistics_add_up() -> None:
    store = MemoryStats()
    store.update("f", "low", "a", Pull(quality=1.0, accepted=True, calls=2, tokens=100))
    store.update("f", "low", "a", Pull(quality=0.5, accepted=False, calls=4, tokens=50))
    got = store.get("f", "low")["a"]
    assert (got.pulls, got.mean_quality, got.acceptance, got.mean_calls) == (2, 0.75, 0.5, 3.0)
    assert got.quality_sd == pytest.approx(math.sqrt(0.125))
    assert store.get("f", "high") == {} and store.get("g", "low") == {}
    got.pulls = 99
    assert store.get("f", "low")["a"].pulls == 2  # a copy


def test_sqlite_statistics_persist_and_add_up_across_writers(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    first = SqliteStats(path)
    first.update("f", "low", "a", Pull(quality=1.0, accepted=True, calls=2, tokens=10))

    def writer() -> None:
        mine = SqliteStats(path)
        for _ in range(25):
            mine.update("f", "low", "b", Pull(quality=0.5, accepted=False, calls=1, tokens=1))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    later = SqliteStats(path).get("f", "low")
    assert later["a"].pulls == 1 and later["b"].pulls == 100
    assert later["b"].quality_sum == pytest.approx(50.0)
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "selection_stats" in tables
    assert first.forget("f") == 2 and SqliteStats(path).get("f", "low") == {}


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_statistics_across_bins_add_the_bins_of_one_family(kind: str, tmp_path: Path) -> None:
    store = MemoryStats() if kind == "memory" else SqliteStats(tmp_path / "runs.sqlite")
    store.update("f", "low", "a", Pull(quality=1.0, accepted=True, calls=2, tokens=10))
    store.update("f", "high", "a", Pull(quality=0.0, accepted=False, calls=6, tokens=30))
    store.update("f", "high", "b", Pull(quality=0.5, accepted=False, calls=1, tokens=1))
    store.update("g", "low", "a", Pull(quality=1.0, accepted=True, calls=100, tokens=1))
    family = store.across_bins("f")
    assert sorted(family) == ["a", "b"]
    a = family["a"]
    assert (a.pulls, a.mean_quality, a.accepted, a.mean_calls, a.tokens_sum) == \
        (2, 0.5, 1, 4.0, 40.0)
    assert family["b"].pulls == 1 and store.across_bins("nobody") == {}
    a.pulls = 99
    assert store.across_bins("f")["a"].pulls == 2  # a copy
    assert store.get("f", "low")["a"].pulls == 1  # the bins themselves are unchanged
