"""Build the Docker sandbox image from what this machine already has; nothing is pulled.

The image is ``FROM scratch`` plus a root filesystem assembled here: a Python interpreter
(the one running this module, or ``--python``) at its own path with its standard library
(without site-packages, tests, IDLE and Tk), every shared library ``ldd`` lists for the
interpreter and its extension modules, ``/bin/sh`` and a few coreutils for shell commands,
``/etc/passwd`` with ``nobody`` (uid 65534), and ``python3`` on ``PATH``. It takes seconds.

Build it (CI does this once after starting ``dockerd``)::

    uv run python -m forethought.sandbox.image            # tag forethought-sandbox:latest
    uv run python -m forethought.sandbox.image --python /usr/bin/python3 --tag my-sandbox:1

Any other image with ``python3`` (3.8 or newer) on ``PATH`` works too: the in-sandbox runner
uses the standard library only, e.g. ``DockerSandbox(image="python:3.12-slim")`` where that
image exists, or your own ``FROM python:3.12-slim`` + ``pip install numpy sympy``.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from forethought.exceptions import SandboxError
from forethought.sandbox.runtime import (
    SHELL_TOOLS,
    Interpreter,
    probe_interpreter,
    shared_libraries,
)

DEFAULT_IMAGE = "forethought-sandbox:latest"
IMAGE_LABEL = "forethought.sandbox.image"

# Standard-library parts a sandbox never needs (and that would triple the image).
_SKIP_STDLIB = {"site-packages", "dist-packages", "test", "tests", "idlelib", "tkinter",
                "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "__phello__"}
_SKIP_DYNLOAD = re.compile(r"^(_test|_tkinter|_ctypes_test|xxlimited|xxsubtype|_xxtestfuzz)")
def _place(root: Path, source: Path) -> None:
    """Copy ``source`` (following symlinks) to the same absolute path under ``root``."""
    target = root / source.relative_to("/")
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def _copy_stdlib(interp: Interpreter, root: Path) -> list[Path]:
    """Copy the standard library; returns the extension modules (for ``ldd``)."""
    dest = root / interp.stdlib.relative_to("/")

    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in _SKIP_STDLIB or n.startswith("config-")}
        if Path(directory) == interp.dynload:
            skip |= {n for n in names if _SKIP_DYNLOAD.match(n)}
        return skip

    shutil.copytree(interp.stdlib, dest, ignore=ignore, symlinks=False, dirs_exist_ok=True)
    modules: list[Path] = []
    if interp.dynload.is_relative_to(interp.stdlib):
        modules = sorted((root / interp.dynload.relative_to("/")).glob("*.so"))
        return [interp.dynload / m.name for m in modules]
    dyn_dest = root / interp.dynload.relative_to("/")
    shutil.copytree(interp.dynload, dyn_dest, dirs_exist_ok=True,
                    ignore=lambda _d, names: {n for n in names if _SKIP_DYNLOAD.match(n)})
    return [interp.dynload / m.name for m in sorted(dyn_dest.glob("*.so"))]


def assemble_rootfs(root: Path, python: str = "python3") -> Interpreter:
    """Fill ``root`` with everything the sandbox image holds."""
    interp = probe_interpreter(python)
    _place(root, interp.executable)
    binaries = [interp.executable, *_copy_stdlib(interp, root)]
    if interp.libpython is not None:
        _place(root, interp.libpython)
        binaries.append(interp.libpython)
    tools: dict[str, Path] = {}
    for name in SHELL_TOOLS:
        where = shutil.which(name, path="/usr/bin:/bin")
        if where is not None:
            tools[name] = Path(where).resolve()
    for name, path in tools.items():
        dest = root / "bin" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    binaries += list(tools.values())
    for lib in shared_libraries(binaries):
        _place(root, lib)
    for link in ("usr/local/bin/python3", "usr/local/bin/python", "usr/bin/python3"):
        target = root / link
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(interp.executable)
    (root / "usr" / "bin" / "env").parent.mkdir(parents=True, exist_ok=True)
    if "env" in tools and not (root / "usr/bin/env").exists():
        (root / "usr/bin/env").symlink_to("/bin/env")
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                "nobody:x:65534:65534:nobody:/work:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    for d in ("work", "tmp", "proc", "dev", "sys", "root"):
        (root / d).mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)
    for dirpath, _dirnames, _files in os.walk(root):
        os.chmod(dirpath, os.stat(dirpath).st_mode | 0o555)
    # Like on the host, /root can be crossed (to reach an interpreter kept under it, such as
    # pyenv's) but not listed.
    (root / "root").chmod(0o711)
    return interp


def build_image(*, tag: str = DEFAULT_IMAGE, python: str = "python3",
                client: Any = None) -> str:
    """Assemble the root filesystem and build the image through the Docker daemon.

    Returns the image id. Raises :class:`SandboxError` when no daemon answers or the build
    fails.
    """
    import docker  # lazy: the docker SDK is only needed for the Docker backend
    import docker.errors

    cli: Any = client if client is not None else docker.from_env()
    with tempfile.TemporaryDirectory(prefix="forethought-image-") as tmp:
        ctx = Path(tmp)
        interp = assemble_rootfs(ctx / "rootfs", python)
        shutil.copy2(Path(__file__).with_name("Dockerfile"), ctx / "Dockerfile")
        context_tar = ctx / "context.tar"
        with tarfile.open(context_tar, "w") as tar:
            tar.add(ctx / "Dockerfile", arcname="Dockerfile")
            tar.add(ctx / "rootfs", arcname="rootfs")
        try:
            with context_tar.open("rb") as f:
                image, _logs = cli.images.build(
                    fileobj=f, custom_context=True, tag=tag, rm=True, forcerm=True,
                    labels={IMAGE_LABEL: "1", "forethought.sandbox.python": interp.version})
        except docker.errors.DockerException as exc:
            raise SandboxError(f"building sandbox image {tag!r} failed: {exc}") from None
    return str(image.id)
