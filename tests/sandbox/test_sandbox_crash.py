"""Cleanup after the host process crashes, and of leftovers from earlier crashes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sandbox_support import BACKENDS, ROOT, needs_docker, sandbox_uid_processes

from forethought.exceptions import SandboxError
from forethought.sandbox import DockerSandbox, PoolConfig, ProcessSandbox
from forethought.sandbox.process import reap_leftover_dirs

HOST = """
import asyncio, sys
from forethought.sandbox import BwrapSandbox, DockerSandbox, Limits, PoolConfig, ProcessSandbox

async def main():
    kind = {"docker": DockerSandbox, "bwrap": BwrapSandbox, "process": ProcessSandbox}[sys.argv[1]]
    sandbox = kind(pool=PoolConfig(size=2))
    await sandbox.start()
    busy = asyncio.create_task(sandbox.run("while True:\\n    pass",
                                           limits=Limits(wall_s=300, cpu_s=None)))
    await asyncio.sleep(0.5)
    print("ready", flush=True)
    await busy

asyncio.run(main())
"""


def leftovers(backend: str, pid: int) -> list[str]:
    """What a dead host with ``pid`` still has running (or lying around)."""
    if backend == "docker":
        from forethought.sandbox.docker_backend import LABEL, OWNER_LABEL, docker_client

        client = docker_client()
        try:
            found = client.api.containers(all=True, filters={"label": f"{LABEL}=1"})
        finally:
            client.close()
        prefix = f"{socket.gethostname()}/{pid}/"
        return [c["Id"] for c in found if c["Labels"].get(OWNER_LABEL, "").startswith(prefix)]
    marker = f"forethought-sandbox-{pid}-"
    out = [str(p) for p in Path(tempfile.gettempdir()).glob(f"{marker}*")]
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker in Path(f"/proc/{entry}/cmdline").read_text():
                out.append(f"process {entry}")
        except OSError:
            continue
    return out + [f"process {p}" for p in sandbox_uid_processes(pid)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_of_a_killed_host_go_away_by_themselves(backend: str) -> None:
    with subprocess.Popen([sys.executable, "-c", HOST, backend], stdout=subprocess.PIPE,
                          cwd=ROOT, text=True) as host:
        assert host.stdout is not None
        assert host.stdout.readline().strip() == "ready"
        assert leftovers(backend, host.pid), "the host started no workers?"
        os.kill(host.pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while leftovers(backend, host.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(backend, host.pid) == []


async def test_leftover_dirs_of_dead_hosts_are_removed(tmp_path: Path) -> None:
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await dead.wait()
    stale = tmp_path / f"forethought-sandbox-{dead.pid}-abc"
    mine = tmp_path / f"forethought-sandbox-{os.getpid()}-abc"
    stale.mkdir()
    mine.mkdir()
    assert reap_leftover_dirs(tmp_path) == 1
    assert not stale.exists() and mine.exists()
    async with ProcessSandbox(work_root=tmp_path, pool=PoolConfig(size=1)) as sandbox:
        assert (await sandbox.run("1")).value == "1"


@needs_docker
async def test_leftover_containers_of_dead_hosts_are_removed() -> None:
    from forethought.sandbox.docker_backend import LABEL, OWNER_LABEL, docker_client
    from forethought.sandbox.image import DEFAULT_IMAGE

    client = docker_client()
    try:
        orphan = client.api.create_container(
            DEFAULT_IMAGE, ["python3", "-c", "pass"],
            labels={LABEL: "1", OWNER_LABEL: f"{socket.gethostname()}/999999999/0"})["Id"]
        async with DockerSandbox(pool=PoolConfig(size=1)):
            ids = [c["Id"] for c in client.api.containers(all=True,
                                                           filters={"label": f"{LABEL}=1"})]
            assert orphan not in ids
    finally:
        client.close()


@needs_docker
async def test_a_missing_image_is_a_clear_error() -> None:
    sandbox = DockerSandbox(image="forethought-no-such-image:0")
    with pytest.raises(SandboxError, match=r"docker image 'forethought-no-such-image:0' not "
                                           r"found; build the sandbox image with"):
        await sandbox.run("1")
    await sandbox.aclose()


@needs_docker
async def test_containers_are_locked_down() -> None:
    from forethought.sandbox.docker_backend import DockerWorker

    async with DockerSandbox(pool=PoolConfig(size=1)) as sandbox:
        worker = await sandbox.pool.acquire()
        assert isinstance(worker, DockerWorker)
        info = worker.client.api.inspect_container(worker.cid)
        await sandbox.pool.release(worker, reusable=True)
        host = info["HostConfig"]
        assert info["Config"]["User"] == "65534:65534"
        assert info["Config"]["NetworkDisabled"] is True and host["NetworkMode"] == "none"
        assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Memory"] == (512 + 64) << 20 and host["PidsLimit"] == 64 + 4
        assert host["Tmpfs"] == {"/work": "size=256m,uid=65534,gid=65534,mode=0700"}
        r = await sandbox.run("import os\nos.getuid(), os.getcwd(), open('/proc/1/status')"
                              ".read().count('CapEff:\\t0000000000000000')")
        assert r.value == "(65534, '/work', 1)"


@needs_docker
async def test_other_container_limits_get_their_own_container() -> None:
    from forethought.sandbox import Limits

    async with DockerSandbox(pool=PoolConfig(size=1)) as sandbox:
        r = await sandbox.run("open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read()",
                              limits=Limits(memory_mb=128))
        assert r.value == repr(f"{(128 + 64) << 20}\n")
        assert sandbox.pool.started == 1  # the pool's own container was not used
