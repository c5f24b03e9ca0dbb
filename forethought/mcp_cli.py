"""``forethought mcp``: serve a recipe's agent to MCP clients.

Only typer is imported here; the MCP SDK and the agent are loaded inside the command, so
``forethought --help`` does not pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

mcp_app = typer.Typer(no_args_is_help=True, help="Serve a recipe's agent as an MCP server.")


@mcp_app.callback()
def _mcp() -> None:
    """Serve a recipe's agent as an MCP server."""


@mcp_app.command("serve")
def serve(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.")],
    tools: Annotated[bool, typer.Option(
        "--tools", help="Also offer the recipe's tools themselves.")] = False,
    http: Annotated[int | None, typer.Option(
        "--http", metavar="PORT", min=1, max=65535,
        help="Serve streamable HTTP on 127.0.0.1:PORT (path /mcp) instead of stdio.")] = None,
    model: Annotated[str | None, typer.Option(
        help="Override the recipe's model: 'simulated' or any LiteLLM model string.")] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Bypass the response cache.")] = False,
    store: Annotated[Path | None, typer.Option(
        help="Run store file (default: $FORETHOUGHT_HOME/runs.sqlite).")] = None,
) -> None:
    """Offer the recipe's agent as an MCP tool `ask` (question in; answer, status, usage and
    run id out), over stdio unless --http is given.
    """
    import asyncio

    from forethought.exceptions import ForethoughtError, UserError
    from forethought.recipes import build_agent, load_recipe
    from forethought.tools.mcp.server import serve_http, serve_stdio

    agent = None
    try:
        spec = load_recipe(recipe)
        agent = build_agent(spec, model=model, cache=False if no_cache else None,
                            store=store if store is not None else "default")
        if http is None:
            asyncio.run(serve_stdio(agent, name=spec.name, description=spec.description,
                                    expose_tools=tools))
        else:
            typer.echo(f"forethought: serving {spec.name!r} on http://127.0.0.1:{http}/mcp "
                       f"(Ctrl-C to stop)", err=True)
            asyncio.run(serve_http(agent, port=http, name=spec.name,
                                   description=spec.description, expose_tools=tools))
    except ForethoughtError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2 if isinstance(exc, UserError) else 1) from None
    except KeyboardInterrupt:
        pass
    finally:
        if agent is not None:
            agent.close()
