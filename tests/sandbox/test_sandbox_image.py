"""The image builder finds the interpreter's parts and the libraries they need."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from forethought.exceptions import UserError
from forethought.sandbox.image import probe_interpreter, shared_libraries


def test_the_interpreter_is_probed_for_its_parts() -> None:
    interp = probe_interpreter(sys.executable)
    assert interp.executable == Path(sys.executable).resolve()
    assert interp.version == ".".join(map(str, sys.version_info[:3]))
    assert (interp.stdlib / "os.py").is_file() and interp.dynload.is_dir()
    assert interp.libpython is None or interp.libpython.exists()


def test_the_libraries_of_the_interpreter_are_found() -> None:
    interp = probe_interpreter(sys.executable)
    libs = {p.name for p in shared_libraries([interp.executable, Path("/bin/sh")])}
    assert "libc.so.6" in libs and any(name.startswith("ld-linux") for name in libs)


def test_an_unknown_interpreter_is_a_user_error() -> None:
    with pytest.raises(UserError, match="python interpreter 'no-such-python3' not found"):
        probe_interpreter("no-such-python3")


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no system python3")
def test_a_python_with_builtin_extension_modules_is_probed_too() -> None:
    # Debian's python3 compiles _struct and friends in: lib-dynload is found on sys.path.
    interp = probe_interpreter("/usr/bin/python3")
    assert interp.dynload.name == "lib-dynload" and interp.dynload.is_dir()
