"""The ``retrieve`` tool (and its factory): search a corpus for passages (BM25, optionally hybrid).

In a recipe::

    tools:
      - name: retrieve
        corpus: docs/               # a folder of .txt/.md files, a text file or a JSONL file
        index: .forethought/docs-index   # optional: saved here, reloaded next time
        k: 5

From code, ``retrieve.create({"corpus": "passages.jsonl"})`` or
``RetrieveTool(Retriever(index=RetrievalIndex.build([...])))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pydantic

from forethought._options import Problem
from forethought.exceptions import ModelRetry, UserError
from forethought.tools.base import FunctionTool, Tool, ToolFactory, Toolset
from forethought.tools.retrieval.options import MAX_K, RetrieveOptions
from forethought.tools.retrieval.passages import Fields

if TYPE_CHECKING:
    from forethought.models.local.embeddings import EmbeddingServer
    from forethought.tools.retrieval.retriever import Retriever


class RetrieveTool(FunctionTool):
    """A tool searching one :class:`Retriever`; the model gives ``query`` and ``k``."""

    def __init__(self, retriever: Retriever, *, name: str = "retrieve",
                 description: str | None = None, k: int = 5,
                 max_chars: int | None = 1000) -> None:
        if not 1 <= k <= MAX_K:
            raise UserError(f"k must be between 1 and {MAX_K}, got {k!r}")
        self.retriever = retriever
        self.max_chars = max_chars
        size = len(retriever.index)

        async def retrieve(query: str, k: int = k) -> dict[str, Any]:
            """Search the corpus for passages relevant to a query.

            Args:
                query: Words to search for: names, key terms, a question.
                k: How many passages to return (best first).
            """
            if not query.strip():
                raise ModelRetry("the query is empty; give words to search for")
            if not 1 <= k <= MAX_K:
                raise ModelRetry(f"k must be between 1 and {MAX_K}, got {k}")
            hits = await self.retriever.asearch(query, k)
            return {"query": query,
                    "passages": [h.to_dict(self.max_chars) for h in hits]}

        hybrid = " (keyword and embedding ranking)" if retriever.embedder else ""
        super().__init__(retrieve, name=name, description=description or (
            f"Search a corpus of {size} passages{hybrid} for those relevant to a query; "
            f"returns the best passages with their ids, titles, scores and text."))
        # FunctionTool reads plain annotations only, so the bounds are added to the schema here
        self.parameters["properties"]["k"].update(minimum=1, maximum=MAX_K)


class RetrieveFactory(ToolFactory):
    """Builds the ``retrieve`` tool from :class:`RetrieveOptions`: the index is built (or
    loaded) once, when the tool is made.
    """

    name = "retrieve"
    Options = RetrieveOptions
    path_options = ("corpus", "index")

    def tool_names(self, options: pydantic.BaseModel) -> list[str] | None:
        return [cast(RetrieveOptions, options).name]

    def check(self, options: pydantic.BaseModel) -> list[Problem]:
        opts = cast(RetrieveOptions, options)
        if opts.corpus is not None and not Path(opts.corpus).exists():
            return [Problem(loc=("corpus",), message=f"no such file or folder: "
                                                     f"{opts.corpus!r}")]
        if opts.corpus is None and opts.index is not None and not Path(opts.index).is_dir():
            return [Problem(loc=("index",), message=f"no saved index at {opts.index!r} (give "
                                                    f"`corpus` to build one there)")]
        return []

    def build(self, options: pydantic.BaseModel) -> Tool | Toolset:
        from forethought.tools.retrieval.embeddings import Embedder
        from forethought.tools.retrieval.index import IndexSettings
        from forethought.tools.retrieval.retriever import Retriever, open_index

        opts = cast(RetrieveOptions, options)
        fields = Fields(text=opts.text_field, id=opts.id_field, title=opts.title_field)
        asked = opts.settings()
        settings = IndexSettings(**asked) if asked is not None else None
        index = open_index(corpus=opts.corpus, index=opts.index, settings=settings,
                           format=opts.format, fields=fields, split=opts.split)
        embedder = None
        server: EmbeddingServer | None = None
        if opts.embedding_model is not None and opts.embedding_model.startswith("local/"):
            from forethought.models.local.embeddings import EmbeddingServer

            if opts.embedding_api_base is not None:
                raise UserError(f"embedding_api_base does not apply to "
                                f"{opts.embedding_model!r}: forethought starts that server")
            server = EmbeddingServer(opts.embedding_model)
            # One CPU server embeds a batch at a time: generous time, one request in flight.
            embedder = Embedder(model=server.passage_model, query_model=server.query_model,
                                concurrency=1, timeout_s=600)
        elif opts.embedding_model is not None:
            embedder = Embedder(model=opts.embedding_model, api_base=opts.embedding_api_base)
        retriever = Retriever(index=index, embedder=embedder, weight=opts.hybrid_weight,
                              fusion=opts.fusion,
                              index_path=Path(opts.index) if opts.index else None)
        tool = RetrieveTool(retriever, name=opts.name, description=opts.description,
                            k=opts.k, max_chars=opts.max_chars)
        return tool if server is None else ServedRetrieve(tool, server)


class ServedRetrieve(Toolset):
    """The ``retrieve`` tool with its embedding server: started and stopped with the agent
    (``embedding_model: local/e5-small``).
    """

    def __init__(self, tool: RetrieveTool, server: EmbeddingServer) -> None:
        self.tool = tool
        self.server = server
        self.name = tool.name

    async def start(self) -> None:
        endpoint = await self.server.start()
        embedder = self.tool.retriever.embedder
        assert embedder is not None  # built with one
        embedder.api_base, embedder.api_key = endpoint.api_base, endpoint.api_key

    async def stop(self) -> None:
        await self.server.stop()

    def tools(self) -> list[Tool]:
        return [self.tool]


retrieve = RetrieveFactory()
"""The registered ``retrieve`` tool factory (entry point ``forethought.tools: retrieve``)."""
