"""The `mcp` tool factory's options, recipes that use it, lazy imports and the install hint."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mcp_support import ROOT

from forethought import RecipeError, UserError
from forethought.recipes import build_agent, load_recipe, parse_recipe
from forethought.tools.base import builtin_tools, resolve_tool
from forethought.tools.mcp import HTTPServer, MCPToolset, StdioServer, mcp_factory
from forethought.tools.mcp._sdk import require_mcp


def test_registered_as_mcp_and_built_from_options() -> None:
    assert builtin_tools()["mcp"] is mcp_factory
    stdio = resolve_tool("mcp", {"command": "node", "args": ["server.js", "stdio"],
                                 "env": {"K": "v"}, "cwd": "/tmp", "prefix": "ev_",
                                 "include": ["echo"], "startup_timeout_s": 5})
    assert isinstance(stdio, MCPToolset)
    assert stdio.server == StdioServer(command="node", args=("server.js", "stdio"),
                                       env={"K": "v"}, cwd="/tmp")
    assert (stdio.name, stdio.prefix, stdio.include, stdio.exclude) == (
        "mcp:node", "ev_", ("echo",), ())
    assert (stdio.startup_timeout_s, stdio.call_timeout_s) == (5, 60)
    http = resolve_tool("mcp", {"url": "http://127.0.0.1:8000/mcp", "label": "remote",
                                "headers": {"Authorization": "Bearer t"},
                                "call_timeout_s": None})
    assert isinstance(http, MCPToolset)
    assert http.server == HTTPServer(url="http://127.0.0.1:8000/mcp",
                                     headers={"Authorization": "Bearer t"})
    assert http.name == "remote" and http.call_timeout_s is None


@pytest.mark.parametrize(("options", "problem"), [
    ({}, "give exactly one of `command`"),
    ({"command": "node", "url": "http://x/mcp"}, "give exactly one of `command`"),
    ({"url": "http://x/mcp", "args": ["a"]},
     "options ['args'] apply only to a `command` server, not to a `url` one"),
    ({"command": "node", "headers": {"a": "b"}},
     "option 'headers' applies only to a `url` server, not to a `command` one"),
    ({"url": "ws://x/mcp"}, "url: String should match pattern"),
    ({"command": "node", "startup_timeout_s": 0}, "startup_timeout_s: Input should be greater"),
    ({"command": "node", "comand": "x"}, "comand: Extra inputs are not permitted"),
])
def test_bad_options_name_the_problem_and_the_valid_options(
        options: dict[str, object], problem: str) -> None:
    with pytest.raises(UserError, match=r"^invalid options for tool 'mcp': ") as info:
        resolve_tool("mcp", options)
    message = str(info.value)
    assert problem in message
    assert "(valid options: command, args, env, cwd, url, headers, label, prefix, include, " \
           "exclude, startup_timeout_s, call_timeout_s)" in message


def test_recipe_errors_point_at_the_line() -> None:
    text = "tools:\n  - calculator\n  - name: mcp\n    url: http://127.0.0.1:1/mcp\n" \
           "    cwd: /tmp\n"
    with pytest.raises(RecipeError, match=r"^<recipe>:3: tools\.1: options \['cwd'\] apply only "
                                          r"to a `command` server, not to a `url` one$"):
        parse_recipe(text)


def test_the_shipped_recipe_builds_an_agent_with_the_toolset() -> None:
    spec = load_recipe(ROOT / "recipes" / "mcp_everything.yaml")
    agent = build_agent(spec, store=None)
    (toolset,) = agent.toolsets
    assert isinstance(toolset, MCPToolset) and toolset.name == "everything"
    assert toolset.include == ("echo", "get-sum")
    assert isinstance(toolset.server, StdioServer) and toolset.server.command == "node"


def test_missing_sdk_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # what `import mcp` sees when absent
    with pytest.raises(UserError, match=r"needs the official `mcp` package .*install it with: "
                                        r"pip install 'forethought\[mcp\]'$"):
        require_mcp()


async def test_missing_sdk_fails_the_start_not_the_construction(
        monkeypatch: pytest.MonkeyPatch) -> None:
    toolset = MCPToolset.stdio("node")  # building needs no SDK
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(UserError, match=r"pip install 'forethought\[mcp\]'"):
        await toolset.start()
    assert not toolset.running


def test_cli_and_package_import_without_the_sdk() -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from forethought.cli import app\n"
        "import forethought.tools.mcp\n"
        "out = CliRunner().invoke(app, ['--help']).output + CliRunner().invoke(\n"
        "    app, ['mcp', 'serve', '--help']).output\n"
        "assert 'mcp' in out and '--tools' in out and '--http' in out, out\n"
        "loaded = sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', "
        "'mcp_types', 'uvicorn', 'starlette', 'litellm')))\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_an_sdk_older_than_2_is_refused_with_the_upgrade_hint(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    monkeypatch.setattr(metadata, "version", lambda name: "1.9.4")
    with pytest.raises(UserError, match=r"needs mcp>=2, found mcp 1\.9\.4; upgrade with: "
                                        r"pip install 'forethought\[mcp\]' --upgrade$"):
        require_mcp()
