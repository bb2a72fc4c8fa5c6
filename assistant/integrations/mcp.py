"""An MCP server for agents: ``retrieve`` and ``ask`` tools with cited spans, documents as resources.

Run it with ``python -m assistant mcp`` (stdio) or ``python -m assistant mcp --transport http --port 8765``
(streamable HTTP on 127.0.0.1). The assistant is opened once, at the first request that needs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from assistant.api import Assistant
from assistant.errors import AssistantError
from assistant.integrations import missing_extra
from assistant.integrations.common import cited_passages, span_dict

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
    from mcp.server.mcpserver.resources import FunctionResource
    from mcp.types import Resource as MCPResource
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise missing_extra("mcp", exc) from exc

HOST = "127.0.0.1"
INSTRUCTIONS = (
    "Answers questions about a collection of Chinese industry news (questions in English or Chinese). "
    "Use `ask` for a short answer quoting cited sentences, `retrieve` for the raw passages. "
    "Every span is (doc_id, start, end): character offsets into the document resource doc://{doc_id}."
)


class Span(BaseModel):
    """A cited sentence: ``text`` is exactly the document's characters ``[start, end)``."""

    doc_id: str
    start: int
    end: int
    text: str


class Citation(Span):
    label: int = Field(description="the [n] marker used in the answer text")
    score: float


class PassageHit(BaseModel):
    doc_id: str
    start: int
    end: int
    score: float
    text: str
    citations: list[Span] = Field(description="the answer's cited sentences inside this passage")


class RetrieveResult(BaseModel):
    question: str
    passages: list[PassageHit]


class AskResult(BaseModel):
    question: str
    answer: str = Field(description="the answer, with [n] markers that refer to citations by label")
    abstained: bool = Field(description="true when the documents do not support an answer")
    truncated: bool = Field(description="true when an overlong question was cut")
    citations: list[Citation]


class _Lazy:
    """Opens the assistant once, on first use, whichever thread asks first."""

    def __init__(self, opener: Callable[[], Assistant]) -> None:
        self._opener = opener
        self._bot: Assistant | None = None
        self._lock = threading.Lock()

    def get(self) -> Assistant:
        with self._lock:
            if self._bot is None:
                self._bot = self._opener()
            return self._bot


class AssistantServer(MCPServer):
    """An ``MCPServer`` whose resource list names every document, opening the assistant when first asked."""

    def __init__(self, bot: _Lazy) -> None:
        super().__init__("assistant", instructions=INSTRUCTIONS)
        self._bot = bot
        self._listed = False

    async def list_resources(self) -> list[MCPResource]:
        if not self._listed:
            import anyio.to_thread

            for doc_id in (await anyio.to_thread.run_sync(self._bot.get)).documents():
                self.add_resource(_document_resource(self._bot, doc_id))
            self._listed = True
        return await super().list_resources()


def _document_resource(bot: _Lazy, doc_id: str) -> FunctionResource:
    return FunctionResource.from_function(
        fn=lambda: bot.get().document(doc_id).text,
        uri=f"doc://{doc_id}",
        name=doc_id,
        description=f"the full text of {doc_id}; citation offsets index into it",
        mime_type="text/plain",
    )


def build_server(opener: Callable[[], Assistant]) -> AssistantServer:
    """The server with its tools and resources; ``opener`` is called once, when first needed."""
    bot = _Lazy(opener)
    server = AssistantServer(bot)

    @server.tool()
    def retrieve(question: str, k: int = 5, doc_ids: list[str] | None = None) -> RetrieveResult:
        """The k best passages for a question, best first, each with the cited sentences inside it."""
        try:
            found = cited_passages(bot.get(), question, k=k, doc_ids=doc_ids)
        except AssistantError as exc:
            raise ToolError(str(exc)) from exc
        hits = [PassageHit(text=c.passage.text, **c.metadata()) for c in found]
        return RetrieveResult(question=question, passages=hits)

    @server.tool()
    def ask(question: str, k: int = 5, doc_ids: list[str] | None = None) -> AskResult:
        """A short answer that quotes cited sentences, or an abstention when the documents do not say."""
        try:
            answer = bot.get().ask(question, k=k, doc_ids=doc_ids)
        except AssistantError as exc:
            raise ToolError(str(exc)) from exc
        citations = [Citation(label=c.label, score=float(c.score), **span_dict(c)) for c in answer.citations]
        return AskResult(
            question=answer.question,
            answer=answer.text,
            abstained=answer.abstained,
            truncated=answer.truncated,
            citations=citations,
        )

    @server.resource("doc://{doc_id}", name="document", mime_type="text/plain")
    def document(doc_id: str) -> str:
        """The full text of one document; citation offsets index into it."""
        try:
            return bot.get().document(doc_id).text
        except AssistantError as exc:
            raise ResourceNotFoundError(str(exc)) from exc

    return server


def serve(opener: Callable[[], Assistant], transport: Literal["stdio", "http"] = "stdio", port: int = 8765) -> int:
    """Run the server until the client disconnects (stdio) or the process is stopped (http)."""
    server = build_server(opener)
    if transport == "http":
        server.run("streamable-http", host=HOST, port=port)
    else:
        server.run("stdio")
    return 0


__all__ = ["AskResult", "RetrieveResult", "build_server", "serve"]
