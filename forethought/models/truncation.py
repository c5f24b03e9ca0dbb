"""Noticing, from a reply's usage counts, that the provider cut something short.

Servers do not always refuse what does not fit their context window: some truncate the
prompt (the model then answers a question it never fully saw), and llama.cpp's server cuts
``max_tokens`` down to what is left of the window, so a reply stops early with
``finish_reason="length"`` although ``max_tokens`` was not reached. Neither is an error the
provider reports; both show in the counts. The findings go into
:attr:`~forethought.models.messages.ModelResponse.warnings`, which the run context logs and
puts on the call's ``ModelCallFinished`` event.
"""

from __future__ import annotations

from forethought.models.messages import ModelRequest, ModelResponse

PROMPT_FLOOR = 0.5
"""A provider's prompt count below this share of our own count means a truncated prompt. Our
count uses another tokenizer than most providers', so only a gap no tokenizer difference
explains is taken as truncation."""

MIN_GAP = 32
"""...and the gap must be at least this many tokens (short prompts differ by template
tokens alone)."""


def truncation_warnings(request: ModelRequest, response: ModelResponse, *,
                        counted_prompt_tokens: int | None, exact: bool = False,
                        context_window: int | None = None) -> list[str]:
    """What the usage counts of ``response`` say was cut short (empty when nothing was).

    Args:
        request: What was sent (its ``max_tokens``).
        response: The reply, with the provider's usage.
        counted_prompt_tokens: Our own count of the prompt, if any.
        exact: Whether that count uses the provider's own tokenizer (then any shortfall is a
            truncation, not only one past :data:`PROMPT_FLOOR`).
        context_window: The model's context size in tokens, when known.
    """
    notes: list[str] = []
    usage = response.usage
    if counted_prompt_tokens is not None and usage.prompt_tokens > 0 and not response.cached:
        floor = counted_prompt_tokens if exact else int(counted_prompt_tokens * PROMPT_FLOOR)
        gap = counted_prompt_tokens - usage.prompt_tokens
        if usage.prompt_tokens < floor and (exact or gap >= MIN_GAP):
            notes.append(f"prompt truncated: the provider counted {usage.prompt_tokens} prompt "
                         f"tokens for a prompt of {'' if exact else 'about '}"
                         f"{counted_prompt_tokens}; the model did not see all of it")
    cut = [i for i, c in enumerate(response.choices) if c.finish_reason == "length"]
    if not cut or response.cached:
        return notes
    limit = request.settings.max_tokens
    if limit is not None:
        # The usage is summed over samples: the cut ones used at most what is left after
        # every complete sample's share, so a total under len(cut) * limit means at least one
        # stopped before max_tokens.
        if usage.completion_tokens < len(cut) * limit:
            notes.append(f"reply cut short: {len(cut)} sample(s) stopped for length with "
                         f"{usage.completion_tokens} completion tokens in all, before "
                         f"max_tokens={limit} each; the context window "
                         f"{'' if context_window is None else f'({context_window} tokens) '}"
                         f"was full")
    elif context_window is not None and \
            usage.prompt_tokens + usage.completion_tokens >= context_window:
        notes.append(f"reply cut short: prompt and reply filled the context window "
                     f"({context_window} tokens)")
    return notes
