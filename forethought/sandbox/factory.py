"""Choosing a backend: Docker when a daemon answers, else bubblewrap namespaces, else (with a
loud warning, and never under ``isolation="strict"``) the plain process backend.
"""

from __future__ import annotations

from typing import Literal

from forethought.exceptions import SandboxError, UserError
from forethought.sandbox.base import IsolationPolicy, Limits, Sandbox, warn_weak_isolation
from forethought.sandbox.pool import PoolConfig

Backend = Literal["auto", "docker", "bwrap", "process"]
BACKENDS: tuple[Backend, ...] = ("auto", "docker", "bwrap", "process")
POLICIES: tuple[IsolationPolicy, ...] = ("best", "strict")


def make_sandbox(backend: Backend = "auto", *, image: str | None = None,
                 limits: Limits | None = None, pool: PoolConfig | None = None,
                 isolation: IsolationPolicy = "best") -> Sandbox:
    """A sandbox of the given backend (not started yet).

    ``"auto"`` picks :class:`DockerSandbox` when a Docker daemon answers, else
    :class:`BwrapSandbox` when bubblewrap can create namespaces here, else
    :class:`ProcessSandbox` with a :class:`WeakIsolationWarning`; check
    :attr:`Sandbox.isolation` to see which. With ``isolation="strict"`` the plain process
    backend is refused (:class:`SandboxError` naming why Docker and bubblewrap could not be
    used).
    """
    from forethought.sandbox.bwrap import BwrapSandbox, bwrap_unavailable_reason
    from forethought.sandbox.docker_backend import DockerSandbox, docker_unavailable_reason
    from forethought.sandbox.image import DEFAULT_IMAGE
    from forethought.sandbox.process import ProcessSandbox

    if backend not in BACKENDS:
        raise UserError(f"unknown sandbox backend {backend!r}; use 'auto', 'docker', 'bwrap' "
                        f"or 'process'")
    if isolation not in POLICIES:
        raise UserError(f"unknown isolation policy {isolation!r}; use 'best' or 'strict'")
    if backend in ("process", "bwrap") and image is not None:
        raise UserError(f"image={image!r} only applies to the docker backend")
    if backend == "process" and isolation == "strict":
        raise UserError("backend='process' is the plain process sandbox, which "
                        "isolation='strict' refuses; use 'auto', 'docker' or 'bwrap'")
    if backend == "docker":
        return DockerSandbox(image=image or DEFAULT_IMAGE, limits=limits, pool=pool)
    if backend == "bwrap":
        return BwrapSandbox(limits=limits, pool=pool)
    if backend == "process":
        return ProcessSandbox(limits=limits, pool=pool)
    no_docker = docker_unavailable_reason()
    if no_docker is None:
        return DockerSandbox(image=image or DEFAULT_IMAGE, limits=limits, pool=pool)
    no_bwrap = bwrap_unavailable_reason()
    if no_bwrap is None:
        return BwrapSandbox(limits=limits, pool=pool)
    if isolation == "strict":
        raise SandboxError(f"isolation='strict' needs Docker or bubblewrap, and neither works "
                           f"here. Docker: {no_docker}. Bubblewrap: {no_bwrap}.")
    sandbox = ProcessSandbox(limits=limits, pool=pool)
    warn_weak_isolation(sandbox.isolation, where="make_sandbox('auto'), with neither Docker "
                                                 f"({no_docker}) nor bubblewrap ({no_bwrap}),")
    return sandbox
