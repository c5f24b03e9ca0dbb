"""Scaling with samples on a real model, next to the calibrated simulator's prediction:
coverage@k (some sample right) and majority@k (the vote of k samples right), k = 1..32, on
200 generated arithmetic problems held apart from those the profile was fitted on.

The real model is SmolLM2-135M-Instruct on llama.cpp's server (``local/smollm2``, two server
processes of one thread each); the simulator is ``SimulatedModel(profile="smollm2-arith")``
(fitted by ``python -m forethought.models.simulated.calibrate`` on problems of seed 0; these
use seed 100). Both are sampled through the SDK (a RunContext, ``n`` samples per call, with
seeds) by :func:`forethought.models.simulated.calibrate.sample`: this benchmark does its own
small sampling loop rather than ``forethought eval``. Both answer sets go through the same
reader and the same estimators (unbiased pass@k; majority over random k-subsets, ties split).

Targets: the real coverage rises with k; the simulator within 0.05 absolute of the real curve
at every k, for both curves. Draws ``docs/real_scaling.png``. Needs the ``local`` extra.

Figures: **SmolLM2-135M on 2 CPU cores**, on short arithmetic; not a claim about any other
model or task.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from _common import emit, machine, round_floats

from forethought.models.litellm_import import import_now
from forethought.models.local import LocalModel
from forethought.models.simulated import SimulatedModel
from forethought.models.simulated.calibrate import curves, make_problems, sample

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 0.05


def plot(ks: list[int], real: dict[str, list[float]], sim: dict[str, list[float]],
         problems: int, samples: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for key, colour in (("coverage", "tab:blue"), ("majority", "tab:orange")):
        ax.plot(ks, real[key], "o-", color=colour, label=f"{key}@k, SmolLM2 (real)")
        ax.plot(ks, sim[key], "--", color=colour, label=f"{key}@k, calibrated simulator")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks if len(ks) <= 8 else [k for k in ks if k & (k - 1) == 0])
    ax.get_xaxis().set_major_formatter(ScalarFormatter())
    ax.set_xlabel("samples k")
    ax.set_ylabel("share of problems")
    ax.set_ylim(0, 1)
    ax.set_title(f"SmolLM2-135M on 2 CPU cores: {problems} held-apart arithmetic problems, "
                 f"{samples} samples each", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


async def run(args: argparse.Namespace) -> None:
    import_now()
    problems = make_problems(args.problems, args.seed)
    start = time.perf_counter()
    async with LocalModel(f"local/smollm2:parallel={args.parallel}") as model:
        real = await sample(model, problems, args.samples, seed=args.seed,
                            temperature=args.temperature, progress=True)
    real_s = time.perf_counter() - start
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "real_scaling_answers.json"
    record = {"problems": [p.question for p in problems], "answers": [p.answer for p in problems],
              "real": real}
    saved.write_text(json.dumps(record))  # the slow part is kept whatever happens next
    sim = await sample(SimulatedModel(profile=args.profile, seed=args.seed), problems,
                       args.samples, seed=args.seed, temperature=args.temperature)
    saved.write_text(json.dumps({**record, "simulated": sim}))
    ks = list(range(1, args.samples + 1))
    r, s = curves(problems, real, ks), curves(problems, sim, ks)
    emit(round_floats({"kind": "config", "problems": len(problems), "samples": args.samples,
                       "seed": args.seed, "temperature": args.temperature,
                       "profile": args.profile, "sampling_s": real_s,
                       "model": "SmolLM2-135M-Instruct Q4_1, llama.cpp, 2 CPU cores"}))
    worst = 0.0
    for i, k in enumerate(ks):
        dc, dm = abs(r["coverage"][i] - s["coverage"][i]), abs(r["majority"][i] - s["majority"][i])
        worst = max(worst, dc, dm)
        emit(round_floats({"kind": "point", "k": k, "real_coverage": r["coverage"][i],
                           "sim_coverage": s["coverage"][i], "real_majority": r["majority"][i],
                           "sim_majority": s["majority"][i], "abs_diff_coverage": dc,
                           "abs_diff_majority": dm,
                           "pass": "pass" if max(dc, dm) <= TOLERANCE else "fail"}))
    rising = all(b >= a - 1e-9 for a, b in zip(r["coverage"], r["coverage"][1:], strict=False))
    emit(round_floats({"kind": "target", "coverage_rises": rising,
                       "worst_abs_diff": worst, "tolerance": TOLERANCE,
                       "pass": "pass" if rising and worst <= TOLERANCE else "fail"}))
    if not args.quick:
        plot(ks, r, s, len(problems), args.samples, ROOT / "docs" / "real_scaling.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="10 problems, 4 samples")
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--profile", default="smollm2-arith")
    args = parser.parse_args()
    if args.quick:
        args.problems, args.samples = 10, 4
    emit(machine())
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
