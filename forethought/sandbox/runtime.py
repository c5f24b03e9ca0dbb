"""The Python runtime a sandbox gets from the host: the interpreter, its standard library,
the shared libraries they load, ``/bin/sh`` and a few coreutils.

The Docker image is built from these files (``forethought.sandbox.image``); the namespace
backend binds exactly these read-only and nothing else of the host; the plain process backend
lets a job read only these (Landlock, where the kernel has it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from forethought.exceptions import SandboxError, UserError

SHELL_TOOLS = ("sh", "cat", "ls", "echo", "env", "head", "tail", "wc", "sort", "uniq", "grep",
                "sed", "tr", "cut", "mkdir", "rm", "cp", "mv", "touch", "sleep", "true",
                "false", "id", "pwd", "printf", "seq", "tee", "xargs", "date", "expr", "basename",
                "dirname", "test", "yes", "dd", "find", "awk")
_LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")

_PROBE = """
import json, os, sys, sysconfig
libdir = sysconfig.get_config_var('LIBDIR') or ''
ldlib = sysconfig.get_config_var('LDLIBRARY') or ''
shared = bool(sysconfig.get_config_var('Py_ENABLE_SHARED'))
print(json.dumps({
    'executable': os.path.realpath(sys.executable),
    'version': '%d.%d.%d' % sys.version_info[:3],
    'stdlib': sysconfig.get_path('stdlib'),
    # Extension modules: lib-dynload on sys.path (some builds, like Debian's, compile
    # _struct and friends in, so no module's __file__ can be relied on).
    'dynload': next((p for p in sys.path if os.path.basename(p) == 'lib-dynload'),
                    sysconfig.get_config_var('DESTSHARED') or ''),
    'libpython': os.path.join(libdir, ldlib) if shared and libdir and ldlib else None,
}))
"""


@dataclass(kw_only=True, frozen=True)
class Interpreter:
    """Where a Python installation keeps its parts."""

    executable: Path
    version: str
    stdlib: Path
    dynload: Path
    libpython: Path | None


def probe_interpreter(python: str) -> Interpreter:
    """Ask ``python`` where its executable, standard library and extension modules are."""
    found = shutil.which(python)
    if found is None:
        raise UserError(f"python interpreter {python!r} not found; pass a path to python3")
    try:
        proc = subprocess.run([found, "-I", "-c", _PROBE], capture_output=True, text=True,
                              check=False, timeout=60)
    except (subprocess.SubprocessError, OSError) as exc:
        raise SandboxError(f"could not probe interpreter {found!r}: {exc}") from None
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        raise SandboxError(f"could not probe interpreter {found!r} (is it Python 3?): it "
                           f"exited with status {proc.returncode}, printing "
                           f"{proc.stdout.strip()[-200:]!r} and "
                           f"{proc.stderr.strip()[-300:]!r}") from None
    return Interpreter(executable=Path(data["executable"]), version=data["version"],
                       stdlib=Path(data["stdlib"]), dynload=Path(data["dynload"]),
                       libpython=Path(data["libpython"]) if data["libpython"] else None)


def shared_libraries(binaries: list[Path]) -> set[Path]:
    """Every library the dynamic loader resolves for ``binaries`` (``ldd``), loader included."""
    libs: set[Path] = set()
    for chunk in range(0, len(binaries), 64):
        batch = [str(b) for b in binaries[chunk:chunk + 64]]
        try:
            proc = subprocess.run(["ldd", *batch], capture_output=True, text=True,
                                  check=False, timeout=120)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SandboxError(f"cannot list the shared libraries of the Python runtime "
                               f"(ldd): {exc}") from None
        for line in proc.stdout.splitlines():
            m = _LDD_LINE.search(line)
            if m and not line.rstrip().endswith(":"):
                libs.add(Path(m.group(1)))
    return libs


@dataclass(kw_only=True, frozen=True)
class RuntimeFiles:
    """The host paths of one Python runtime, as the sandboxes expose them."""

    interpreter: Interpreter
    dirs: tuple[Path, ...]
    """The standard library (and the extension modules, when they live elsewhere)."""
    files: tuple[Path, ...]
    """The executable, libpython and every shared library, as the loader names them."""
    tools: dict[str, Path]
    """Shell tools by name (``sh``, ``cat``...), resolved to the host file."""
    links: tuple[Path, ...] = ()
    """Files outside the standard library that its own symlinks point to (Debian's
    ``sitecustomize.py`` lives in ``/etc``)."""

    def readable(self) -> tuple[Path, ...]:
        """Every path a job may read (directories and files), each once."""
        seen = dict.fromkeys([*self.dirs, *self.files, *self.tools.values(), *self.links])
        return tuple(seen)


@cache
def runtime_files(python: str) -> RuntimeFiles:
    """The runtime of interpreter ``python`` (probed once per process and interpreter)."""
    interp = probe_interpreter(python)
    dirs = [interp.stdlib]
    if not interp.dynload.is_relative_to(interp.stdlib):
        dirs.append(interp.dynload)
    tools: dict[str, Path] = {}
    for name in SHELL_TOOLS:
        where = shutil.which(name, path="/usr/bin:/bin")
        if where is not None:
            tools[name] = Path(where).resolve()
    binaries = [interp.executable, *sorted(interp.dynload.glob("*.so")), *tools.values()]
    files = [interp.executable]
    if interp.libpython is not None:
        files.append(interp.libpython)
        binaries.append(interp.libpython)
    files += sorted(shared_libraries(binaries))
    links: list[Path] = []
    for entry in sorted(interp.stdlib.iterdir()):
        target = entry.resolve()
        if entry.is_symlink() and target.is_file() and not target.is_relative_to(interp.stdlib):
            links.append(target)
    return RuntimeFiles(interpreter=interp, dirs=tuple(dirs), files=tuple(dict.fromkeys(files)),
                        tools=tools, links=tuple(links))
