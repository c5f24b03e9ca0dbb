"""Turn a model name into a Model: ``simulated[:key=value,...]``, ``local/NAME[:key=value,...]``
or any LiteLLM model string.
"""

from __future__ import annotations

from typing import Any

from forethought.exceptions import UserError
from forethought.models.base import Model


def resolve_model(spec: Model | str, *, cache: bool = True, **litellm_options: Any) -> Model:
    """``spec`` as a :class:`Model`.

    ``"simulated"`` (optionally ``"simulated:seed=3,skill=0.7"``) is the offline simulator;
    ``"local/smollm2"`` or ``"local/PATH.gguf"`` (optionally ``":threads=2,n_ctx=4096"``) a
    model on a llama.cpp server forethought starts and stops (the ``local`` extra); any other
    string is a LiteLLM model (``openai/gpt-4o-mini``, ``anthropic/...``,
    ``ollama/qwen2.5``, ``hosted_vllm/...``) using LiteLLM's usual environment variables.
    With ``cache`` (the default), replies of real providers at temperature 0 are kept in the
    response cache.
    """
    if isinstance(spec, Model):
        model = spec
    elif not isinstance(spec, str) or not spec.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
        raise UserError(f"a model is a Model object or a model name string, got {spec!r}")
    elif spec.startswith("local/"):
        model = _local_model(spec, litellm_options)
    elif spec == "simulated" or spec.startswith("simulated:"):
        from forethought.models.simulated import SimulatedModel

        if litellm_options:
            raise UserError(f"options {sorted(litellm_options)} apply to LiteLLM models, "
                            f"not to {spec!r}")
        model = SimulatedModel.from_spec(spec)
    else:
        if "/" not in spec:
            raise UserError(f"model {spec!r}: name a provider as LiteLLM expects, e.g. "
                            f"'openai/{spec}', or use 'simulated' to run offline")
        from forethought.models.litellm_model import LiteLLMModel

        model = LiteLLMModel(spec, **litellm_options)
    if cache and model.cacheable:
        from forethought.models.cache import CachedModel, ResponseCache

        model = CachedModel(model, ResponseCache())
    return model


LOCAL_OPTIONS = ("settings", "max_retries")
"""The LiteLLM-model options a local model takes too: request defaults (a recipe's
temperature, max_tokens, seed...) and retries."""


def _local_model(spec: str, options: dict[str, Any]) -> Model:
    from forethought.models.local.model import LocalModel, LocalSettings

    given = {k: v for k, v in options.items() if v is not None}
    other = sorted(set(given) - set(LOCAL_OPTIONS))
    if other:
        raise UserError(f"options {other} do not apply to {spec!r}: forethought runs its "
                        f"server; its settings go in the name, e.g. "
                        f"'local/smollm2:threads=2,n_ctx=4096' (see docs/local_model.md)")
    settings = LocalSettings(max_retries=given["max_retries"]) if "max_retries" in given \
        else None
    return LocalModel(spec, settings, defaults=given.get("settings"))
