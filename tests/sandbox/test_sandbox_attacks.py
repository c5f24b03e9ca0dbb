"""The attacks of issue 13, in every backend: containment, and a clean pool afterwards.

Host files and other processes, memory through /dev/shm, files left in shared directories,
huge stdin, forks in a session, forged frames on the control channel, a stopped parent. One
sandbox per backend serves the module; after every attack the next job on the same pool
must find a clean worker (``healthy``).
"""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from sandbox_support import BACKENDS, ROOT, healthy, make_sandbox, sandbox_uid_processes

from forethought.exceptions import SandboxError, UserError
from forethought.sandbox import MAX_STDIN_BYTES, Limits, ProcessSandbox, Sandbox
from forethought.tools.python_tool import PythonTool

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "planted-9c41e7"
LIMITS = Limits(wall_s=5, cpu_s=5, memory_mb=256, processes=32, output_bytes=100_000,
                file_size_mb=16)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    sb = make_sandbox(request.param, limits=LIMITS)
    async with sb:
        yield sb
    assert sandbox_uid_processes() == []


def plain_without_landlock(sb: Sandbox) -> bool:
    return isinstance(sb, ProcessSandbox) and not sb.landlock_abi


def needs_confinement(sb: Sandbox, what: str) -> None:
    if plain_without_landlock(sb):
        pytest.skip(f"this kernel has no Landlock, so the plain process backend cannot {what} "
                    f"(documented; it warns, and isolation='strict' refuses it)")


@pytest.fixture
def planted() -> Iterator[Path]:
    """A world-readable file outside any work dir, in directories anyone may enter."""
    where = Path(tempfile.mkdtemp(prefix="forethought-planted-", dir="/var/tmp"))
    where.chmod(0o755)
    secret = where / "key.pem"
    secret.write_text(f"-----BEGIN {SECRET}-----\n")
    secret.chmod(0o644)
    assert SECRET in secret.read_text()  # the host itself can read it
    yield secret
    shutil.rmtree(where)


@pytest.fixture
def other_process() -> Iterator[tuple[int, str]]:
    """A host process with a secret on its command line (visible in the host's /proc)."""
    token = f"--token={SECRET}"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", token]) as other:
        try:
            deadline = time.monotonic() + 10
            while token.encode() not in Path(f"/proc/{other.pid}/cmdline").read_bytes():
                assert time.monotonic() < deadline, "the process never showed its token"
                time.sleep(0.01)  # until it has exec'd
            yield other.pid, token
        finally:
            other.kill()


READ_ATTEMPT = """
import os
results = {{}}
for path in {paths!r}:
    try:
        with open(path) as f:
            results[path] = f.read(200)
    except OSError as exc:
        results[path] = type(exc).__name__
results
"""


async def test_a_world_readable_host_file_outside_the_work_dir_is_out_of_reach(
        sandbox: Sandbox, planted: Path) -> None:
    needs_confinement(sandbox, "hide world-readable host files")
    paths = [str(planted), str(ROOT / "pyproject.toml")]
    r = await sandbox.run(READ_ATTEMPT.format(paths=paths))
    assert r.ok and r.value is not None, r
    outcomes = ast.literal_eval(r.value)
    assert all(outcome.endswith("Error") for outcome in outcomes.values()), outcomes
    await healthy(sandbox)


async def test_other_processes_command_lines_are_invisible(
        sandbox: Sandbox, other_process: tuple[int, str]) -> None:
    needs_confinement(sandbox, "hide /proc")
    pid, _token = other_process
    code = ("import os\nseen = []\n"
            "try:\n    pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            "except OSError as exc:\n    pids = []\n    seen.append(type(exc).__name__)\n"
            f"for pid in pids + ['{pid}']:\n"
            "    try:\n"
            "        seen.append(open(f'/proc/{pid}/cmdline', 'rb').read())\n"
            "    except OSError as exc:\n"
            "        seen.append(type(exc).__name__)\n"
            "seen")
    r = await sandbox.run(code)
    assert r.ok, r
    assert SECRET not in (r.value or ""), r.value
    await healthy(sandbox)


async def test_a_1_gb_write_to_dev_shm_fails_under_the_memory_limit(sandbox: Sandbox) -> None:
    before = shutil.disk_usage("/dev/shm").used
    code = ("import os\nwritten = 0\nblock = b'\\0' * (1 << 20)\n"
            "try:\n"
            "    fd = os.open('/dev/shm/fill', os.O_WRONLY | os.O_CREAT, 0o600)\n"
            "    while written < (1 << 30):\n"
            "        written += os.write(fd, block)\n"
            "    outcome = 'wrote 1 GB'\n"
            "except OSError as exc:\n"
            "    outcome = type(exc).__name__\n"
            "(outcome, written)")
    r = await sandbox.run(code, limits=replace(LIMITS, wall_s=20, cpu_s=20))
    assert r.value is not None or r.limit == "file_size", r
    if r.value is not None:
        outcome, written = ast.literal_eval(r.value)
        assert outcome != "wrote 1 GB" and written <= LIMITS.memory_mb << 20, r.value
    assert shutil.disk_usage("/dev/shm").used - before < 8 << 20  # nothing kept on the host
    await healthy(sandbox)


@pytest.mark.parametrize("shared", ["/run/lock", "/tmp", "/var/tmp", "/dev/shm"])
async def test_files_written_to_shared_directories_do_not_reach_the_next_job(
        sandbox: Sandbox, shared: str) -> None:
    probe = f"{shared}/forethought-probe-{os.getpid()}"
    first = await sandbox.run(
        f"import os\ntry:\n    os.makedirs({shared!r}, exist_ok=True)\n"
        f"    open({probe!r}, 'w').write('job one was here')\n    'written'\n"
        f"except OSError as exc:\n    'refused ' + type(exc).__name__")
    second = await sandbox.run(f"import os\nos.path.exists({probe!r})")
    assert first.ok and second.ok, (first, second)
    assert second.value == "False", (first.value, second.value)
    assert not await asyncio.to_thread(os.path.exists, probe)  # nor did it land on the host
    await healthy(sandbox)


async def test_64_mib_of_stdin_completes_within_the_wall_time(sandbox: Sandbox) -> None:
    stdin = "0123456789abcdef" * (4 << 20)
    limits = replace(LIMITS, wall_s=3)
    code = "import sys\ndata = sys.stdin.buffer.read()\n(len(data), data[:4], data[-4:])"
    started = time.perf_counter()
    r = await sandbox.run(code, stdin=stdin, limits=limits)
    elapsed = time.perf_counter() - started
    assert r.ok and not r.timed_out, r
    assert r.value == f"({64 << 20}, b'0123', b'cdef')"
    assert elapsed < limits.wall_s, f"64 MiB of stdin took {elapsed:.1f} s"
    await healthy(sandbox)


async def test_stdin_above_the_cap_is_refused_at_once(sandbox: Sandbox) -> None:
    stdin = "x" * (200 << 20)
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"stdin is 200\.0 MiB .*at most 128 MiB"):
        await sandbox.run("print(1)", stdin=stdin)
    assert time.perf_counter() - started < 0.5
    with pytest.raises(UserError, match=r"at most 128 MiB"):
        await sandbox.run("print(1)", stdin="é" * (MAX_STDIN_BYTES // 2 + 1))  # 2 bytes each
    await healthy(sandbox)


async def test_a_fork_in_a_session_cell_never_answers_for_the_session(
        sandbox: Sandbox) -> None:
    async with sandbox.session() as session:
        kernel = (await session.run("import os\nx = 'before'\nos.getpid()")).value
        r = await session.run("pid = os.fork()\nx = 'child' if pid == 0 else 'parent'\n"
                              "print('cell ran in', 'child' if pid == 0 else 'parent')\npid")
        assert r.ok and "cell ran in parent" in r.stdout, r
        for _ in range(3):  # the child's copy of the session never answers a later cell
            again = await session.run("(x, os.getpid())")
            assert again.value == f"('parent', {kernel})", again
        r = await session.run("pid = os.fork()\nif pid == 0:\n    import time\n"
                              "    time.sleep(60)\npid")
        sleeper = r.value
        gone = await session.run(f"try:\n    os.kill({sleeper}, 0)\n    state = 'alive'\n"
                                 f"except ProcessLookupError:\n    state = 'gone'\nstate")
        assert gone.value == "'gone'", "a process forked by a cell outlived the cell"
        assert session.alive
    await healthy(sandbox)


async def test_a_fork_in_a_run_never_answers_for_it(sandbox: Sandbox) -> None:
    code = ("import os, time\npid = os.fork()\nif pid != 0:\n    time.sleep(0.1)\n"
            "'child' if pid == 0 else 'parent'")  # the child finishes first
    for _ in range(3):
        r = await sandbox.run(code)
        assert r.ok and r.value == "'parent'", r
    await healthy(sandbox)


async def test_a_cell_whose_process_exits_after_forking_ends_the_session(
        sandbox: Sandbox) -> None:
    session = sandbox.session()
    await session.run("x = 1")
    r = await session.run("import os, time\nif os.fork() != 0:\n    os._exit(0)\n"
                          "time.sleep(0.2)\nx = 2")
    assert not session.alive and r.note is not None and "session ended" in r.note, r
    with pytest.raises(SandboxError, match="the session has ended"):
        await session.run("x")
    await session.aclose()
    await healthy(sandbox)


def forge(payload: str, tail: str = "os._exit(0)") -> str:
    """Code that writes ``payload`` on the job's control channel (fd 3) itself."""
    return f"import json, os, struct\ndata = {payload}\nos.write(3, data)\n{tail}"


def frame(obj: str) -> str:
    return f"(lambda d: struct.pack('>I', len(d)) + d)(json.dumps({obj}).encode())"


FORGERIES = {
    "value-not-a-string": forge(frame('{"value": 42, "error": None, "exit": 0}')),
    "error-not-an-object": forge(frame('{"value": None, "error": [1], "exit": 1}')),
    "exit-not-an-integer": forge(frame('{"value": None, "error": None, "exit": "0"}')),
    "unknown-field": forge(frame('{"value": "1", "exit": 0, "clean": True}')),
    "not-json": forge("struct.pack('>I', 5) + b'\\xff{{{{'"),
    "huge-length": forge("struct.pack('>I', 1 << 31) + b'xx'"),
    "two-answers": forge(frame('{"value": "1", "error": None, "exit": 0}'), tail="1"),
}


@pytest.mark.parametrize("code", list(FORGERIES.values()), ids=list(FORGERIES))
async def test_a_forged_frame_is_a_sandbox_error_and_the_worker_is_replaced(
        sandbox: Sandbox, code: str) -> None:
    idle = sandbox.pool._idle  # type: ignore[attr-defined]  # pyright: ignore[reportPrivateUsage]
    assert idle, "the previous test left a warm worker"
    served = idle[-1]  # the pool hands out its most recently returned worker
    with pytest.raises(SandboxError, match=r"control channel: .*the worker is replaced"):
        await sandbox.run(code)
    await healthy(sandbox)
    assert not served.alive and served not in idle  # killed, never handed out again


async def test_a_forged_frame_in_the_python_tool_is_a_sandbox_error_never_a_type_error(
        sandbox: Sandbox) -> None:
    tool = PythonTool(sandbox)
    with pytest.raises(SandboxError, match="control channel"):
        await tool.call({"code": FORGERIES["value-not-a-string"]})
    stateful = PythonTool(sandbox, stateful=True)
    assert await stateful.call({"code": "y = 5"}) == "(no output)"
    with pytest.raises(SandboxError, match="control channel"):
        await stateful.call({"code": forge(frame('{"value": 1, "exit": 0}'), tail="y")})
    out = await stateful.call({"code": "'y' in globals()"})
    assert out == "False\n[the previous session ended, so this one started empty]"
    await stateful.close_session()
    await healthy(sandbox)


STOP_PARENT = ("import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGSTOP)\n"
               "    print('stopped it')\nexcept OSError as exc:\n"
               "    print('denied', type(exc).__name__)\n")


async def test_stopping_its_parent_neither_stretches_the_call_nor_fakes_a_timeout(
        sandbox: Sandbox) -> None:
    limits = replace(LIMITS, wall_s=3)
    started = time.perf_counter()
    r = await sandbox.run(STOP_PARENT + "print('done')", limits=limits)
    elapsed = time.perf_counter() - started
    assert r.ok and not r.timed_out and r.limit is None, r
    assert r.stdout.endswith("done\n") and elapsed < 2, (elapsed, r)
    await healthy(sandbox)
    if isinstance(sandbox, ProcessSandbox) and sandbox.landlock_abi < 6 and (
            sandbox.isolation == "process-same-user"):
        return  # kill(-1) would stop every process of the user running these tests
    everyone = ("import os, signal\ntry:\n    os.kill(-1, signal.SIGSTOP)\n"
                "except OSError:\n    pass\nprint('done')")
    started = time.perf_counter()
    r = await sandbox.run(everyone, limits=limits)
    assert r.stdout == "done\n" and not r.timed_out and time.perf_counter() - started < 2, r
    await healthy(sandbox)


async def test_a_job_that_stops_its_parent_and_runs_on_is_timed_out_on_time(
        sandbox: Sandbox) -> None:
    limits = replace(LIMITS, wall_s=1, cpu_s=None)
    started = time.perf_counter()
    r = await sandbox.run(STOP_PARENT + "while True:\n    pass", limits=limits)
    elapsed = time.perf_counter() - started
    assert r.timed_out and r.limit == "wall_time", r
    assert elapsed < limits.wall_s + 3, f"the call took {elapsed:.1f} s against wall_s=1"
    await healthy(sandbox)


async def test_a_reply_that_arrived_while_the_host_was_stopped_is_not_a_timeout(
        sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # The host is stopped (SIGSTOP) past its own deadline for the reply while the job runs
    # and finishes; once it continues, the reply is there and is the result.
    from forethought.sandbox import pooled

    monkeypatch.setattr(pooled, "REPLY_GRACE_S", 0.2)
    limits = replace(LIMITS, wall_s=1)
    me = os.getpid()
    stopper = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", f"sleep 0.15; kill -STOP {me}; sleep 1.8; kill -CONT {me}")
    try:
        r = await sandbox.run("import time\ntime.sleep(0.4)\nprint('done')", limits=limits)
    finally:
        await stopper.wait()
        os.kill(me, signal.SIGCONT)
    assert r.ok and r.stdout == "done\n" and not r.timed_out, r
    assert r.duration_s < limits.wall_s  # the job's own time, not the host's pause
    await healthy(sandbox)


async def test_the_pool_is_still_clean_after_every_attack(sandbox: Sandbox) -> None:
    results = await asyncio.gather(*(sandbox.run(f"{i} * 3") for i in range(4)))
    assert [r.value for r in results] == [str(i * 3) for i in range(4)]
    await healthy(sandbox)
