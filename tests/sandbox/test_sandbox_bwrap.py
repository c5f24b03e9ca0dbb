"""The namespace backend is as locked down as its docstring says."""

from __future__ import annotations

import ast
import platform
import time
from pathlib import Path

import pytest
from sandbox_support import needs_bwrap, sandbox_uid_processes

from forethought.sandbox import BwrapSandbox, Limits, PoolConfig
from forethought.sandbox import bwrap as bwrap_module
from forethought.sandbox._protocol import runner_source
from forethought.sandbox._seccomp import DENIED
from forethought.sandbox.runtime import runtime_files

PROBE = """
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines())
def refused(nr):
    return libc.syscall(nr, 0, 0, 0, 0) < 0 and ctypes.get_errno()
def written(path):
    try:
        with open(path, 'w') as f:
            f.write('x')
        return [path]
    except OSError:
        return []
def size_mb(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize >> 20
{"uid": (os.getuid(), os.getgid()), "pids": sorted(int(p) for p in os.listdir('/proc')
                                                   if p.isdigit()),
 "pid1": open('/proc/1/comm').read().strip(), "hostname": socket.gethostname(),
 "interfaces": sorted(name for _, name in socket.if_nameindex()),
 "caps": status['CapEff'].strip(), "seccomp": status['Seccomp'].strip(),
 "keyctl": refused(KEYCTL), "userns": refused(UNSHARE),
 "read_only": [p for p in ('/', '/usr', '/etc', '/dev')
               if os.statvfs(p).f_flag & os.ST_RDONLY],
 "sysctl": written('/proc/sys/kernel/hostname') + written('/proc/sysrq-trigger'),
 "sizes": {p: size_mb(p) for p in ('/work', '/tmp', '/var/tmp', '/run', '/dev/shm')},
 "root": sorted(os.listdir('/'))}
"""


@needs_bwrap
async def test_namespace_workers_are_locked_down() -> None:
    column = 0 if platform.machine() == "x86_64" else 1
    code = (PROBE.replace("KEYCTL", str(DENIED["keyctl"][column]))
            .replace("UNSHARE", str(DENIED["unshare"][column])))
    limits = Limits(memory_mb=256, disk_mb=64)
    async with BwrapSandbox(limits=limits, pool=PoolConfig(size=1)) as sandbox:
        r = await sandbox.run(code)
        assert r.ok and r.value is not None, r
        found = ast.literal_eval(r.value)
        assert sandbox_uid_processes() != []  # as root: the worker runs as a throwaway uid
        runtime = runtime_files(sandbox.python)
    assert found["uid"] == (65534, 65534) and found["pids"] == [1, 2, 3]
    assert found["pid1"].startswith("python") and found["hostname"] == "sandbox"
    assert found["interfaces"] == ["lo"] and found["caps"] == "0000000000000000"
    assert found["seccomp"] == "2" and found["keyctl"] == 1 and found["userns"] == 1  # EPERM
    assert found["read_only"] == ["/", "/usr", "/etc", "/dev"] and found["sysctl"] == []
    assert found["sizes"] == {"/work": 64, "/tmp": 32, "/var/tmp": 32, "/run": 32,
                              "/dev/shm": 32}
    # Nothing of the host's filesystem but the runtime's own directories, and our mounts.
    runtime_tops = {Path(p).parts[1] for p in runtime.readable()}
    assert set(found["root"]) == runtime_tops | {"bin", "dev", "etc", "proc", "run", "tmp",
                                                 "usr", "var", "work"}


@needs_bwrap
async def test_without_pidfd_a_stopped_parent_still_cannot_stretch_a_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Kernels before 5.3 have no pidfd: the runner then polls the job's state instead.
    source = runner_source()
    assert "return os.pidfd_open(pid)" in source
    monkeypatch.setattr(bwrap_module, "runner_source",
                        lambda: source.replace("return os.pidfd_open(pid)", "return None"))
    code = ("import os, signal, time\nos.kill(os.getppid(), signal.SIGSTOP)\n"
            "time.sleep(0.2)\nprint('done')")
    async with BwrapSandbox(pool=PoolConfig(size=1)) as sandbox:
        started = time.perf_counter()
        r = await sandbox.run(code, limits=Limits(wall_s=3))
        elapsed = time.perf_counter() - started
        assert r.ok and r.stdout == "done\n" and not r.timed_out, r
        assert elapsed < 2, f"the call took {elapsed:.1f} s"
        assert (await sandbox.run("6 * 7")).value == "42"
