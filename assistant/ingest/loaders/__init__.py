"""Document loaders by file suffix; ``loader_for(name)`` picks one."""

from __future__ import annotations

from assistant.ingest.loaders.base import Loader, MissingExtraError, loader_for, register, supported_suffixes
from assistant.ingest.loaders.text import TextLoader

register(TextLoader())

__all__ = ["Loader", "MissingExtraError", "TextLoader", "loader_for", "register", "supported_suffixes"]
