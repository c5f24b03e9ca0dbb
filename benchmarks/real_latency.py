"""A real model's latency, and what forethought adds to it: SmolLM2-135M on llama.cpp's
server (one thread), the same streamed request sent raw (httpx, no SDK) and through
forethought (RunContext -> LocalModel -> LiteLLM), alternately, side by side.

Per path: time to first token, tokens per second after it, and the whole call; then
forethought's overhead per call (median whole-call time over the raw one, as a ratio and in
milliseconds). The request is greedy (temperature 0, a seed), so both paths generate the same
tokens. Needs the ``local`` extra.

Figures: **SmolLM2-135M on 2 CPU cores**, never a claim about other models.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import httpx
from _common import emit, machine, parse_args, round_floats

from forethought.models.litellm_import import import_now
from forethought.models.local import LocalModel, LocalSettings
from forethought.models.messages import Message, ModelRequest, ModelSettings
from forethought.runtime.context import RunContext

PROMPT = "Write a short paragraph about the sea."
MAX_TOKENS = 64


async def raw_call(client: httpx.AsyncClient, url: str) -> tuple[float, float, int]:
    """(seconds to first token, seconds in all, tokens) for one raw streamed request."""
    body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS,
            "temperature": 0, "seed": 1, "stream": True}
    start = time.perf_counter()
    first = None
    tokens = 0
    async with client.stream("POST", url, json=body) as reply:
        async for line in reply.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                tokens += 1
                first = first or time.perf_counter()
    end = time.perf_counter()
    return (first or end) - start, end - start, tokens


async def sdk_call(ctx: RunContext) -> tuple[float, float, int]:
    start = time.perf_counter()
    first: list[float] = []

    def on_text(_text: str) -> None:
        if not first:
            first.append(time.perf_counter())

    request = ModelRequest(messages=(Message.user(PROMPT),),
                           settings=ModelSettings(max_tokens=MAX_TOKENS, temperature=0, seed=1))
    response = await ctx.complete(request, on_text=on_text)
    end = time.perf_counter()
    return (first[0] if first else end) - start, end - start, response.usage.completion_tokens


def summary(path: str, rows: list[tuple[float, float, int]]) -> dict[str, float | str | int]:
    ttft = statistics.median(r[0] for r in rows)
    total = statistics.median(r[1] for r in rows)
    rate = statistics.median(r[2] / (r[1] - r[0]) for r in rows if r[1] > r[0])
    return {"kind": "latency", "path": path, "calls": len(rows), "ttft_s": ttft,
            "total_s": total, "tokens": rows[0][2], "tokens_per_s": rate}


async def run(quick: bool) -> None:
    import_now()
    model = LocalModel("local/smollm2", LocalSettings(threads=1))
    repeats = 3 if quick else 15
    async with model:
        ctx = RunContext(model=model)
        url = model.servers[0].base_url + "/v1/chat/completions"
        async with httpx.AsyncClient(timeout=600) as client:
            await raw_call(client, url)  # warm: prompt in the server's cache, clients made
            await sdk_call(ctx)
            raw: list[tuple[float, float, int]] = []
            sdk: list[tuple[float, float, int]] = []
            for _ in range(repeats):
                raw.append(await raw_call(client, url))
                sdk.append(await sdk_call(ctx))
    r, s = summary("raw server (httpx)", raw), summary("forethought (RunContext)", sdk)
    emit(round_floats(r, 4))
    emit(round_floats(s, 4))
    ratio = float(s["total_s"]) / float(r["total_s"])
    emit(round_floats({"kind": "overhead", "ratio": ratio,
                       "per_call_ms": 1000 * (float(s["total_s"]) - float(r["total_s"])),
                       "ttft_ms": 1000 * (float(s["ttft_s"]) - float(r["ttft_s"])),
                       "same_tokens": r["tokens"] == s["tokens"],
                       "note": "SmolLM2-135M on 2 CPU cores"}, 4))


def main() -> None:
    args = parse_args(__doc__ or "")
    emit(machine())
    asyncio.run(run(args.quick))


if __name__ == "__main__":
    main()
