"""The one shared Assistant behind the chat page: calls serialised under a lock, errors turned into messages.

Every handler of the page (chat, generated answers, the document library) goes through ``ChatService.call``:
an ``AssistantError`` becomes ``gr.Error`` with its message, anything else a short internal-error message and
a log entry; the server keeps serving. The sources panel is rendered here too, since it reads the documents
and, for an English question, the glosses of the cited Chinese sentences.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import gradio as gr

from assistant.errors import AssistantError
from assistant.text import messages
from assistant.text.gloss import Gloss, gloss_table
from assistant.text.lang import is_chinese, language
from assistant.types import Answer, Passage
from assistant.ui.render import render_sources

if TYPE_CHECKING:
    from assistant.api import Assistant

log = logging.getLogger("assistant.ui")
T = TypeVar("T")


class ChatService:
    """Serialises calls into the shared Assistant (one index, many users) and maps errors to messages."""

    def __init__(self, bot: Assistant) -> None:
        self.bot = bot
        self._lock = threading.Lock()
        # the dictionary of the glosses is read once (~0.2 s) before the first English question needs it
        threading.Thread(target=gloss_table, name="gloss-table", daemon=True).start()

    def call(self, fn: Callable[[], T]) -> T:
        try:
            with self._lock:
                return fn()
        except AssistantError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:
            log.exception("assistant call failed")
            raise gr.Error(messages.INTERNAL_ERROR, print_exception=False) from None

    def ask(self, question: str, history: Any, k: Any, doc_ids: Any = None) -> Answer:
        only = {"doc_ids": doc_ids} if doc_ids else {}  # empty: every document
        return self.call(lambda: self.bot.ask(question, history=history, k=k, **only))

    def retrieve(self, question: str, k: Any, doc_ids: Any = None) -> list[Passage]:
        only = {"doc_ids": doc_ids} if doc_ids else {}
        return self.call(lambda: self.bot.retrieve(question, k=k, **only))

    def texts(self, answer: Answer) -> dict[str, str]:
        return self.call(lambda: {c.doc_id: self.bot.document(c.doc_id).text for c in answer.citations})

    def sources(self, answer: Answer) -> str:
        """The sources panel: each cited sentence in its context with the question's words marked; for a
        question in English, its Chinese sentences glossed word by word (hover or tap a word)."""

        def run() -> tuple[Answer, dict[str, str], dict[int, list[Gloss]]]:
            explained = self.bot.explain(answer)  # generated answers arrive without matches
            texts = {c.doc_id: self.bot.document(c.doc_id).text for c in explained.citations}
            glosses: dict[int, list[Gloss]] = {}
            if language(answer.question) == "en":
                glosses = {c.label: self.bot.gloss(c) for c in explained.citations if is_chinese(c.text)}
            return explained, texts, glosses

        explained, texts, glosses = self.call(run)
        return render_sources(explained.citations, texts, glosses=glosses)
