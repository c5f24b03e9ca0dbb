"""Arguments, limits and the runner script, checked without starting a sandbox."""

from __future__ import annotations

import os

import pytest

from forethought.exceptions import SandboxError, UserError
from forethought.sandbox import (
    MAX_STDIN_BYTES,
    BwrapSandbox,
    Limits,
    ProcessSandbox,
    WeakIsolationWarning,
    docker_backend,
    make_sandbox,
)
from forethought.sandbox import base as sandbox_base
from forethought.sandbox import bwrap as bwrap_module
from forethought.sandbox._protocol import build_request, runner_source
from forethought.sandbox._seccomp import DENIED, seccomp_program
from forethought.tools.python_tool import PythonToolOptions, python_toolset


def test_limits_are_validated() -> None:
    with pytest.raises(UserError, match=r"Limits.memory_mb=8 is too small; use at least 32"):
        Limits(memory_mb=8)
    with pytest.raises(UserError, match=r"Limits.wall_s=0 is too small"):
        Limits(wall_s=0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"language": "ruby"}, "language 'ruby' is not supported; use 'python' or 'shell'"),
    ({"files": {"../x": "1"}}, "input file '../x' must be a relative path inside the work dir"),
    ({"files": {"/etc/x": "1"}}, "input file '/etc/x' must be a relative path"),
    ({"output_files": ["a/../../b"]}, "output file 'a/../../b' must be a relative path"),
    ({"env": {"A=B": "1"}}, "environment variable 'A=B'='1'"),
])
def test_bad_arguments_are_user_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_request("exec", code="1", limits=Limits(), **kwargs)  # type: ignore[arg-type]


def test_the_runner_source_is_one_standalone_script() -> None:
    source = runner_source()
    assert not [ln for ln in source.splitlines() if ln.startswith("from forethought")]
    assert source.count("from __future__") == 1
    compile(source, "<runner>", "exec")


def test_the_process_backend_reports_how_isolated_it_is() -> None:
    sb = ProcessSandbox(drop_privileges=False)
    assert sb.isolation == "process-same-user"
    expected = "process" if os.geteuid() == 0 else "process-same-user"
    assert ProcessSandbox().isolation == expected


def test_auto_picks_docker_then_bubblewrap_then_plain_processes() -> None:
    from sandbox_support import BWRAP_SKIP, DOCKER_SKIP

    chosen = make_sandbox("auto")
    expected = ("container" if DOCKER_SKIP is None else "namespace" if BWRAP_SKIP is None
                else ProcessSandbox().isolation)
    assert chosen.isolation == expected
    assert make_sandbox("process").isolation in ("process", "process-same-user")
    assert make_sandbox("bwrap").isolation == "namespace"
    with pytest.raises(UserError, match="unknown sandbox backend 'vm'; use 'auto', 'docker', "
                                        "'bwrap' or 'process'"):
        make_sandbox("vm")  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"image='python:3\.12-slim' only applies to the docker"):
        make_sandbox("bwrap", image="python:3.12-slim")
    with pytest.raises(UserError, match="unknown isolation policy 'paranoid'"):
        make_sandbox(isolation="paranoid")  # type: ignore[arg-type]


@pytest.fixture
def nothing_strong(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither a Docker daemon nor a working bubblewrap (as on a bare laptop)."""
    monkeypatch.setattr(docker_backend, "docker_unavailable_reason",
                        lambda timeout=3.0: "no Docker daemon answers at /nowhere")
    monkeypatch.setattr(bwrap_module, "bwrap_unavailable_reason",
                        lambda python=None: "bubblewrap is not installed")
    monkeypatch.setattr(sandbox_base, "_warned", set())


@pytest.mark.usefixtures("nothing_strong")
def test_strict_isolation_refuses_the_plain_process_sandbox() -> None:
    with pytest.raises(SandboxError, match=r"isolation='strict' needs Docker or bubblewrap, "
                                           r"and neither works here\. Docker: no Docker daemon "
                                           r"answers at /nowhere\. Bubblewrap: bubblewrap is "
                                           r"not installed\."):
        make_sandbox(isolation="strict")
    with pytest.raises(UserError, match="backend='process' is the plain process sandbox, "
                                        "which isolation='strict' refuses"):
        make_sandbox("process", isolation="strict")
    with pytest.warns(WeakIsolationWarning, match=r"make_sandbox\('auto'\), with neither "
                                                  r"Docker .* nor bubblewrap .* runs "
                                                  r"model-written code in a process sandbox"):
        fallback = make_sandbox()
    assert isinstance(fallback, ProcessSandbox)


async def test_a_strict_python_tool_refuses_a_weak_sandbox() -> None:
    toolset = python_toolset(ProcessSandbox(), isolation="strict")
    with pytest.raises(SandboxError, match="isolation='strict' refuses a sandbox whose "
                                           "isolation is 'process"):
        await toolset.start()
    assert PythonToolOptions(isolation="strict").isolation == "strict"
    with pytest.raises(ValueError, match="isolation"):
        PythonToolOptions(isolation="lax")  # type: ignore[arg-type]


def test_stdin_over_the_cap_is_a_user_error_before_any_work() -> None:
    frame, data = build_request("exec", code="1", stdin="é" * 4, limits=Limits())
    assert frame["stdin_bytes"] == len(data) == 8 and "stdin" not in frame
    with pytest.raises(UserError, match=r"stdin is 128\.0 MiB .*at most 128 MiB "
                                        r"\(134217728 bytes\)"):
        build_request("exec", code="1", stdin="x" * (MAX_STDIN_BYTES + 1), limits=Limits())


def test_the_seccomp_filter_is_built_for_known_machines_only() -> None:
    program = seccomp_program("x86_64")
    assert program is not None and len(program) % 8 == 0
    # arch check (3) + nr load (1) + x32 check (2) + two per denied call + allow
    assert len(program) // 8 == 6 + 2 * len(DENIED) + 1
    assert seccomp_program("aarch64") is not None
    assert seccomp_program("riscv64") is None


def test_bwrap_reports_why_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert bwrap_module.bwrap_unavailable_reason() == (
        "bubblewrap is not installed (no 'bwrap' on PATH; Debian: apt-get install bubblewrap)")
    with pytest.raises(UserError, match="ro_binds path '/no/such/dir' does not exist"):
        BwrapSandbox(ro_binds=["/no/such/dir"])


def test_plain_processes_use_landlock_where_the_kernel_has_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from forethought.sandbox import process
    from forethought.sandbox._runner_guard import landlock_abi

    assert ProcessSandbox().landlock_abi == landlock_abi()
    assert ProcessSandbox(landlock=False).landlock_abi == 0
    monkeypatch.setattr(process, "landlock_abi", lambda: 0)
    with pytest.raises(SandboxError, match="landlock=True, but this kernel has no Landlock"):
        ProcessSandbox(landlock=True)
