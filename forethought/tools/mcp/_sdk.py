"""The optional ``mcp`` SDK, imported on first use with an install hint when it is missing."""

from __future__ import annotations

from importlib import metadata

from forethought.exceptions import UserError

INSTALL_HINT = "pip install 'forethought[mcp]'"


def require_mcp() -> None:
    """Import the official MCP SDK (version 2), or raise :class:`UserError` saying how to get it."""
    try:
        import mcp  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError as exc:
        raise UserError(f"the MCP adapter needs the official `mcp` package ({exc}); "
                        f"install it with: {INSTALL_HINT}") from None
    version = metadata.version("mcp")
    if int(version.split(".", 1)[0]) < 2:
        raise UserError(f"the MCP adapter needs mcp>=2, found mcp {version}; "
                        f"upgrade with: {INSTALL_HINT} --upgrade")
