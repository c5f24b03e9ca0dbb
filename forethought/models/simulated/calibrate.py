"""Calibrate the simulator against a real model: sample, check exactly, fit, save a profile.

::

    uv run python -m forethought.models.simulated.calibrate --model local/smollm2 --out p.json

1. Generate arithmetic problems with a seed: one or two operations among ``+ - *`` on one-
   digit numbers, some two-digit (``What is 7 + 8 * 3?``). The answer is exact.
2. Sample the model ``--samples`` times per problem through the SDK (a :class:`RunContext`,
   so the samples are budgeted and counted like any run's), at ``--temperature`` with seeds.
3. Read each reply's answer (:func:`read_answer`) and check it exactly.
4. Fit the profile (:mod:`.profile`): per difficulty class a mixture of accuracy levels (EM
   on the per-problem counts of right samples), and the Zipf exponent of wrong answers.
5. With ``--holdout N``, draw N new problems (another seed), sample them, and print the real
   coverage@k and majority@k next to the calibrated simulator's.

``benchmarks/real_scaling.py`` runs the held-apart comparison at full size.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forethought.models.base import Model
from forethought.models.messages import Message, ModelRequest, ModelSettings
from forethought.models.simulated.answers import fallback_distractors
from forethought.models.simulated.arithmetic import Arithmetic, find_arithmetic
from forethought.models.simulated.profile import Level, Profile, difficulty_class
from forethought.runtime.context import RunContext

PROMPT = "What is {expr}? Answer with the number only."
NO_ANSWER = "?"
"""What a reply without a number reads as: a wrong answer like any other (it can win a vote)."""


@dataclass(frozen=True, slots=True)
class Problem:
    question: str
    arithmetic: Arithmetic

    @property
    def answer(self) -> str:
        return self.arithmetic.answer


def make_problems(count: int, seed: int) -> list[Problem]:
    """``count`` distinct problems: one or two operations (half each) among ``+ - *``, each
    number one digit (1-9) with probability 0.7, else two (10-99).
    """
    rng = random.Random(seed)
    out: list[Problem] = []
    seen: set[str] = set()
    while len(out) < count:
        terms = [str(rng.randint(1, 9) if rng.random() < 0.7 else rng.randint(10, 99))
                 for _ in range(2 + rng.randint(0, 1))]
        ops = [rng.choice("+-*") for _ in terms[1:]]
        if ops.count("*") > 1:
            continue  # products of three two-digit numbers are no longer "short" arithmetic
        expr = terms[0] + "".join(f" {op} {t}" for op, t in zip(ops, terms[1:], strict=True))
        arithmetic = find_arithmetic(expr)
        if arithmetic is None or expr in seen:
            continue
        seen.add(expr)
        out.append(Problem(question=PROMPT.format(expr=expr), arithmetic=arithmetic))
    return out


_ANSWER = re.compile(r"answer\s*[:=]\s*(-?\d[\d,]*)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*")


def read_answer(text: str) -> str:
    """The number a reply gives: after ``Answer:`` if it says so, else its last number;
    :data:`NO_ANSWER` when there is none.
    """
    m = _ANSWER.search(text)
    found = m.group(1) if m else (_NUMBER.findall(text) or [None])[-1]
    if found is None:
        return NO_ANSWER
    digits = found.replace(",", "")
    return str(int(digits)) if digits.strip("-") else NO_ANSWER


async def sample(model: Model, problems: Sequence[Problem], samples: int, *, seed: int,
                 temperature: float = 0.7, max_tokens: int = 12,
                 progress: bool = False) -> list[list[str]]:
    """``samples`` answers per problem, read with :func:`read_answer` (in problem order)."""
    ctx = RunContext(model=model)
    out: list[list[str]] = []
    start = time.perf_counter()
    for i, problem in enumerate(problems):
        request = ModelRequest(
            messages=(Message.user(problem.question),), purpose="answer",
            metadata={"question": problem.question},
            settings=ModelSettings(n=samples, temperature=temperature, max_tokens=max_tokens,
                                   seed=seed * 1_000_003 + i * 1_009))
        response = await ctx.complete(request)
        out.append([read_answer(t) for t in response.texts])
        if progress and (i + 1) % 10 == 0:
            rate = (i + 1) / (time.perf_counter() - start)
            print(f"  {i + 1}/{len(problems)} problems ({rate:.2f}/s)", file=sys.stderr)
    return out


# -- fitting -----------------------------------------------------------------------------------


def fit_levels(counts: Sequence[int], n: int, levels: int = 3, iterations: int = 500
               ) -> tuple[Level, ...]:
    """A mixture of ``levels`` binomial accuracies fitted by EM to right-sample ``counts``
    out of ``n`` per problem.
    """
    p = [(j + 0.5) / levels for j in range(levels)]
    w = [1 / levels] * levels
    for _ in range(iterations):
        resp: list[list[float]] = []
        for c in counts:
            lik = [w[j] * p[j] ** c * (1 - p[j]) ** (n - c) for j in range(levels)]
            total = sum(lik) or 1.0
            resp.append([x / total for x in lik])
        for j in range(levels):
            mass = sum(r[j] for r in resp)
            w[j] = mass / len(counts)
            p[j] = (sum(r[j] * c for r, c in zip(resp, counts, strict=True)) / (mass * n)
                    if mass > 1e-12 else p[j])
            p[j] = min(1.0, max(0.0, p[j]))
    # Levels that met (same accuracy) are one level; negligible ones are dropped.
    merged: list[list[float]] = []
    for pj, wj in sorted(zip(p, w, strict=True), reverse=True):
        if merged and abs(merged[-1][0] - pj) < 0.01:
            merged[-1][1] += wj
        elif wj > 1e-3:
            merged.append([pj, wj])
    total = sum(wj for _, wj in merged)
    return tuple(Level(accuracy=round(pj, 4), weight=round(wj / total, 4))
                 for pj, wj in merged)


def _normalise(levels: tuple[Level, ...]) -> tuple[Level, ...]:
    total = sum(lv.weight for lv in levels)
    out = [Level(lv.accuracy, lv.weight / total) for lv in levels]
    return tuple(out)


def top_wrong_share(answers: Sequence[str], right: str) -> float | None:
    """The most frequent wrong answer's share of the wrong samples (``None``: under two)."""
    wrong = [a for a in answers if a != right]
    if len(wrong) < 2:
        return None
    return Counter(wrong).most_common(1)[0][1] / len(wrong)


def simulated_top_share(skew: float, pool: int, wrong: int, rng: random.Random,
                        draws: int = 200) -> float:
    weights = [1 / (r + 1) ** skew for r in range(pool)]
    total = 0.0
    for _ in range(draws):
        picks = Counter(rng.choices(range(pool), weights, k=wrong))
        total += picks.most_common(1)[0][1] / wrong
    return total / draws


def fit_skew(problems: Sequence[Problem], answers: Sequence[Sequence[str]]) -> float:
    """The ``distractor_skew`` whose simulated wrong answers concentrate as the real ones."""
    cases: list[tuple[float, int, int]] = []
    for problem, got in zip(problems, answers, strict=True):
        share = top_wrong_share(got, problem.answer)
        if share is not None:
            pool = len(problem.arithmetic.distractors() or fallback_distractors(problem.answer))
            cases.append((share, pool, sum(a != problem.answer for a in got)))
    if not cases:
        return 1.5
    best, best_err = 1.5, math.inf
    for step in range(0, 41):
        skew = step * 0.2
        rng = random.Random(step)
        err = sum((share - simulated_top_share(skew, pool, wrong, rng)) ** 2
                  for share, pool, wrong in cases)
        if err < best_err:
            best, best_err = skew, err
    return best


def fit_profile(name: str, model: str, problems: Sequence[Problem],
                answers: Sequence[Sequence[str]], *, fitted_on: dict[str, object]) -> Profile:
    by_class: dict[str, list[int]] = {}
    samples = len(answers[0]) if answers else 0
    for problem, got in zip(problems, answers, strict=True):
        by_class.setdefault(difficulty_class(problem.arithmetic), []).append(
            sum(a == problem.answer for a in got))
    classes = {key: _normalise(fit_levels(counts, samples)) for key, counts in
               sorted(by_class.items())}
    return Profile(name=name, model=model, task=f"arithmetic: {PROMPT!r}, one or two of + - * "
                   f"on numbers of one digit (70%) or two, checked exactly", classes=classes,
                   distractor_skew=fit_skew(problems, answers),
                   fitted_on={**fitted_on, "problems": len(problems), "samples": samples})


# -- curves ------------------------------------------------------------------------------------


def coverage_at(answers: Sequence[str], right: str, k: int) -> float:
    """Unbiased chance that ``k`` of these samples include a right one (pass@k)."""
    n, c = len(answers), sum(a == right for a in answers)
    if n - c < k:
        return 1.0
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def majority_at(answers: Sequence[str], right: str, k: int, rng: random.Random,
                draws: int = 64) -> float:
    """Chance that a majority vote of ``k`` of these samples is right (ties broken at random),
    estimated over ``draws`` random subsets.
    """
    wins = 0.0
    for _ in range(draws if k < len(answers) else 1):
        votes = Counter(rng.sample(list(answers), k)).most_common()
        top = [a for a, n in votes if n == votes[0][1]]
        wins += (right in top) / len(top)
    return wins / (draws if k < len(answers) else 1)


def curves(problems: Sequence[Problem], answers: Sequence[Sequence[str]], ks: Sequence[int],
           seed: int = 0) -> dict[str, list[float]]:
    """Mean coverage@k and majority@k over the problems, for each k in ``ks``."""
    rng = random.Random(seed)
    cov = [sum(coverage_at(a, p.answer, k) for p, a in zip(problems, answers, strict=True))
           / len(problems) for k in ks]
    maj = [sum(majority_at(a, p.answer, k, rng) for p, a in zip(problems, answers, strict=True))
           / len(problems) for k in ks]
    return {"coverage": cov, "majority": maj}


# -- the command -------------------------------------------------------------------------------


async def _main(args: argparse.Namespace) -> int:
    from forethought.models.registry import resolve_model
    from forethought.models.simulated.model import SimulatedModel

    model = resolve_model(args.model, cache=False)
    problems = make_problems(args.problems, args.seed)
    held: list[Problem] = []
    real: list[list[str]] = []
    print(f"sampling {args.model}: {len(problems)} problems x {args.samples}", file=sys.stderr)
    async with model:
        answers = await sample(model, problems, args.samples, seed=args.seed,
                               temperature=args.temperature, progress=True)
        profile = fit_profile(args.name, args.model, problems, answers, fitted_on={
            "seed": args.seed, "temperature": args.temperature,
            "date": time.strftime("%Y-%m-%d"), "machine": "see docs/local_model.md"})
        await asyncio.to_thread(Path(args.out).write_text, profile.to_json(), encoding="utf-8")
        print(f"saved {args.out}:\n{profile.to_json()}", file=sys.stderr)
        if args.holdout:
            held = make_problems(args.holdout, args.seed + 1)
            real = await sample(model, held, args.samples, seed=args.seed + 1,
                                temperature=args.temperature, progress=True)
    if args.holdout:
        sim = await sample(SimulatedModel(profile=profile, seed=args.seed), held, args.samples,
                           seed=args.seed + 1)
        ks = [k for k in (1, 2, 4, 8, 16, 32) if k <= args.samples]
        for label, answers_ in (("real", real), ("simulated", sim)):
            c = curves(held, answers_, ks)
            print(f"{label:>9}: " + "  ".join(
                f"k={k}: cov {cv:.3f} maj {mj:.3f}"
                for k, cv, mj in zip(ks, c["coverage"], c["majority"], strict=True)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Calibrate SimulatedModel against a real "
                                     "model on generated arithmetic and save a profile.",
                                     prog="python -m forethought.models.simulated.calibrate")
    parser.add_argument("--model", default="local/smollm2")
    parser.add_argument("--problems", type=int, default=120)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="smollm2-arith")
    parser.add_argument("--out", default="smollm2-arith.json")
    parser.add_argument("--holdout", type=int, default=0,
                        help="also compare on this many held-apart problems")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
