"""Bilingual (English/Chinese) question answering over Chinese industry news, with exact cited spans.

Open a folder of documents, then retrieve passages or ask questions::

    from assistant import Assistant
    bot = Assistant.open("corpus", "index")          # builds the index on first use
    bot.retrieve("What is Kaos's D3OS?", k=5)        # list[Passage], best first
    answer = bot.ask("卡奥斯的D3OS是什么？")            # Answer: text with [n] markers, citations
    answer.citations[0].doc_id, answer.citations[0].start, answer.citations[0].end

Every span is ``(doc_id, start, end)`` into ``bot.document(doc_id).text``. Problems a caller can fix raise
``AssistantError`` (``InputError``, ``CorpusError``, ``IndexStoreError``) with a message saying what to do.
Settings are the records in ``assistant.config``; see docs/ for the architecture and the figures.
"""

from importlib.metadata import PackageNotFoundError, version

from assistant.api import Assistant
from assistant.config import AbstentionConfig, AnswerConfig, ChunkingParams, RetrievalConfig, StoreConfig
from assistant.errors import AssistantError, CorpusError, IndexStoreError, InputError
from assistant.types import Answer, Citation, Document, Passage, Span

try:
    __version__ = version("assistant")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "AbstentionConfig",
    "Answer",
    "AnswerConfig",
    "Assistant",
    "AssistantError",
    "ChunkingParams",
    "Citation",
    "CorpusError",
    "Document",
    "IndexStoreError",
    "InputError",
    "Passage",
    "RetrievalConfig",
    "Span",
    "StoreConfig",
    "__version__",
]
