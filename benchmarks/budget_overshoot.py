"""How far each kind of budget cap is overrun under concurrency, and by what.

``n`` calls are fired at once through a ``LiteLLMModel`` (real litellm client code) whose
per-model concurrency limit queues them, against the in-repo OpenAI-compatible server on
127.0.0.1 (each reply: 20 prompt and 150 completion tokens, 20 ms; priced as gpt-4o-mini by
litellm's cost table; requests ask ``max_tokens=200``). For each cap kind (model calls,
tokens, dollars, seconds), concurrency 1/8/64 and n up to 256, a row gives the overshoot
beyond the cap in calls, tokens and dollars, next to the calls in flight when the cap was
reached. Target: overshoot <= those in-flight calls in every row, and the time cap's overrun
<= 100 ms.

The ``legacy`` rows emulate the old check (budget looked at before the model's queue, no
reservations) on the same server, for comparison: that is what overspent 28.8x.

Run: ``uv run python benchmarks/budget_overshoot.py [--quick]``
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from typing import Any

from _common import emit, fake_server, machine, parse_args, round_floats

from forethought.exceptions import BudgetExceeded
from forethought.models.litellm_import import import_now
from forethought.models.litellm_model import LiteLLMModel
from forethought.models.messages import Message, ModelRequest, ModelSettings, Usage
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext

MODEL = "openai/gpt-4o-mini"
PROMPT, COMPLETION, LATENCY_S = 20, 150, 0.02
TIME_TARGET_S = 0.1


class LegacyCheck(LiteLLMModel):
    """The old behaviour: admitted by the context before the queue, with no reservation."""

    admits_at_dispatch = False

    def worst_case(self, request: ModelRequest) -> Usage:
        return Usage(model_calls=1)


async def one_row(base_url: str, kind: str, cap: float, concurrency: int, n: int,
                  legacy: bool = False) -> dict[str, Any]:
    cls = LegacyCheck if legacy else LiteLLMModel
    model = cls(MODEL, api_base=base_url, api_key="k", max_concurrency=concurrency)
    budget = {"calls": Budget(max_model_calls=int(cap)), "tokens": Budget(max_tokens=int(cap)),
              "cost": Budget(max_cost_usd=cap), "seconds": Budget(max_seconds=cap)}[kind]
    tracker = BudgetTracker(budget=budget)
    ctx = RunContext(model=model, budget=tracker)
    request = ModelRequest(messages=(Message.user("count to ten"),),
                           settings=ModelSettings(max_tokens=200))
    start = time.monotonic()
    results = await asyncio.gather(*(ctx.complete(request) for _ in range(n)),
                                   return_exceptions=True)
    elapsed = time.monotonic() - start
    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, BudgetExceeded) for e in errors), errors[:1]
    # Calls sent = calls admitted (those cancelled at a deadline included); stopped = calls
    # refused at admission or cancelled.
    spent = tracker.spent
    per_call_tokens = PROMPT + COMPLETION
    per_call_usd = model.price(PROMPT, COMPLETION)
    row: dict[str, Any] = {"kind": "row", "cap": kind, "cap_value": cap,
                           "mode": "legacy" if legacy else "admission",
                           "concurrency": concurrency, "n": n,
                           "calls_sent": tracker.started_calls, "stopped": len(errors),
                           "tokens": spent.total_tokens, "usd": spent.cost_usd}
    if kind == "seconds":
        overrun = max(0.0, elapsed - cap)
        row.update(elapsed_s=elapsed, overrun_s=overrun,
                   target=f"overrun <= {TIME_TARGET_S}s",
                   verdict="pass" if overrun <= TIME_TARGET_S else "fail")
        return row
    over_calls = max(0, spent.model_calls - int(cap)) if kind == "calls" else 0
    over_tokens = max(0, spent.total_tokens - int(cap)) if kind == "tokens" else 0
    over_usd = max(0.0, spent.cost_usd - cap) if kind == "cost" else 0.0
    # The overshoot in calls' worth, to compare with the calls in flight at the cap.
    in_calls = {"calls": over_calls, "tokens": math.ceil(over_tokens / per_call_tokens),
                "cost": math.ceil(round(over_usd / per_call_usd, 9))}[kind]
    in_flight = tracker.in_flight_at_cap or 0
    row.update(overshoot_calls=over_calls, overshoot_tokens=over_tokens,
               overshoot_usd=over_usd, overshoot_in_calls=in_calls,
               in_flight_at_cap=in_flight)
    if not legacy:
        row.update(target="overshoot <= calls in flight at the cap",
                   verdict="pass" if in_calls <= in_flight else "fail")
    return row


async def main(quick: bool) -> None:
    import_now()  # once, outside every measurement
    emit(machine())
    per_call_usd = LiteLLMModel(MODEL).price(PROMPT, COMPLETION)
    caps: dict[str, float] = {"calls": 10, "tokens": 2_000, "cost": 10 * per_call_usd,
                              "seconds": 0.5}
    concurrencies = (1, 8, 64)
    sizes = (16, 64) if quick else (16, 64, 256)
    emit({"kind": "config", "model": MODEL, "reply_tokens": [PROMPT, COMPLETION],
          "latency_s": LATENCY_S, "caps": caps, "concurrency": concurrencies, "n": sizes})
    rows: list[dict[str, Any]] = []
    with fake_server(text="one two three", usage=(PROMPT, COMPLETION), delay_s=LATENCY_S
                     ) as base_url:
        for kind, cap in caps.items():
            for concurrency in concurrencies:
                for n in sizes:
                    row = await one_row(base_url, kind, cap, concurrency, n)
                    rows.append(row)
                    emit(round_floats(row, 6))
        for kind in ("tokens", "cost"):  # the old check, for comparison (no verdict)
            row = await one_row(base_url, kind, caps[kind], 8, 64, legacy=True)
            emit(round_floats(row, 6))
    failed = [r for r in rows if r.get("verdict") == "fail"]
    emit({"kind": "summary", "rows": len(rows), "failed": len(failed),
          "verdict": "pass" if not failed else "fail"})
    print(f"budget_overshoot: {len(rows)} rows, {len(failed)} failed", file=sys.stderr)


if __name__ == "__main__":
    args = parse_args(__doc__ or "")
    asyncio.run(main(args.quick))
