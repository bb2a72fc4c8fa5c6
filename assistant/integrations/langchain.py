"""A LangChain retriever over the assistant: passages as ``Document``s with their spans and citations."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from assistant.api import Assistant
from assistant.embed import Embedder
from assistant.integrations import missing_extra
from assistant.integrations.common import cited_passages

try:
    from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict, model_validator
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing_extra("langchain", exc) from exc


class AssistantRetriever(BaseRetriever):
    """Passages from an ``Assistant``, best first.

    Each ``Document`` holds the passage text; its metadata has ``doc_id``, ``start``, ``end``, ``score``,
    ``chunk_id`` and ``citations`` (the answer's cited sentences inside the passage, as
    ``{doc_id, start, end, text}`` dicts). Pass ``assistant=`` or the ``corpus_dir``/``index_dir`` to open.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    assistant: Assistant | None = None
    corpus_dir: str | os.PathLike[str] | None = None
    index_dir: str | os.PathLike[str] | None = None
    embedder: Embedder | str | None = None
    k: int = 5
    doc_ids: list[str] | None = None
    cite: bool = True

    @model_validator(mode="after")
    def _open(self) -> AssistantRetriever:
        if self.assistant is None:
            self.assistant = Assistant.open(
                self.corpus_dir or "corpus", self.index_dir or "index", self.embedder, progress=False
            )
        return self

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        doc_ids: list[str] | None = None,
    ) -> list[Document]:
        assert self.assistant is not None  # set by the validator
        found = cited_passages(
            self.assistant,
            query,
            k=self.k if k is None else k,
            doc_ids=self.doc_ids if doc_ids is None else doc_ids,
            cite=self.cite,
        )
        return [Document(page_content=c.passage.text, metadata=c.metadata()) for c in found]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        doc_ids: list[str] | None = None,
    ) -> list[Document]:
        kwargs: dict[str, Any] = {"k": k, "doc_ids": doc_ids}
        sync_manager = run_manager.get_sync()
        return await asyncio.to_thread(self._get_relevant_documents, query, run_manager=sync_manager, **kwargs)


__all__ = ["AssistantRetriever"]
