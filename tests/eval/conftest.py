"""Eval tests run in a temporary working directory: a results file written to the default
place (``evals/EVAL_ID.jsonl`` under the working directory) must never land in the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
