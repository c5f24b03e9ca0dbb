"""Counting prompt tokens exactly as llama.cpp's server will.

The server's stream carries no usage (asked for it, LiteLLM would make up counts with a
tokenizer of its own), so a local model counts for itself: the prompt is rendered by the
same chat handler the server uses (the GGUF's template, or the ``chat_format`` given), from a
vocabulary-only copy of the model loaded in this process (a tenth of a second, no weights),
and tokenized with the model's own tokenizer. Completion tokens are the stream's deltas, one
per generated token. A real-model test checks both against the server's own counts.
"""

from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import Any


class _Rendered(Exception):  # noqa: N818 - a control-flow signal carrying the prompt
    def __init__(self, prompt: Any) -> None:
        self.prompt = prompt


class PromptCounter:
    """The prompt tokens of a chat request for one GGUF model and chat format."""

    def __init__(self, model_path: Path, chat_format: str | None) -> None:
        self.model_path = model_path
        self.chat_format = chat_format
        self._llama: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the vocabulary (blocking: call from a worker thread)."""
        with self._lock:
            if self._llama is not None:
                return
            # Imported by name: llama-cpp-python is an optional extra, absent where the
            # package is type-checked without it.
            llama_cpp: Any = importlib.import_module("llama_cpp")
            llama_logger: Any = importlib.import_module("llama_cpp._logger")
            llama_module: Any = importlib.import_module("llama_cpp.llama")

            # Llama() sets its C logger to "errors" when not verbose, and a vocabulary-only
            # load logs a harmless context warning at that level onto our users' terminal;
            # for this one load the logger stays silent.
            def silent(_verbose: bool) -> None:
                llama_logger.logger.setLevel(logging.CRITICAL)

            set_verbose = llama_module.set_verbose
            llama_module.set_verbose = silent
            try:
                llama = llama_cpp.Llama(model_path=str(self.model_path), vocab_only=True,
                                        chat_format=self.chat_format, verbose=False)
            finally:
                llama_module.set_verbose = set_verbose

            def capture(*_args: Any, **kwargs: Any) -> Any:
                raise _Rendered(kwargs.get("prompt"))

            # The chat handler renders and tokenizes the prompt, then asks for a completion:
            # that last step is where the prompt is taken, and nothing is generated.
            llama.create_completion = capture
            self._llama = llama

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def count(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
              tool_choice: Any = None, response_format: dict[str, Any] | None = None) -> int:
        """Prompt tokens of a chat request (as sent: OpenAI-style dicts)."""
        self.load()
        try:
            self._llama.create_chat_completion(messages=messages, tools=tools,
                                               tool_choice=tool_choice,
                                               response_format=response_format, max_tokens=1)
        except _Rendered as rendered:
            prompt = rendered.prompt
            if isinstance(prompt, list):
                return len(prompt)  # pyright: ignore[reportUnknownArgumentType]
            return len(self._llama.tokenize(str(prompt).encode("utf-8"), add_bos=False,
                                            special=True))
        raise AssertionError("the chat handler asked for no completion")

    def count_text(self, text: str) -> int:
        """Tokens of plain ``text`` (no template)."""
        self.load()
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))
