"""The Gradio chat UI and its two program endpoints (``/ask`` and ``/retrieve``).

This is the only layer (with the CLI) that turns ``AssistantError`` into messages: every handler
answers a failure with ``gr.Error`` (a short message, never a traceback) and the server keeps serving.
No ``from __future__ import annotations`` here: ``gr.api`` reads the endpoint type hints at runtime.
"""

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gradio as gr

from assistant.api import Assistant
from assistant.text import messages
from assistant.ui.generated import respond_generated
from assistant.ui.library import LibraryHandlers, PageSettings, build_filter, build_library, doc_ids_of, page_settings
from assistant.ui.render import (
    render_answer,
    render_no_sources,
    render_passages,
    render_question,
    stream_prefixes,
)
from assistant.ui.service import ChatService

__all__ = ["ChatService", "Handlers", "build", "launch_options", "parse_history"]

CSS = """
#sources-panel { max-height: 620px; overflow-y: auto; }
.sources .source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  margin-bottom: 10px; background: var(--background-fill-secondary); }
.sources .source-head { font-size: 0.9em; margin-bottom: 6px; color: var(--body-text-color-subdued); }
.sources .source-label { font-weight: 700; text-decoration: none; color: var(--color-accent); margin-right: 4px; }
.sources .source-doc { font-weight: 600; color: var(--body-text-color); }
.sources .source-text { white-space: pre-wrap; line-height: 1.65; margin: 0; color: var(--body-text-color); }
.sources mark.cite { background: #ffe066; color: #1a1a1a; padding: 1px 2px; border-radius: 3px;
  box-shadow: 0 0 0 1px #e6b800; }
.sources mark.cite.flash { animation: cite-flash 1.2s ease-out; }
@keyframes cite-flash { 0% { background: #ff9f1a; } 100% { background: #ffe066; } }
.sources b.match { font-weight: 700; text-decoration: underline 2px #2a7a2a; text-underline-offset: 3px; }
.sources b.match.number { color: #b3261e; text-decoration-color: #b3261e; }
.sources .gw { position: relative; cursor: help; border-bottom: 1px dotted #8a6d00; outline: none; }
.sources .gw:focus { background: #fff3b0; }
.sources .gloss-tip { display: none; position: absolute; left: 0; top: 100%; z-index: 30; white-space: nowrap;
  background: #1f2937; color: #fff; font-size: 0.85em; font-weight: 400; padding: 3px 7px; border-radius: 5px;
  line-height: 1.35; box-shadow: 0 2px 6px rgba(0,0,0,.25); }
.sources .gw:hover > .gloss-tip, .sources .gw:focus > .gloss-tip { display: block; }
.sources .gloss-tip, .sources .gloss-tip span { color: #fff !important; }
.sources .gloss-tip .py { font-weight: 700; margin-right: 4px; }
.sources .gloss-line { margin-top: 6px; font-size: 0.9em; } .sources .gloss-line summary { cursor: pointer;
  color: var(--body-text-color-subdued); } .sources .gloss-words { margin: 4px 0 0; line-height: 1.6; }
.sources .gloss-line .gl.py { font-style: italic; }
.sources .no-sources { color: var(--body-text-color-subdued); font-style: italic; margin: 8px 2px; }
a.cite-ref { font-weight: 700; text-decoration: none; cursor: pointer; }
.passages { padding-left: 1.2em; }
.passages .passage { margin-bottom: 8px; }
.passages .passage-head { font-size: 0.85em; color: var(--body-text-color-subdued); }
.passages .passage-text { white-space: pre-wrap; font-size: 0.9em; }
table.documents { width: 100%; font-size: 0.9em; } table.documents td.num { text-align: right; }
.library-status.error { color: var(--error-text-color, #c00); } .library-status.ok { color: #2a7a2a; }
"""

# Clicking a citation marker in the latest answer (or a label in the panel) scrolls its source into view.
HEAD = """
<script>
document.addEventListener("click", function (ev) {
  var link = ev.target && ev.target.closest ? ev.target.closest("a.cite-ref, a.source-label") : null;
  if (!link) return;
  ev.preventDefault();
  ev.stopPropagation();
  var href = link.getAttribute("href") || "";
  var mark = document.getElementById("cite-" + href.replace(/^.*#cite-/, ""));
  if (!mark) return;
  mark.scrollIntoView({behavior: "smooth", block: "center"});
  mark.classList.remove("flash");
  void mark.offsetWidth;
  mark.classList.add("flash");
}, true);
</script>
"""


def _whole(k: Any) -> Any:
    """A slider or JSON client may send 5.0 for 5; anything else goes to the assistant to reject."""
    if isinstance(k, float) and k.is_integer():
        return int(k)
    return k


def parse_history(history: object) -> list[tuple[str, str]] | object:
    """History from a program: a JSON string or a list of [question, answer] pairs; empty means none."""
    if history is None:
        return []
    if isinstance(history, str):
        if not history.strip():
            return []
        try:
            history = json.loads(history)
        except json.JSONDecodeError as exc:
            raise gr.Error(
                f"history is not valid JSON ({exc.msg}); send a list of [question, answer] pairs.",
                print_exception=False,
            ) from None
    if isinstance(history, list):
        return [tuple(item) if isinstance(item, list) else item for item in history]
    return history


def _messages(turns: Sequence[dict[str, Any]], live: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Chat messages rebuilt from the turns; only the newest answer's markers link to the sources panel."""
    shown = [*turns, live] if live else list(turns)
    out: list[dict[str, str]] = []
    for i, t in enumerate(shown):
        latest = i == len(shown) - 1
        out.append({"role": "user", "content": render_question(t["question"])})
        out.append({"role": "assistant", "content": render_answer(t["shown"], t["labels"], linked=latest)})
    return out


class Handlers:
    """The event handlers of the page and the two endpoints; plain methods, so tests can call them directly."""

    def __init__(self, service: ChatService, stream_delay: float = 0.03) -> None:
        self.service = service
        self.stream_delay = stream_delay

    def respond(
        self, message: str, turns: list[dict[str, Any]], k: float, only: list[str] | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """Chat turn: yields (messages, turns, sources, passages, textbox) with a growing answer, then the final one.

        ``only``: the "Search only in" documents (empty or None: all)."""
        if hasattr(self.service.bot.answerer, "stream"):  # a language model is configured (docs/generation.md)
            yield from respond_generated(self.service, message, turns, _whole(k), _messages, doc_ids_of(only))
            return
        history = [(t["question"], t["text"]) for t in turns]
        answer = self.service.ask(message, history, _whole(k), doc_ids_of(only))
        labels = [c.label for c in answer.citations]
        shown = answer.text  # exactly as the library wrote it: abstention reason and truncation note included
        passages = render_passages(answer.passages)
        pending = render_no_sources(messages.WRITING)
        turn = {"question": message, "text": answer.text, "shown": "", "labels": labels}
        for prefix in stream_prefixes(shown):
            turn["shown"] = prefix
            yield _messages(turns, turn), turns, pending, passages, ""
            time.sleep(self.stream_delay)
        if answer.abstained and not answer.citations:  # a low-confidence answer keeps its closest citations
            sources = render_no_sources(f"{shown} {messages.NO_SOURCE}")
        else:
            sources = self.service.sources(answer)
        turn["shown"] = shown
        new_turns = [*turns, turn]
        yield _messages(new_turns), new_turns, sources, passages, ""

    def clear(self) -> tuple[Any, ...]:
        return [], [], render_no_sources(messages.SOURCES_EMPTY), render_passages([]), ""

    def ask(
        self, question: str, history: str | list[list[str]] | None = None, k: int = 5, doc_ids: list[str] | None = None
    ) -> dict[str, Any]:
        """Answer a question (with optional earlier [question, answer] pairs) with cited spans; ``doc_ids``
        limits the search to those documents (None or empty: all)."""
        answer = self.service.ask(question, parse_history(history), _whole(k), doc_ids)
        return {
            "text": answer.text,
            "abstained": answer.abstained,
            "truncated": answer.truncated,
            "citations": [
                {"label": c.label, "doc_id": c.doc_id, "start": c.start, "end": c.end, "text": c.text}
                for c in answer.citations
            ],
        }

    def retrieve(self, question: str, k: int = 5, doc_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """The k best passages for a question, best first, with their scores (``doc_ids``: only those documents)."""
        passages = self.service.retrieve(question, _whole(k), doc_ids)
        return [
            {"doc_id": p.doc_id, "start": p.start, "end": p.end, "text": p.text, "score": p.score} for p in passages
        ]

    # The endpoints. Gradio wants every declared input in a raw call, so /ask and /retrieve keep the inputs
    # they always had and the document filter has endpoints of its own.

    def api_ask(self, question: str, history: str | list[list[str]] | None = None, k: int = 5) -> dict[str, Any]:
        """Answer a question (with optional earlier [question, answer] pairs) with cited spans."""
        return self.ask(question, history, k)

    def api_retrieve(self, question: str, k: int = 5) -> list[dict[str, Any]]:
        """The k best passages for a question, best first, with their scores."""
        return self.retrieve(question, k)

    def api_ask_in(
        self, question: str, doc_ids: list[str], history: str | list[list[str]] | None = None, k: int = 5
    ) -> dict[str, Any]:
        """As /ask, searching only the documents ``doc_ids`` (an empty list: all)."""
        return self.ask(question, history, k, doc_ids)

    def api_retrieve_in(self, question: str, doc_ids: list[str], k: int = 5) -> list[dict[str, Any]]:
        """As /retrieve, searching only the documents ``doc_ids`` (an empty list: all)."""
        return self.retrieve(question, k, doc_ids)


def build(bot: Assistant, stream_delay: float = 0.03, settings: PageSettings | None = None) -> gr.Blocks:
    """The chat page plus the ``ask`` and ``retrieve`` endpoints, over one opened Assistant.

    ``settings``: title and examples (default: the corpus's ``assistant.toml``, else generic ones)."""
    h = Handlers(ChatService(bot), stream_delay)
    page = page_settings(bot, settings)

    with gr.Blocks(title=page.title) as demo:
        gr.Markdown(f"## {render_question(page.title)}\n{page.description}")
        turns = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Chat",
                    height=480,
                    latex_delimiters=[],
                    feedback_options=None,
                    buttons=[],  # copy buttons would copy the escaped markup, not the text
                    elem_id="chat",
                    placeholder=page.placeholder,
                )
                with gr.Row():
                    box = gr.Textbox(
                        show_label=False,
                        placeholder="Type a question and press Enter",
                        scale=5,
                        elem_id="question",
                        max_length=2000,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask-button")
                    reset = gr.Button("Clear", scale=1, elem_id="clear-button")
                only = build_filter(bot)
                if page.examples:
                    gr.Examples(examples=[[q] for q in page.examples], inputs=[box], label="Examples")
                with gr.Accordion("Settings", open=False):
                    k = gr.Slider(1, 10, value=5, step=1, label="Number of passages (k)")
                build_library(LibraryHandlers(h.service), only)
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(render_no_sources(messages.SOURCES_EMPTY), elem_id="sources-panel")
                with gr.Accordion("Show retrieved passages", open=False, elem_id="passages-accordion"):
                    passages = gr.HTML(render_passages([]), elem_id="passages-panel")

        outputs = [chat, turns, sources, passages, box]
        for event in (box.submit, send.click):
            event(h.respond, [box, turns, k, only], outputs, api_visibility="private", concurrency_id="chat")
        reset.click(h.clear, None, outputs, api_visibility="private", queue=False)
        chat.clear(h.clear, None, outputs, api_visibility="private", queue=False)  # the chat's own bin icon
        endpoints: dict[str, Callable[..., Any]] = {
            "ask": h.api_ask,
            "retrieve": h.api_retrieve,
            "ask_in_documents": h.api_ask_in,
            "retrieve_in_documents": h.api_retrieve_in,
        }
        for name, fn in endpoints.items():
            gr.api(fn, api_name=name, concurrency_id="api")  # type: ignore[attr-defined]  # gradio 6 API, not in __all__
    return demo


def launch_options() -> dict[str, Any]:
    """Page-level settings that Gradio 6 takes in ``launch()``."""
    fonts = ["ui-sans-serif", "system-ui", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "sans-serif"]
    theme = gr.themes.Soft(font=fonts, font_mono=["ui-monospace", "monospace"])  # no web-font downloads
    return {"css": CSS, "head": HEAD, "theme": theme}
