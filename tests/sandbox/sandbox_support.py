"""Backends and helpers shared by the sandbox tests (imported by them; not a test module).

The process backend always runs. The Docker backend runs when a daemon answers; otherwise
its tests are skipped with the reason printed, except in CI (``CI=true``), where .ci/run
starts dockerd and builds the image, so a missing daemon is a failure there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from forethought.sandbox import (
    DockerSandbox,
    Limits,
    PoolConfig,
    ProcessSandbox,
    Sandbox,
    docker_unavailable_reason,
)
from forethought.sandbox.process import UID_BASE

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data"
DOCKER_SKIP = docker_unavailable_reason()
IN_CI = os.environ.get("CI") == "true"
"""CI starts dockerd, so there a missing daemon fails the Docker tests instead of skipping."""
needs_docker = pytest.mark.skipif(
    DOCKER_SKIP is not None and not IN_CI,
    reason=f"Docker backend not tested: {DOCKER_SKIP} (start dockerd and build the image with "
           f"'python -m forethought.sandbox.image' to run these tests)")

BACKENDS = [pytest.param("process", id="process"),
            pytest.param("docker", id="docker", marks=needs_docker)]


def make_sandbox(backend: str, *, limits: Limits | None = None,
                 pool: PoolConfig | None = None) -> Sandbox:
    pool = pool or PoolConfig(size=1, max_workers=4)
    if backend == "docker":
        return DockerSandbox(limits=limits, pool=pool)
    return ProcessSandbox(limits=limits, pool=pool)


def sandbox_uid_processes() -> list[int]:
    """Pids of live processes running under a throwaway sandbox uid (process backend as
    root): there should be none once a job has finished."""
    pids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except OSError:
            continue
        uid_line = next((ln for ln in status.splitlines() if ln.startswith("Uid:")), "")
        state = next((ln for ln in status.splitlines() if ln.startswith("State:")), "")
        if uid_line and int(uid_line.split()[1]) >= UID_BASE and "Z" not in state.split()[1:2]:
            pids.append(int(entry))
    return pids


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
