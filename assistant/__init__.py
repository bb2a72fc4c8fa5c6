"""Bilingual question answering over Chinese industry news, with exact cited spans."""

from .assistant import Assistant
from .records import Answer, AssistantError, Citation, CorpusError, Document, IndexStoreError, InputError, Passage

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
