"""A LlamaIndex retriever over the assistant: passages as scored ``TextNode``s with their spans and citations."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from assistant.api import Assistant
from assistant.embed import Embedder
from assistant.integrations import missing_extra
from assistant.integrations.common import CitedPassage, cited_passages

try:
    from llama_index.core.callbacks import CallbackManager
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing_extra("llamaindex", exc) from exc

_SPAN_KEYS = ["doc_id", "start", "end", "score", "chunk_id", "citations"]


class AssistantRetriever(BaseRetriever):
    """Passages from an ``Assistant`` as ``NodeWithScore``, best first.

    Node metadata matches the LangChain retriever: ``doc_id``, ``start``, ``end``, ``score``, ``chunk_id``
    and ``citations``; none of it is sent to the LLM or embedder, only the passage text.
    """

    def __init__(
        self,
        assistant: Assistant | None = None,
        *,
        corpus_dir: str | os.PathLike[str] = "corpus",
        index_dir: str | os.PathLike[str] = "index",
        embedder: Embedder | str | None = None,
        k: int = 5,
        doc_ids: Sequence[str] | None = None,
        cite: bool = True,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        self.assistant = assistant or Assistant.open(corpus_dir, index_dir, embedder, progress=False)
        self.k = k
        self.doc_ids = list(doc_ids) if doc_ids is not None else None
        self.cite = cite
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        found = cited_passages(self.assistant, query_bundle.query_str, self.k, self.doc_ids, self.cite)
        return [_node(c) for c in found]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)


def _node(cited: CitedPassage) -> NodeWithScore:
    p = cited.passage
    node = TextNode(
        id_=f"{p.doc_id}:{p.start}-{p.end}",
        text=p.text,
        metadata=cited.metadata(),
        excluded_llm_metadata_keys=list(_SPAN_KEYS),
        excluded_embed_metadata_keys=list(_SPAN_KEYS),
    )
    return NodeWithScore(node=node, score=float(p.score))


__all__ = ["AssistantRetriever"]
