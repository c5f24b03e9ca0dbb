"""The Docker backend: every worker is a locked-down container (the default when a daemon
answers).

Each container runs the runner as PID 1 under uid 65534 with no network, a read-only root
filesystem, a small tmpfs as its only writable work dir, every capability dropped,
no-new-privileges, and memory / CPU / pids limits from :class:`Limits`. The runner kills a
job at its wall time and cleans the container between jobs; the host removes a container
that stops answering. Containers carry the label ``forethought.sandbox=1`` and their owner
(host name, pid, process start time): starting a sandbox removes those whose owner is gone,
and a container whose owner dies exits by itself when its stdin closes.

The docker SDK is blocking, so every call goes through ``asyncio.to_thread``; requests and
replies stream over the container's attached stdin/stdout, not ``docker exec``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from typing import Any

from forethought.exceptions import SandboxError
from forethought.sandbox._protocol import runner_source
from forethought.sandbox.base import Isolation, Limits
from forethought.sandbox.image import DEFAULT_IMAGE, build_image
from forethought.sandbox.pool import PoolConfig
from forethought.sandbox.pooled import PooledSandbox
from forethought.sandbox.worker import Worker

LABEL = "forethought.sandbox"
OWNER_LABEL = "forethought.sandbox.owner"
SANDBOX_USER = "65534:65534"
RUNNER_OVERHEAD_MB = 64
"""Memory added to ``Limits.memory_mb`` for the runner and zygote of a container."""
_CONFIG = json.dumps({"container": True, "work": "/work", "per_job_dir": False,
                      "drop_uid": False, "unshare": False, "rlimit_memory": False,
                      "rlimit_processes": False, "scratch": ["/dev/shm", "/dev/mqueue"]})


def _docker_errors() -> tuple[type[BaseException], ...]:
    import docker.errors
    import requests.exceptions

    return (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


def docker_client(timeout: float = 30.0) -> Any:
    """A docker SDK client for the daemon the environment names (``DOCKER_HOST``, or the
    default socket); raises :class:`SandboxError` when none answers.
    """
    try:
        import docker
    except ImportError:  # pragma: no cover - docker is a dependency
        raise SandboxError("the docker package is not installed: pip install docker") from None
    problem = _local_socket_problem()
    if problem is not None:
        raise SandboxError(problem)
    try:
        client: Any = docker.from_env(timeout=int(timeout))
        client.ping()
    except _docker_errors() as exc:
        raise SandboxError(f"no Docker daemon answers: {exc}") from None
    return client


def _local_socket_problem() -> str | None:
    """Why the local daemon socket cannot answer, checked without the SDK (whose failed
    connection attempts leave sockets unclosed), or ``None`` to go on and ask the daemon.
    """
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return None
    path = host.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(path)
        except OSError as exc:
            return f"no Docker daemon answers at {path}: {exc.strerror or exc}"
    return None


def docker_unavailable_reason(timeout: float = 3.0) -> str | None:
    """``None`` when a Docker daemon answers, else why not (for skips and ``auto``)."""
    try:
        docker_client(timeout).close()
    except SandboxError as exc:
        return str(exc)
    return None


def _process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_id(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}/{pid}/{_process_start(pid)}"


def _owner_gone(owner: str) -> bool:
    host, _, rest = owner.partition("/")
    pid, _, started = rest.partition("/")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's container: not ours to judge
    return _process_start(int(pid)) != started


def reap_leftover_containers(client: Any) -> int:
    """Remove sandbox containers whose owning process is gone; returns how many."""
    removed = 0
    found: list[dict[str, Any]] = client.api.containers(all=True,
                                                        filters={"label": f"{LABEL}=1"})
    for c in found:
        labels: dict[str, str] = c.get("Labels") or {}
        owner = labels.get(OWNER_LABEL, "")
        if _owner_gone(owner):
            with contextlib.suppress(*_docker_errors()):
                client.api.remove_container(c["Id"], force=True)
                removed += 1
    return removed


class DockerWorker(Worker):
    """A runner as PID 1 of a container, reached through the container's attached stdio."""

    def __init__(self, client: Any, create: dict[str, Any]) -> None:
        super().__init__()
        self.client = client
        self.create = create
        self.cid: str | None = None
        self._sockio: Any = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._out = bytearray()
        self._err = bytearray()

    def describe(self) -> str:
        return f"sandbox container {self.cid[:12] if self.cid else '(not created)'}"

    async def start(self, wait_s: float) -> None:
        api = self.client.api
        try:
            created = await asyncio.to_thread(api.create_container, **self.create)
            self.cid = str(created["Id"])
            self._sockio = await asyncio.to_thread(
                api.attach_socket, self.cid,
                params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            raw: socket.socket = getattr(self._sockio, "_sock", self._sockio)
            raw.setblocking(False)
            self._reader, self._writer = await asyncio.open_connection(sock=raw, limit=1 << 20)
            await asyncio.to_thread(api.start, self.cid)
        except _docker_errors() as exc:
            await self.kill()
            raise SandboxError(f"cannot start a sandbox container from image "
                               f"{self.create['image']!r}: {exc}") from None
        await self.read_ready(wait_s)

    async def _send(self, data: bytes, payload: bytes = b"") -> None:
        assert self._writer is not None
        self._writer.write(data)
        if payload:
            self._writer.write(payload)
        await self._writer.drain()

    async def _read_exact(self, n: int) -> bytes:
        assert self._reader is not None
        while len(self._out) < n:
            header = await self._reader.readexactly(8)
            payload = await self._reader.readexactly(int.from_bytes(header[4:8], "big"))
            if header[0] == 2:
                self._err += payload
                del self._err[:-4000]
            else:
                self._out += payload
        data = bytes(self._out[:n])
        del self._out[:n]
        return data

    def diagnostics(self) -> str:
        text = self._err.decode("utf-8", "replace").strip()
        return f"; runner stderr: {text[-1500:]}" if text else ""

    async def _terminate(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._sockio is not None:  # the SDK's file object over the attached socket
            with contextlib.suppress(Exception):
                self._sockio.close()
        if self.cid is not None:
            with contextlib.suppress(*_docker_errors()):
                await asyncio.to_thread(self.client.api.remove_container, self.cid, force=True)


class DockerSandbox(PooledSandbox):
    """Runs code in locked-down Docker containers; see the module docstring.

    Args:
        image: Any image with ``python3`` (3.9+) on ``PATH``. The default image is built
            from this machine's Python when missing (``python -m forethought.sandbox.image``).
        limits: Default limits. Memory, processes and disk size are fixed per container:
            a call asking for others gets its own container (a cold start).
        pool: How many warm containers to keep.
        cpus: CPU share of each container.
        python: The interpreter inside the image.
        build_missing: Build the default image if it is missing.
    """

    isolation: Isolation = "container"

    def __init__(self, *, image: str = DEFAULT_IMAGE, limits: Limits | None = None,
                 pool: PoolConfig | None = None, cpus: float = 1.0, python: str = "python3",
                 build_missing: bool = True) -> None:
        super().__init__(limits=limits, pool=pool)
        self.image = image
        self.cpus = cpus
        self.python = python
        self.build_missing = build_missing
        self._client: Any = None

    async def _prepare(self) -> None:
        import docker.errors

        self._client = await asyncio.to_thread(docker_client)
        await asyncio.to_thread(reap_leftover_containers, self._client)
        try:
            await asyncio.to_thread(self._client.api.inspect_image, self.image)
        except docker.errors.ImageNotFound:
            if not (self.build_missing and self.image == DEFAULT_IMAGE):
                raise SandboxError(
                    f"docker image {self.image!r} not found; build the sandbox image with "
                    f"'python -m forethought.sandbox.image' or name an image you have, such "
                    f"as python:3.12-slim") from None
            await asyncio.to_thread(build_image, tag=self.image, client=self._client)

    def _needs_own_worker(self, limits: Limits) -> bool:
        mine = self.limits
        return (limits.memory_mb, limits.processes, limits.disk_mb) != (
            mine.memory_mb, mine.processes, mine.disk_mb)

    def container_options(self, limits: Limits) -> dict[str, Any]:
        """The ``create_container`` arguments of one worker."""
        api = self._client.api
        memory = (limits.memory_mb + RUNNER_OVERHEAD_MB) << 20
        host_config = api.create_host_config(
            network_mode="none", read_only=True, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], mem_limit=memory, memswap_limit=memory,
            pids_limit=limits.processes + 4, nano_cpus=int(self.cpus * 1e9),
            tmpfs={"/work": f"size={limits.disk_mb}m,uid=65534,gid=65534,mode=0700"},
            shm_size=16 << 20, ipc_mode="private", auto_remove=True)
        return {"image": self.image, "entrypoint": [self.python],
                "command": ["-I", "-c", runner_source(), _CONFIG], "user": SANDBOX_USER,
                "working_dir": "/work", "stdin_open": True, "network_disabled": True,
                "environment": {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
                "labels": {LABEL: "1", OWNER_LABEL: owner_id()}, "host_config": host_config,
                "use_config_proxy": False}

    async def _new_worker(self, limits: Limits) -> Worker:
        await self._ensure_prepared()
        worker = DockerWorker(self._client, self.container_options(limits))
        await worker.start(self.pool_config.start_timeout_s)
        return worker

    async def aclose(self) -> None:
        await super().aclose()
        if self._client is not None:
            with contextlib.suppress(*_docker_errors()):
                self._client.close()
