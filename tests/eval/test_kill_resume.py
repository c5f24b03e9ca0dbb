"""SIGKILL the eval process at several moments, resume each time: the results file ends with
every instance exactly once, and the totals equal an uninterrupted run with the same seed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.eval.helpers import arithmetic_recipe

# The simulator waits a quarter of each drawn latency (0.2 s a call on average; two calls an
# instance), so a kill lands while several instances are in flight.
MODEL = "simulated:seed=7,sleep=true,time_scale=0.25"
N = 30


def command(recipe: Path, store: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "forethought.cli", "eval", str(recipe), "--json", "--model",
            MODEL, "--concurrency", "6", "--store", str(store), *extra]


def run_until(args: list[str], *, lines: int | None = None, seconds: float | None = None,
              cwd: Path) -> list[dict[str, object]]:
    """Start ``args``; SIGKILL it after ``lines`` result lines or ``seconds``; return the
    lines it printed (each printed after its instance was committed).
    """
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=cwd)
    assert proc.stdout is not None
    seen: list[dict[str, object]] = []
    started = time.monotonic()
    try:
        if seconds is not None:
            time.sleep(seconds)
        else:
            for line in proc.stdout:
                seen.append(json.loads(line))
                if lines is not None and len(seen) >= lines:
                    break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, time.monotonic() - started)
    return seen


def results(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def comparable(row: dict[str, object]) -> tuple[object, ...]:
    return (row["id"], row["answer"], row["correct"], row["status"], json.dumps(row["usage"]))


def test_sigkill_mid_run_then_resume_gives_every_instance_once(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=N)
    whole = subprocess.run(command(recipe, tmp_path / "whole.sqlite", "-o",
                                   str(tmp_path / "whole.jsonl")),
                           capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert whole.returncode == 0, whole.stderr
    expected = results(tmp_path / "whole.jsonl")
    assert len(expected) == N

    store = tmp_path / "runs.sqlite"
    first = run_until(command(recipe, store), lines=5, cwd=tmp_path)
    eval_id = None
    # Killed while starting up (perhaps before the eval was created, perhaps mid-way), then
    # after more instances, once by the same command with --resume and once by its id.
    run_until(command(recipe, store, "--resume"), seconds=1.0, cwd=tmp_path)
    second = run_until(command(recipe, store, "--resume"), lines=4, cwd=tmp_path)
    from forethought.eval.store import EvalStore

    with EvalStore(store) as evals:
        (record,) = evals.evals()
        eval_id = record.id
        committed = evals.statuses(eval_id)
    assert {str(r["id"]) for r in first + second} <= set(committed)
    third = run_until([*command(recipe, store)[:4], "--resume", eval_id, "--json", "--store",
                       str(store)], lines=3, cwd=tmp_path)
    assert {str(r["id"]) for r in third}.isdisjoint(str(r["id"]) for r in first + second)

    done = subprocess.run(command(recipe, store, "--resume", "-o", str(tmp_path / "final.jsonl")),
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["eval_id"] == eval_id and summary["done"] == summary["total"] == N
    final = results(tmp_path / "final.jsonl")
    assert [r["id"] for r in final] == [r["id"] for r in expected]  # each once, in order
    assert [comparable(r) for r in final] == [comparable(r) for r in expected]
    whole_summary = json.loads(whole.stdout.splitlines()[-1])["summary"]["total"]
    for key in ("n", "correct", "model_calls", "tokens", "cost_usd", "failures"):
        assert summary["summary"]["total"][key] == whole_summary[key], key
    assert os.path.exists(store)


def _hear_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_keeps_what_finished_writes_it_and_says_how_to_resume(tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=N)
    store = tmp_path / "runs.sqlite"
    # The child must hear SIGINT even when this test runs where it is ignored (a job started
    # in the background by a shell without job control inherits SIG_IGN, and Python then
    # leaves it ignored): as a terminal's Ctrl-C would reach a foreground eval.
    proc = subprocess.Popen(command(recipe, store, "-o", str(tmp_path / "partial.jsonl")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, preexec_fn=_hear_sigint)
    assert proc.stdout is not None and proc.stderr is not None
    seen = [json.loads(proc.stdout.readline()) for _ in range(4)]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == 130
    seen += [json.loads(line) for line in out.splitlines()]
    kept = results(tmp_path / "partial.jsonl")
    assert sorted(str(r["id"]) for r in kept) == sorted(str(r["id"]) for r in seen)
    assert 4 <= len(kept) < N
    from forethought.eval.store import EvalStore

    with EvalStore(store) as evals:
        (record,) = evals.evals()
    assert err.splitlines()[-1] == (
        f"error: interrupted: {len(kept)} of {N} instances of {record.id} are kept; resume "
        f"with `forethought eval --resume {record.id}`")
