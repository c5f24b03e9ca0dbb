"""The progress display: a snapshot of its rendering, and the real command in a pseudo-
terminal (live display, then the summary tables; no JSON lines).
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from inline_snapshot import snapshot
from rich.console import Console

from forethought.eval.progress import ProgressView
from forethought.eval.results import InstanceResult, InstanceUsage, Tally
from tests.eval.helpers import arithmetic_recipe

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def result(i: int, *, correct: bool = True, status: str = "ok",
           answer: str | None = None) -> InstanceResult:
    return InstanceResult(id=f"q{i}", index=i, question="?", answer=answer or str(i),
                          reference="1", correct=correct, score=float(correct), status=status,
                          usage=InstanceUsage(model_calls=3, prompt_tokens=1000,
                                              completion_tokens=250, cost_usd=0.0125),
                          duration_s=1.0)


def test_the_view_shows_done_accuracy_interval_usage_failures_and_eta() -> None:
    now = [100.0]
    tally = Tally()
    tally.add(result(0))  # finished in an earlier session
    view = ProgressView(eval_id="eval-20250101-000000-abcdef", name="game24-eval", total=20,
                        tally=tally, clock=lambda: now[0])
    for i in range(1, 8):
        tally.add(result(i, correct=i % 4 != 0, status="error" if i == 5 else "ok"))
    now[0] = 110.0
    view.last = result(7, answer="(10 - 4) * (13 - 9)")
    console = Console(width=100, record=True, color_system=None, force_terminal=False)
    console.print(view)
    assert console.export_text() == snapshot("""\
eval eval-20250101-000000-abcdef  game24-eval  (resumed: 1 done before)
━━━━━━━━━━━━━━━━                         8/20 (40%) 0.7 inst/s ETA 0:00:17
accuracy 87.5% (95% CI 52.9-97.8%)  tokens 10,000  $0.1000  calls 24  failures 1
last: ✓ q7 [ok] '(10 - 4) * (13 - 9)'
""")


def test_the_command_in_a_terminal_shows_live_progress_then_the_summary(
        tmp_path: Path) -> None:
    recipe = arithmetic_recipe(tmp_path, n=12)
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "110", "LINES": "40", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "forethought.cli", "eval", str(recipe), "--model",
         "simulated:sleep=true,time_scale=0.5", "--concurrency", "3", "--store",
         str(tmp_path / "s.sqlite"), "-o", str(tmp_path / "r.jsonl")],
        stdin=follower, stdout=follower, stderr=follower, env=env, cwd=tmp_path)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the terminal closed with the process
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    raw = b"".join(chunks).decode("utf-8", "replace")
    text = ANSI.sub("", raw)
    assert "\x1b[" in raw  # redrawn in place, with colour
    frames = re.findall(r"(\d+)/12 \((\d+)%\) [\d.]+ inst/s ETA \d:\d\d:\d\d", text)
    assert len(frames) >= 2 and frames[-1] == ("12", "100")
    assert re.search(r"accuracy \d+\.\d% \(95% CI \d+\.\d-\d+\.\d%\)  tokens [\d,]+  \$0\.0000  "
                     r"calls 24  failures 0", text)
    assert re.search(r"eval eval-\S+: 12 of 12 instances", text)
    assert re.search(r"all +│ +12 │", text) and "by level" in text
    assert f"results: {tmp_path / 'r.jsonl'} (12 lines)" in text.replace("\n", "")
    assert '{"id"' not in text  # JSON lines only without a terminal
