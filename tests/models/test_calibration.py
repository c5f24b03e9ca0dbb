"""Calibration of the simulator: problems, answer reading, the fits, the estimators, and a
profiled SimulatedModel reproducing the accuracy levels it was given (no real model needed:
the real-model side runs in benchmarks/real_scaling.py)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from forethought.exceptions import UserError
from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.calibrate import (
    NO_ANSWER,
    coverage_at,
    curves,
    fit_levels,
    fit_profile,
    majority_at,
    make_problems,
    read_answer,
    sample,
)
from forethought.models.simulated.profile import Level, Profile, difficulty_class, load_profile


def test_problems_are_seeded_distinct_and_exact() -> None:
    problems = make_problems(50, seed=3)
    assert problems == make_problems(50, seed=3)
    assert problems != make_problems(50, seed=4)
    assert len({p.question for p in problems}) == 50
    for p in problems:
        assert 1 <= p.arithmetic.operators <= 2
        assert str(eval(p.arithmetic.text)) == p.answer  # our own digits and + - * only
    assert {difficulty_class(p.arithmetic) for p in problems} == {
        f"{ops}{mul}{big}" for ops in ("1-op", "2-op") for mul in ("", "+mul")
        for big in ("", "+2d")}


@pytest.mark.parametrize(("text", "answer"), [
    ("71", "71"), ("47 + 8 * 3 = 71.", "71"), ("The answer is -12", "-12"),
    ("Reasoning: 2 + 2 is 4.\nAnswer: 4", "4"), ("1,024", "1024"), ("I cannot say.", NO_ANSWER),
])
def test_answers_are_read_as_numbers(text: str, answer: str) -> None:
    assert read_answer(text) == answer


def test_em_recovers_a_known_mixture_of_accuracies() -> None:
    rng = random.Random(0)
    truth = [(0.95, 0.5), (0.3, 0.3), (0.0, 0.2)]
    counts = []
    for _ in range(3000):
        p = rng.choices([a for a, _ in truth], [w for _, w in truth])[0]
        counts.append(sum(rng.random() < p for _ in range(8)))
    levels = fit_levels(counts, 8)
    assert sum(lv.weight for lv in levels) == pytest.approx(1, abs=1e-3)
    for (accuracy, weight), level in zip(truth, levels, strict=True):
        assert level.accuracy == pytest.approx(accuracy, abs=0.05)
        assert level.weight == pytest.approx(weight, abs=0.05)


def test_estimators() -> None:
    assert coverage_at(["1", "2", "3", "4"], "1", 1) == pytest.approx(0.25)
    assert coverage_at(["1", "2", "3", "4"], "1", 4) == 1.0
    assert coverage_at(["2", "2"], "1", 2) == 0.0
    rng = random.Random(0)
    assert majority_at(["1", "1", "2"], "1", 3, rng) == 1.0
    assert majority_at(["1", "2"], "1", 2, rng) == 0.5  # a tie is split


def profile(levels: dict[str, tuple[Level, ...]]) -> Profile:
    return Profile(name="test", model="m", task="t", classes=levels, distractor_skew=2.0)


async def test_a_profiled_simulator_reproduces_its_levels() -> None:
    levels = (Level(0.9, 0.6), Level(0.1, 0.4))
    prof = profile({f"{ops}{mul}{big}": levels for ops in ("1-op", "2-op")
                    for mul in ("", "+mul") for big in ("", "+2d")})
    problems = make_problems(300, seed=5)
    answers = await sample(SimulatedModel(profile=prof, seed=1), problems, 16, seed=5)
    fitted = fit_profile("refit", "simulated", problems, answers, fitted_on={})
    for key, got in fitted.classes.items():
        top = max(got, key=lambda lv: lv.accuracy)
        assert top.accuracy == pytest.approx(0.9, abs=0.06), (key, got)
    curve = curves(problems, answers, [1, 16])
    assert curve["coverage"][0] == pytest.approx(0.6 * 0.9 + 0.4 * 0.1, abs=0.05)
    assert curve["coverage"][1] == pytest.approx(prof.expected_coverage("1-op", 16), abs=0.05)


def test_profiles_load_by_name_or_path_and_say_what_is_wrong(tmp_path: Path) -> None:
    shipped = load_profile("smollm2-arith")
    assert shipped.name == "smollm2-arith" and "SmolLM2" in shipped.model
    path = tmp_path / "p.json"
    path.write_text(shipped.to_json())
    assert load_profile(path) == shipped
    with pytest.raises(UserError, match=r"unknown simulator profile 'gpt9'; shipped profiles: "
                                        r"'smollm2-arith'"):
        load_profile("gpt9")
    (tmp_path / "bad.json").write_text('{"name": "x"}')
    with pytest.raises(UserError, match=r"bad\.json: not a simulator profile \(KeyError"):
        load_profile(tmp_path / "bad.json")
    with pytest.raises(UserError, match="weights summing to 1"):
        profile({"1-op": (Level(0.5, 0.5),)})
    with pytest.raises(UserError, match="a profile sets skill and steepness"):
        SimulatedModel(profile="smollm2-arith", skill=0.7)
    assert SimulatedModel.from_spec("simulated:profile=smollm2-arith").profile == shipped
