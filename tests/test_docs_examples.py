"""The runnable examples (examples/*.py, shown in docs/sdk.md) and docs/extending.md's code
run offline and do what the docs say."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def python_blocks(markdown: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown.read_text(), re.DOTALL)


@pytest.mark.parametrize(("name", "expected"), [
    ("typed_output.py", ["Lisbon: 3 nights, 490 euros (ok)", "twice the total: 252"]),
    ("conversation.py", ["84", "168", ": 2 turns, 8 messages", "168"]),
    ("typed_deps.py", ["{'item': {'description': \"The item's name.\", 'type': 'string'}}",
                       "20 euros",
                       "refused: deps must be Warehouse (Agent(deps_type=Warehouse)), got "
                       "dict: {'pears': 40}"]),
    ("streaming.py", ["  calling calculator({'expression': '17 + 25'})", "  task 3 -> 210",
                      "  finished: ok", "answer: 210", "40", "cancelled run: "]),
])
def test_each_example_runs_offline(name: str, expected: list[str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    position = 0
    for want in expected:  # in this order, each within a line
        while position < len(lines) and want not in lines[position]:
            position += 1
        assert position < len(lines), f"{want!r} not found in order in {lines!r}"
        position += 1


def test_docs_sdk_shows_every_example_verbatim() -> None:
    blocks = python_blocks(ROOT / "docs" / "sdk.md")
    for example in sorted(EXAMPLES.glob("*.py")):
        assert example.read_text() in blocks, f"docs/sdk.md does not show {example.name}"


def test_docs_extending_runs_as_one_script(tmp_path: Path) -> None:
    script = "\n".join(python_blocks(ROOT / "docs" / "extending.md"))
    assert "register_task(" in script and "register_planner(" in script
    # A subprocess: the examples register a planner, a task kind and a scorer globally.
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
