"""Paths and helpers shared by the MCP tests (imported by them; not a test module)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from forethought.tools.mcp import MCPToolset

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SERVERS_DIR = Path(os.environ.get("FORETHOUGHT_MCP_SERVERS", ROOT / ".mcp-servers"))
"""Where ``npm install --prefix`` put the reference server (override for another checkout)."""
EVERYTHING_JS = (SERVERS_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything"
                 / "dist" / "index.js")
NODE = shutil.which("node")
INSTALL = "npm install --prefix .mcp-servers @modelcontextprotocol/server-everything"
MISBEHAVING = str(HERE / "misbehaving_server.py")
RAW = str(HERE / "raw_server.py")
PYTHON = sys.executable

needs_everything = pytest.mark.skipif(
    NODE is None or not EVERYTHING_JS.is_file(),
    reason=f"the MCP reference server is not installed at {EVERYTHING_JS} "
           f"(node: {NODE or 'missing'}); install it from the repository root with: {INSTALL}")


def everything(**options: Any) -> MCPToolset:
    """The reference server over stdio, as a toolset (not started)."""
    assert NODE is not None
    return MCPToolset.stdio(NODE, [str(EVERYTHING_JS), "stdio"], **options)


def live_children() -> set[int]:
    """Pids of this process's children that are still running (not zombies)."""
    found: set[int] = set()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z":
            found.add(int(entry.name))
    return found
