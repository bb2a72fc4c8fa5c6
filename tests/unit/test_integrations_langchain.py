"""The LangChain retriever: LangChain's own standard retriever tests, an LCEL chain, exact spans in metadata."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import langchain_core  # noqa: E402,F401 - installed by the test command; a missing extra fails, never skips
import langchain_tests  # noqa: E402,F401 - installed by the test command; a missing extra fails, never skips
import pytest
from langchain_core.documents import Document  # noqa: E402
from langchain_core.runnables import RunnableLambda  # noqa: E402
from langchain_tests.integration_tests import RetrieversIntegrationTests  # noqa: E402

from assistant import Assistant, InputError  # noqa: E402
from assistant.embed import HashingEmbedder  # noqa: E402
from assistant.integrations.langchain import AssistantRetriever  # noqa: E402
from tests.conftest import ARTICLE  # noqa: E402

QUESTION = "卡奥斯 D3OS 排产引擎"


@pytest.fixture(scope="module")
def shared_bot(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    base = tmp_path_factory.mktemp("lc")
    (base / "corpus").mkdir()
    shutil.copy(ARTICLE, base / "corpus" / ARTICLE.name)
    return Assistant.open(base / "corpus", base / "index", HashingEmbedder(64), progress=False)


@pytest.mark.asyncio  # for the suite's one async test; the sync ones only warn, filtered below
@pytest.mark.filterwarnings("ignore:The test <Function:pytest.PytestWarning")
class TestAssistantRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's standard suite; the assistant is opened once per module and passed as a field."""

    bot: Assistant

    @pytest.fixture(autouse=True)
    def _bot(self, shared_bot: Assistant) -> None:
        type(self).bot = shared_bot

    @property
    def retriever_constructor(self) -> type[AssistantRetriever]:
        return AssistantRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"assistant": self.bot, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(
        f"[{d.metadata['doc_id']} {d.metadata['start']}-{d.metadata['end']}] {d.page_content}" for d in docs
    )


def test_lcel_chain(shared_bot: Assistant) -> None:
    chain = AssistantRetriever(assistant=shared_bot, k=3) | RunnableLambda(format_docs)
    context = chain.invoke(QUESTION)
    assert isinstance(context, str) and context.count("[qingdao_ai_plus.txt ") == 3
    assert "D3OS" in context


@pytest.mark.asyncio
async def test_lcel_chain_async_batch(shared_bot: Assistant) -> None:
    chain = AssistantRetriever(assistant=shared_bot, k=2) | RunnableLambda(format_docs)
    outs = await chain.abatch([QUESTION, "激光电视节能多少"])
    assert len(outs) == 2 and all(o.count("[qingdao_ai_plus.txt ") == 2 for o in outs)


def test_metadata_spans_are_exact(shared_bot: Assistant) -> None:
    docs = AssistantRetriever(assistant=shared_bot, k=5).invoke(QUESTION)
    assert len(docs) == 5
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    cited = 0
    for d in docs:
        meta = d.metadata
        text = shared_bot.document(meta["doc_id"]).text
        assert text[meta["start"] : meta["end"]] == d.page_content
        for span in meta["citations"]:
            assert set(span) == {"doc_id", "start", "end", "text"}
            assert text[span["start"] : span["end"]] == span["text"]
            assert meta["start"] <= span["start"] < span["end"] <= meta["end"]
            cited += 1
    assert cited >= 1  # the question is answerable: at least one cited sentence comes back


def test_matches_assistant_retrieve(shared_bot: Assistant) -> None:
    docs = AssistantRetriever(assistant=shared_bot, k=4, cite=False).invoke(QUESTION)
    hits = shared_bot.retrieve(QUESTION, k=4)
    assert [(d.metadata["start"], d.metadata["end"]) for d in docs] == [(h.start, h.end) for h in hits]
    assert all(d.metadata["citations"] == [] for d in docs)


def test_doc_ids_filter_and_bad_input(shared_bot: Assistant) -> None:
    retriever = AssistantRetriever(assistant=shared_bot, doc_ids=[ARTICLE.name])
    assert {d.metadata["doc_id"] for d in retriever.invoke(QUESTION)} == {ARTICLE.name}
    with pytest.raises(InputError):
        retriever.invoke(QUESTION, doc_ids=["missing.txt"])
    with pytest.raises(InputError):
        retriever.invoke("   ")
    with pytest.raises(InputError):
        retriever.invoke(QUESTION, k=0)


def test_opens_from_paths(corpus_dir: Path, tmp_path: Path) -> None:
    retriever = AssistantRetriever(corpus_dir=corpus_dir, index_dir=tmp_path / "idx", embedder="hashing-64", k=1)
    [doc] = retriever.invoke(QUESTION)
    assert doc.metadata["doc_id"] == ARTICLE.name
