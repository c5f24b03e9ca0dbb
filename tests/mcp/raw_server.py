"""An MCP "server" written by hand over stdio JSON-RPC, to send what the SDK would refuse to.

``python raw_server.py MODE`` where MODE is
``malformed-result`` (``tools/call`` answers with ``content`` that is not a list),
``malformed-list`` (``tools/list`` answers with a tool that has no name), or
``garbage`` (``tools/call`` answers with a line that is not JSON, then nothing).
"""

from __future__ import annotations

import json
import sys
from typing import Any

MODE = sys.argv[1] if len(sys.argv) > 1 else "malformed-result"
TOOL = {"name": "echo", "description": "Echo.", "inputSchema": {
    "type": "object", "properties": {"text": {"type": "string"}}}}


def reply(msg_id: Any, result: Any = None, error: Any = None) -> None:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id}
    if error is not None:
        body["error"] = error
    else:
        body["result"] = result
    sys.stdout.write(json.dumps(body) + "\n")
    sys.stdout.flush()


def handle(msg: dict[str, Any]) -> None:
    method, msg_id = msg.get("method"), msg.get("id")
    if msg_id is None:  # a notification
        return
    if method == "initialize":
        reply(msg_id, {"protocolVersion": msg["params"]["protocolVersion"],
                       "capabilities": {"tools": {}},
                       "serverInfo": {"name": "raw", "version": "0"}})
    elif method == "tools/list":
        tools = [{"description": "no name", "inputSchema": {"type": "object"}}] \
            if MODE == "malformed-list" else [TOOL]
        reply(msg_id, {"tools": tools})
    elif method == "tools/call":
        if MODE == "garbage":
            sys.stdout.write("this is not JSON-RPC\n")
            sys.stdout.flush()
        else:
            reply(msg_id, {"content": "not a list of content blocks"})
    else:
        reply(msg_id, error={"code": -32601, "message": f"method not found: {method}"})


for line in sys.stdin:
    if line.strip():
        handle(json.loads(line))
