"""Running code: output, values, errors, stdin, env, files in and out, shell, sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import pytest_asyncio
from sandbox_support import BACKENDS, make_sandbox

from forethought.exceptions import SandboxError
from forethought.sandbox import ProcessSandbox, Sandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")

SAME_USER = pytest.param("process-same-user", id="process-same-user")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=[*BACKENDS, SAME_USER])
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    if request.param == "process-same-user":
        sb: Sandbox = ProcessSandbox(drop_privileges=False)
    else:
        sb = make_sandbox(request.param)
    async with sb:
        yield sb


async def test_stdout_stderr_value_and_exit_code(sandbox: Sandbox) -> None:
    r = await sandbox.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7")
    assert (r.stdout, r.stderr, r.value, r.exit_code, r.ok) == ("out\n", "err\n", "42", 0, True)
    assert r.isolation == sandbox.isolation and r.duration_s > 0


async def test_an_exception_gives_a_short_traceback_of_the_code_only(sandbox: Sandbox) -> None:
    code = "def f(x):\n    return 1 / x\n\nprint('before')\nf(0)\n"
    r = await sandbox.run(code)
    assert r.error is not None and not r.ok and r.exit_code == 1
    assert (r.error.type, r.error.message, r.error.line) == (
        "ZeroDivisionError", "division by zero", 2)
    assert r.error.traceback == (
        'Traceback (most recent call last):\n'
        '  File "<code>", line 5, in <module>\n'
        '    f(0)\n'
        '  File "<code>", line 2, in f\n'
        '    return 1 / x\n'
        '           ~~^~~\n'
        'ZeroDivisionError: division by zero\n')
    assert r.stdout == "before\n"


async def test_system_exit_sets_the_exit_code(sandbox: Sandbox) -> None:
    r = await sandbox.run("import sys\nsys.exit(3)")
    assert (r.exit_code, r.error, r.ok) == (3, None, False)
    r = await sandbox.run("raise SystemExit('bye')")
    assert (r.exit_code, r.stderr) == (1, "bye\n")


async def test_stdin_environment_and_files(sandbox: Sandbox) -> None:
    code = ("import os, sys\n"
            "data = sys.stdin.read()\n"
            "print(len(data), os.environ['GREETING'], open('in/data.txt').read())\n"
            "open('out.txt', 'w').write(data.upper()[:5])\n"
            "import helper\nhelper.VALUE")
    r = await sandbox.run(code, stdin="abc" * 100_000, env={"GREETING": "hi"},
                          files={"in/data.txt": "payload", "helper.py": b"VALUE = 7\n"},
                          output_files=["out.txt", "missing.txt"])
    assert r.ok, r
    assert (r.stdout, r.value) == ("300000 hi payload\n", "7")
    assert r.files == {"out.txt": b"ABCAB"}
    assert set(r.missing_files) == {"missing.txt"}


async def test_output_files_never_follow_links_out_of_the_work_dir(sandbox: Sandbox) -> None:
    code = ("import os\nos.symlink('/etc/passwd', 'link.txt')\nos.mkdir('d')\n"
            "os.symlink('/etc', 'd/sub')\n")
    r = await sandbox.run(code, output_files=["link.txt", "d/sub/passwd"])
    assert r.ok and r.files == {}
    assert set(r.missing_files) == {"link.txt", "d/sub/passwd"}


async def test_shell_commands(sandbox: Sandbox) -> None:
    r = await sandbox.run("echo hello; printf abc > f.txt; cat f.txt >&2; exit 4",
                          language="shell", output_files=["f.txt"])
    assert (r.stdout, r.stderr, r.exit_code, r.files) == ("hello\n", "abc", 4, {"f.txt": b"abc"})


async def test_every_run_starts_clean(sandbox: Sandbox) -> None:
    await sandbox.run("import os\nopen('left.txt', 'w').write('x')\nos.environ['LEFT'] = '1'\n"
                      "import builtins\nbuiltins.LEFT = 1")
    r = await sandbox.run("import os, builtins\n"
                          "(os.listdir('.'), 'LEFT' in os.environ, hasattr(builtins, 'LEFT'))")
    assert r.value == "([], False, False)"


async def test_sessions_keep_state_between_cells(sandbox: Sandbox) -> None:
    async with sandbox.session(files={"seed.txt": "5"}) as session:
        first = await session.run("n = int(open('seed.txt').read())\nprint('set')")
        second = await session.run("def double(x):\n    return 2 * x\ndouble(n)")
        third = await session.run("double(undefined_name)")
        fourth = await session.run("n + 1")
        assert (first.stdout, first.value) == ("set\n", None)
        assert second.value == "10" and fourth.value == "6"
        assert third.error is not None and third.error.type == "NameError"
        assert third.error.traceback.startswith('Traceback (most recent call last):\n'
                                                '  File "<cell 3>", line 1')
        assert session.alive
    assert not session.alive
    with pytest.raises(SandboxError, match="the session has ended"):
        await session.run("1")


async def test_a_session_killed_by_a_limit_says_so(sandbox: Sandbox) -> None:
    session = sandbox.session(limits=replace(sandbox.limits, wall_s=0.5))
    await session.run("x = 1")
    r = await session.run("while True:\n    pass")
    assert r.timed_out and r.limit == "wall_time" and not session.alive
    assert r.note is not None and "its variables are lost" in r.note
    await session.aclose()
    r = await sandbox.run("1 + 1")
    assert r.value == "2"
