"""Choosing a backend: Docker whenever a daemon answers, else the process fallback."""

from __future__ import annotations

from typing import Literal

from forethought.exceptions import UserError
from forethought.sandbox.base import Limits, Sandbox
from forethought.sandbox.pool import PoolConfig

Backend = Literal["auto", "docker", "process"]


def make_sandbox(backend: Backend = "auto", *, image: str | None = None,
                 limits: Limits | None = None, pool: PoolConfig | None = None) -> Sandbox:
    """A sandbox of the given backend (not started yet).

    ``"auto"`` picks :class:`DockerSandbox` when a Docker daemon answers and
    :class:`ProcessSandbox` otherwise; check :attr:`Sandbox.isolation` to see which.
    """
    from forethought.sandbox.docker_backend import DockerSandbox, docker_unavailable_reason
    from forethought.sandbox.image import DEFAULT_IMAGE
    from forethought.sandbox.process import ProcessSandbox

    if backend not in ("auto", "docker", "process"):
        raise UserError(f"unknown sandbox backend {backend!r}; use 'auto', 'docker' or "
                        f"'process'")
    if backend == "process" and image is not None:
        raise UserError(f"image={image!r} only applies to the docker backend")
    if backend == "docker" or (backend == "auto" and docker_unavailable_reason() is None):
        return DockerSandbox(image=image or DEFAULT_IMAGE, limits=limits, pool=pool)
    return ProcessSandbox(limits=limits, pool=pool)
