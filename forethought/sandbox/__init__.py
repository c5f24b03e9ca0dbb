"""Isolated code execution: Docker containers, bubblewrap namespaces, a plain process
fallback, a warm pool.

Example::

    from forethought.sandbox import Limits, make_sandbox

    async with make_sandbox() as sandbox:   # Docker, else bubblewrap, else plain processes
        result = await sandbox.run("print(6 * 7)", limits=Limits(wall_s=5))
        print(result.stdout, result.isolation)

The docker SDK is only imported when a Docker sandbox starts.
"""

from __future__ import annotations

from forethought.sandbox._protocol import MAX_STDIN_BYTES
from forethought.sandbox.base import (
    ExecResult,
    Isolation,
    IsolationPolicy,
    Language,
    LimitName,
    Limits,
    PythonError,
    Sandbox,
    Session,
    WeakIsolationWarning,
)
from forethought.sandbox.bwrap import BwrapSandbox, bwrap_unavailable_reason
from forethought.sandbox.docker_backend import DockerSandbox, docker_unavailable_reason
from forethought.sandbox.factory import Backend, make_sandbox
from forethought.sandbox.image import DEFAULT_IMAGE, build_image
from forethought.sandbox.pool import PoolConfig, WarmPool
from forethought.sandbox.process import ProcessSandbox
from forethought.sandbox.verify import UnitTestReport, UnitTestResult, run_tests

__all__ = [
    "DEFAULT_IMAGE",
    "MAX_STDIN_BYTES",
    "Backend",
    "BwrapSandbox",
    "DockerSandbox",
    "ExecResult",
    "Isolation",
    "IsolationPolicy",
    "Language",
    "LimitName",
    "Limits",
    "PoolConfig",
    "ProcessSandbox",
    "PythonError",
    "Sandbox",
    "Session",
    "UnitTestReport",
    "UnitTestResult",
    "WarmPool",
    "WeakIsolationWarning",
    "build_image",
    "bwrap_unavailable_reason",
    "docker_unavailable_reason",
    "make_sandbox",
    "run_tests",
]
