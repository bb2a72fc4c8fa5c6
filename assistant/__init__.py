"""Bilingual question answering over Chinese industry news, with exact cited spans."""

from assistant.api import Assistant
from assistant.errors import AssistantError, CorpusError, IndexStoreError, InputError
from assistant.types import Answer, Citation, Document, Passage

__all__ = [
    "Answer",
    "Assistant",
    "AssistantError",
    "Citation",
    "CorpusError",
    "Document",
    "IndexStoreError",
    "InputError",
    "Passage",
]
__version__ = "0.1.0"
