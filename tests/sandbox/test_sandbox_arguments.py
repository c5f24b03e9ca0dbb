"""Arguments, limits and the runner script, checked without starting a sandbox."""

from __future__ import annotations

import os

import pytest

from forethought.exceptions import UserError
from forethought.sandbox import Limits, ProcessSandbox, make_sandbox
from forethought.sandbox._protocol import build_request, runner_source


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


def test_auto_picks_docker_when_a_daemon_answers() -> None:
    from sandbox_support import DOCKER_SKIP

    chosen = make_sandbox("auto")
    assert chosen.isolation == ("container" if DOCKER_SKIP is None else
                                ProcessSandbox().isolation)
    assert make_sandbox("process").isolation != "container"
    with pytest.raises(UserError, match="unknown sandbox backend 'vm'"):
        make_sandbox("vm")  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"image='python:3\.12-slim' only applies to the docker"):
        make_sandbox("process", image="python:3.12-slim")
