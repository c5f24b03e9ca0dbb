"""Isolated code execution: a Docker backend, a process fallback, a warm pool.

Example::

    from forethought.sandbox import Limits, make_sandbox

    async with make_sandbox() as sandbox:          # Docker if a daemon answers
        result = await sandbox.run("print(6 * 7)", limits=Limits(wall_s=5))
        print(result.stdout, result.isolation)

The docker SDK is only imported when a Docker sandbox starts.
"""

from __future__ import annotations

from forethought.sandbox.base import (
    ExecResult,
    Isolation,
    Language,
    LimitName,
    Limits,
    PythonError,
    Sandbox,
    Session,
    WeakIsolationWarning,
)
from forethought.sandbox.docker_backend import DockerSandbox, docker_unavailable_reason
from forethought.sandbox.factory import Backend, make_sandbox
from forethought.sandbox.image import DEFAULT_IMAGE, build_image
from forethought.sandbox.pool import PoolConfig, WarmPool
from forethought.sandbox.process import ProcessSandbox
from forethought.sandbox.verify import UnitTestReport, UnitTestResult, run_tests

__all__ = [
    "DEFAULT_IMAGE",
    "Backend",
    "DockerSandbox",
    "ExecResult",
    "Isolation",
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
    "docker_unavailable_reason",
    "make_sandbox",
    "run_tests",
]
