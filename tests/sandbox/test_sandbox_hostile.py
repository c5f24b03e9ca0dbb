"""The hostile-program battery, in every backend: assert the outcome, never the host's harm.

One sandbox per backend serves the whole module, so every test also checks that the pool
survives the previous hostile program and hands out a clean worker afterwards. The attacks
of issue 13 (host files, other processes, shared directories, stdin, forks, forged frames, a
stopped parent) are in test_sandbox_attacks.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from sandbox_support import (
    BACKENDS,
    ROOT,
    env_var,
    healthy,
    make_sandbox,
    our_containers,
    sandbox_uid_processes,
    stray_processes,
)

from forethought.sandbox import Limits, Sandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "s3cr3t-7f2a91"
LIMITS = Limits(wall_s=5, cpu_s=5, memory_mb=256, processes=32, output_bytes=100_000,
                file_size_mb=16)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    # The secret is in the host's environment before any worker starts.
    env = env_var("FORETHOUGHT_TEST_SECRET", SECRET)
    next(env)
    sb = make_sandbox(request.param, limits=LIMITS)
    await sb.start()
    try:
        yield sb
    finally:
        await sb.aclose()
        for _ in env:
            pass
    assert sandbox_uid_processes() == []
    assert our_containers() == []


def same_user(sb: Sandbox) -> bool:
    return sb.isolation == "process-same-user"


async def test_infinite_loop_is_killed_at_the_wall_time(sandbox: Sandbox) -> None:
    r = await sandbox.run("while True:\n    pass", limits=replace(LIMITS, wall_s=0.5, cpu_s=None))
    assert r.timed_out and r.limit == "wall_time" and r.exit_code == -9
    assert 0.45 < r.duration_s < 4
    await healthy(sandbox)


async def test_cpu_time_limit(sandbox: Sandbox) -> None:
    r = await sandbox.run("while True:\n    pass", limits=replace(LIMITS, wall_s=8, cpu_s=1))
    assert r.timed_out and r.limit == "cpu_time" and r.exit_code is not None
    assert r.exit_code < 0 and r.duration_s < 6


async def test_fork_bomb_hits_the_process_limit_and_the_host_stays_responsive(
        sandbox: Sandbox) -> None:
    bomb = ("import os\n"
            "while True:\n"
            "    try:\n"
            "        os.fork()\n"
            "    except OSError:\n"
            "        pass\n")
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.02)
            lags.append(time.perf_counter() - t - 0.02)

    tick = asyncio.create_task(ticker())
    r = await sandbox.run(bomb, limits=replace(LIMITS, wall_s=1, cpu_s=None))
    tick.cancel()
    assert r.timed_out and r.limit == "wall_time"
    assert max(lags) < 1.0, f"the host's event loop stalled for {max(lags):.2f} s"
    started = time.perf_counter()
    true = await asyncio.create_subprocess_exec("true")  # the host can still start processes
    assert await true.wait() == 0 and time.perf_counter() - started < 2
    assert stray_processes(sandbox) == []  # every bomb process is gone
    await healthy(sandbox)


@pytest.mark.parametrize("code", [
    "x = bytearray(10 * 1024 ** 3)",
    "chunks = []\nwhile True:\n    chunks.append(bytearray(50_000_000))",
], ids=["one-10GB-block", "growing"])
async def test_allocating_10_gb_is_killed_for_memory(sandbox: Sandbox, code: str) -> None:
    r = await sandbox.run(code)
    assert r.killed_for_memory and r.limit == "memory" and not r.ok, r
    assert r.duration_s < 4
    await healthy(sandbox)


async def test_writing_a_10_gb_file_hits_the_file_size_limit(sandbox: Sandbox) -> None:
    code = ("block = b'\\0' * (1 << 20)\n"
            "with open('big.bin', 'wb') as f:\n"
            "    for _ in range(10 * 1024):\n"
            "        f.write(block)\n")
    r = await sandbox.run(code)
    assert r.limit == "file_size" and r.error is not None, r
    assert "File too large" in r.error.message
    await healthy(sandbox)


async def test_printing_1_gb_is_truncated_quickly(sandbox: Sandbox) -> None:
    code = ("import sys\nblock = 'x' * (1 << 20)\n"
            "for _ in range(1024):\n    sys.stdout.write(block)\n"
            "sys.stderr.write('done')")
    r = await sandbox.run(code, limits=replace(LIMITS, wall_s=30, cpu_s=30))
    assert r.ok and r.stdout_truncated and not r.stderr_truncated
    assert len(r.stdout) == 100_000 and r.stdout_bytes == 1 << 30 and r.stderr == "done"
    assert r.duration_s < 20


async def test_no_connection_to_the_host_loopback(sandbox: Sandbox) -> None:
    if same_user(sandbox):
        pytest.skip("the process backend without root cannot block the network; it reports "
                    "isolation 'process-same-user' and the python tool warns")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = ("import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print('refused', type(exc).__name__)\n")
    r = await sandbox.run(code)
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()
    assert r.stdout.startswith("refused"), r


async def test_no_route_to_a_public_address(sandbox: Sandbox) -> None:
    if same_user(sandbox):
        pytest.skip("the process backend without root cannot block the network, so this "
                    "test does not try to reach a public address from it")
    # Only attempted where no interface but loopback exists, so nothing can leave the box.
    code = ("import socket\n"
            "names = sorted(n for _, n in socket.if_nameindex())\n"
            "if names != ['lo']:\n"
            "    print('interfaces', names)\n"
            "else:\n"
            "    try:\n"
            "        socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
            "        print('connected')\n"
            "    except OSError as exc:\n"
            "        print('unreachable', type(exc).__name__)\n")
    r = await sandbox.run(code)
    assert r.stdout.startswith("unreachable"), r


async def test_nothing_of_the_hosts_environment_or_files_leaks(sandbox: Sandbox,
                                                               tmp_path: Path) -> None:
    marker = tmp_path / "private.txt"
    marker.write_text(SECRET)
    home = Path.home()
    code = (f"import os\n"
            f"found = [k for k, v in os.environ.items() if {SECRET!r} in v]\n"
            f"try:\n"
            f"    pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            f"except OSError:\n"
            f"    pids = []\n"
            f"for pid in pids:\n"
            f"    try:\n"
            f"        if {SECRET!r}.encode() in open(f'/proc/{{pid}}/environ', 'rb').read():\n"
            f"            found.append('proc ' + pid)\n"
            f"    except OSError:\n"
            f"        pass\n"
            f"try:\n"
            f"    found.append(open({str(marker)!r}).read())\n"
            f"except OSError:\n"
            f"    pass\n"
            f"try:\n"
            f"    found.append(sorted(os.listdir({str(home)!r})))\n"
            f"except OSError:\n"
            f"    pass\n"
            f"print(found)")
    r = await sandbox.run(code)
    assert r.ok, r
    if same_user(sandbox):
        # The same uid can read the host user's files; only the scrubbed environment holds.
        assert "FORETHOUGHT_TEST_SECRET" not in r.stdout
        return
    host_home = set(os.listdir(home))
    assert SECRET not in r.stdout
    assert not any(name in r.stdout for name in host_home if len(name) > 3), r.stdout


async def test_killing_its_parent_harms_nothing(sandbox: Sandbox) -> None:
    code = ("import os, signal, time\n"
            "try:\n"
            "    os.kill(os.getppid(), signal.SIGKILL)\n"
            "except OSError as exc:\n"
            "    print('denied', type(exc).__name__)\n"
            "time.sleep(0.5)\n"
            "print('still running')\n")
    r = await sandbox.run(code)
    if sandbox.isolation == "process":
        assert r.ok and r.stdout.startswith("denied PermissionError"), r
    else:  # the parent (the sandbox's zygote) died; its job went with it
        assert r.note is not None and "killed the sandbox's supervisor" in r.note
        assert "still running" not in r.stdout
    await healthy(sandbox)


async def test_killing_the_host_process_is_impossible(sandbox: Sandbox) -> None:
    if same_user(sandbox):
        pytest.skip("the process backend without root runs as the host's own user, which "
                    "may signal the host; only a container or a throwaway uid prevents it")
    code = (f"import os, signal\n"
            f"try:\n"
            f"    os.kill({os.getpid()}, signal.SIGKILL)\n"
            f"    print('sent')\n"
            f"except OSError as exc:\n"
            f"    print('denied', type(exc).__name__)\n")
    r = await sandbox.run(code)
    assert r.stdout.startswith("denied"), r


async def test_writing_outside_the_work_dir_is_denied(sandbox: Sandbox) -> None:
    targets = ["/etc/forethought-probe", "/usr/forethought-probe", "/forethought-probe"]
    if not same_user(sandbox):
        targets.append(str(ROOT / "forethought-probe"))
    code = (f"results = []\n"
            f"for path in {targets!r}:\n"
            f"    try:\n"
            f"        open(path, 'w').write('x')\n"
            f"        results.append('written ' + path)\n"
            f"    except OSError as exc:\n"
            f"        results.append(type(exc).__name__)\n"
            f"print(results)\n"
            f"open('inside.txt', 'w').write('fine')\n")
    r = await sandbox.run(code, output_files=["inside.txt"])
    assert r.ok and "written" not in r.stdout, r
    assert r.files == {"inside.txt": b"fine"}
    assert not any(map(os.path.exists, targets))


async def test_a_syntax_error_is_reported_as_such(sandbox: Sandbox) -> None:
    r = await sandbox.run("x = 1\ndef f(:\n    pass\n")
    assert r.error is not None and r.error.type == "SyntaxError" and r.error.line == 2
    assert r.exit_code == 1 and not r.ok and "SyntaxError" in r.stderr


async def test_a_job_that_locks_up_its_work_dir_leaves_no_mess(sandbox: Sandbox) -> None:
    code = ("import os\nos.makedirs('a/b')\nopen('a/b/f', 'w').write('x')\n"
            "os.chmod('a/b', 0)\nos.chmod('a', 0)\nos.chmod('.', 0)\n")
    r = await sandbox.run(code)
    assert r.ok, r
    await healthy(sandbox)


async def test_the_pool_is_healthy_after_the_battery(sandbox: Sandbox) -> None:
    results = await asyncio.gather(*(sandbox.run(f"{i} * 2") for i in range(6)))
    assert [r.value for r in results] == [str(i * 2) for i in range(6)]
    assert stray_processes(sandbox) == []
