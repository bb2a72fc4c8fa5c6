"""The LlamaIndex retriever, alone and inside a RetrieverQueryEngine with a mock LLM (no network, no model)."""

from __future__ import annotations

import llama_index.core  # noqa: E402,F401 - installed by the test command; a missing extra fails, never skips
import pytest
from llama_index.core import Settings  # noqa: E402
from llama_index.core.embeddings import MockEmbedding  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode  # noqa: E402

from assistant import Assistant, InputError  # noqa: E402
from assistant.integrations.llamaindex import AssistantRetriever  # noqa: E402

QUESTION = "卡奥斯 D3OS 排产引擎"


@pytest.fixture(autouse=True)
def _offline_settings() -> None:
    """Never let llama-index reach for its default OpenAI LLM or embedding model."""
    Settings.llm = MockLLM(max_tokens=8)
    Settings.embed_model = MockEmbedding(embed_dim=8)


def test_nodes_carry_exact_spans(fake_bot: Assistant) -> None:
    results = AssistantRetriever(fake_bot, k=4).retrieve(QUESTION)
    assert len(results) == 4
    assert all(isinstance(r, NodeWithScore) and isinstance(r.node, TextNode) for r in results)
    assert [r.score for r in results] == sorted((r.score or 0.0 for r in results), reverse=True)
    cited = 0
    for r in results:
        meta = r.node.metadata
        text = fake_bot.document(meta["doc_id"]).text
        assert text[meta["start"] : meta["end"]] == r.node.get_content()
        assert meta["score"] == r.score
        for span in meta["citations"]:
            assert text[span["start"] : span["end"]] == span["text"]
            cited += 1
        # the spans stay out of what the LLM reads
        assert r.node.get_content(metadata_mode=MetadataMode.LLM) == r.node.get_content()
    assert cited >= 1


@pytest.mark.asyncio
async def test_async_retrieve_and_filters(fake_bot: Assistant) -> None:
    retriever = AssistantRetriever(fake_bot, k=2, doc_ids=["qingdao_ai_plus.txt"], cite=False)
    results = await retriever.aretrieve(QUESTION)
    assert [r.node.metadata["citations"] for r in results] == [[], []]
    with pytest.raises(InputError):
        AssistantRetriever(fake_bot, doc_ids=["missing.txt"]).retrieve(QUESTION)


def test_query_engine_with_mock_llm(fake_bot: Assistant) -> None:
    engine = RetrieverQueryEngine.from_args(AssistantRetriever(fake_bot, k=3), llm=MockLLM(max_tokens=8))
    response = engine.query(QUESTION)
    assert isinstance(response.response, str) and response.response.strip()
    assert len(response.source_nodes) == 3
    assert {n.node.metadata["doc_id"] for n in response.source_nodes} == {"qingdao_ai_plus.txt"}
    assert any(n.node.metadata["citations"] for n in response.source_nodes)


@pytest.mark.asyncio
async def test_query_engine_async(fake_bot: Assistant) -> None:
    engine = RetrieverQueryEngine.from_args(AssistantRetriever(fake_bot, k=2), llm=MockLLM(max_tokens=8))
    response = await engine.aquery("激光电视节能多少")
    assert len(response.source_nodes) == 2
