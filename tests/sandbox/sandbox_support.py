"""Backends and helpers shared by the sandbox tests (imported by them; not a test module).

Every backend is tested: Docker (marked ``docker``), bubblewrap namespaces and the plain
process backend. Docker runs when a daemon answers and bubblewrap when it can create its
namespaces here; otherwise their tests are skipped with the reason printed, except in CI
(``CI=true``), where .ci/run installs bubblewrap, starts dockerd and builds the image, so a
missing backend is a failure there.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from forethought.sandbox import (
    BwrapSandbox,
    DockerSandbox,
    Limits,
    PoolConfig,
    ProcessSandbox,
    Sandbox,
    bwrap_unavailable_reason,
    docker_unavailable_reason,
)
from forethought.sandbox.bwrap import UID_BASE as BWRAP_UID_BASE
from forethought.sandbox.process import UID_BASE

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data"
DOCKER_SKIP = docker_unavailable_reason()
BWRAP_SKIP = bwrap_unavailable_reason()
IN_CI = os.environ.get("CI") == "true"
"""CI provides every backend, so there a missing one fails its tests instead of skipping."""
needs_docker = pytest.mark.skipif(
    DOCKER_SKIP is not None and not IN_CI,
    reason=f"Docker backend not tested: {DOCKER_SKIP} (start dockerd and build the image with "
           f"'python -m forethought.sandbox.image' to run these tests)")
needs_bwrap = pytest.mark.skipif(
    BWRAP_SKIP is not None and not IN_CI,
    reason=f"namespace backend not tested: {BWRAP_SKIP}")

BACKENDS = [pytest.param("process", id="process"),
            pytest.param("bwrap", id="bwrap", marks=needs_bwrap),
            pytest.param("docker", id="docker", marks=[needs_docker, pytest.mark.docker])]

SCRATCH = ("/tmp", "/var/tmp", "/run", "/run/lock", "/dev/shm", "/dev/mqueue")
HEALTH_CHECK = f"""
import os
found = {{"work": sorted(os.listdir("."))}}
for d in {SCRATCH!r}:
    try:
        found[d] = sorted(os.listdir(d))
    except OSError:
        pass
try:
    found["processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
except OSError:
    pass
found
"""


def make_sandbox(backend: str, *, limits: Limits | None = None,
                 pool: PoolConfig | None = None) -> Sandbox:
    pool = pool or PoolConfig(size=1, max_workers=4)
    if backend == "docker":
        return DockerSandbox(limits=limits, pool=pool)
    if backend == "bwrap":
        return BwrapSandbox(limits=limits, pool=pool)
    return ProcessSandbox(limits=limits, pool=pool)


async def healthy(sb: Sandbox) -> None:
    """The next caller gets a working, clean worker: an empty work dir and, where the job
    sees its own private ones, empty scratch directories and no process but the runner, the
    zygote and itself."""
    r = await sb.run(HEALTH_CHECK)
    assert r.ok and r.value is not None, r
    found = ast.literal_eval(r.value)
    assert found["work"] == [], found
    if sb.isolation in ("container", "namespace"):
        assert all(found[d] == [] for d in SCRATCH if d in found), found
        assert found["processes"] == 3, found
    assert stray_processes(sb) == []


def _status(pid: str) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    except OSError:
        return {}


def sandbox_uid_processes(host_pid: int | None = None) -> list[int]:
    """Pids of live processes running under a throwaway sandbox uid of host process
    ``host_pid`` (default: this one): the plain backend's jobs, and whole namespace workers,
    when the host is root. Other processes' sandboxes (tests run side by side) are not
    counted."""
    host_pid = os.getpid() if host_pid is None else host_pid
    pids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        status = _status(entry)
        if not status or status.get("State", "").startswith(("Z", "X")):
            continue
        uid = int(status.get("Uid", "0").split()[0])
        if uid >= BWRAP_UID_BASE:
            ours = (uid - BWRAP_UID_BASE) // 1000 == host_pid % 1_000_000
        elif uid >= UID_BASE:  # the plain backend: UID_BASE + the runner's pid
            runner = _status(str(uid - UID_BASE))
            ours = not runner or runner.get("PPid") == str(host_pid)
        else:
            ours = False
        if ours:
            pids.append(int(entry))
    return pids


def stray_processes(sb: Sandbox) -> list[int]:
    """Processes of finished jobs still alive on the host: for the plain backend every
    process of a throwaway uid; for namespaces, any process of a worker's PID namespace but
    its runner (pid 1) and zygote (pid 2). Containers check themselves after each job."""
    if sb.isolation in ("process", "process-same-user"):
        return sandbox_uid_processes()
    if sb.isolation != "namespace":
        return []
    stray: list[int] = []
    for pid in sandbox_uid_processes():
        ns_pids = _status(str(pid)).get("NSpid", "").split()
        if len(ns_pids) > 1 and int(ns_pids[-1]) > 2:
            stray.append(pid)
    return stray


def host_processes_with(marker: str) -> list[int]:
    """Pids of live host processes whose command line contains ``marker``."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if marker.encode() in cmdline and not _status(entry).get("State", "").startswith(
                ("Z", "X")):
            found.append(int(entry))
    return found


def our_containers() -> list[str]:
    """Ids of sandbox containers owned by this test process that still exist."""
    if DOCKER_SKIP is not None:
        return []
    from forethought.sandbox.docker_backend import LABEL, OWNER_LABEL, docker_client, owner_id

    client = docker_client()
    try:
        found = client.api.containers(all=True, filters={"label": f"{LABEL}=1"})
        return [c["Id"] for c in found if c["Labels"].get(OWNER_LABEL) == owner_id()]
    finally:
        client.close()


def env_var(name: str, value: str) -> Iterator[None]:
    """Set an environment variable of the host for the duration of a fixture."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old
