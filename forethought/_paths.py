"""Where forethought keeps state on disk."""

from __future__ import annotations

import os
from pathlib import Path


def forethought_home() -> Path:
    """``$FORETHOUGHT_HOME``, else ``$XDG_DATA_HOME/forethought``, else ``~/.local/share/...``.

    Created on first use.
    """
    env = os.environ.get("FORETHOUGHT_HOME")
    if env:
        home = Path(env)
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        home = Path(base) / "forethought"
    home.mkdir(parents=True, exist_ok=True)
    return home
