"""The document library on the chat page: upload, the documents panel, remove, "Search only in"; and the
page's title and example questions, read from ``<corpus>/assistant.toml`` (docs/chat.md).

Every library call goes through ``ChatService.call`` (one lock for the shared Assistant; ``AssistantError``
becomes ``gr.Error``, whose message is shown here as the status line).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.errors import AssistantError, CorpusError
from assistant.ingest.corpus import SETTINGS_FILE
from assistant.ingest.loaders import supported_suffixes
from assistant.library import READONLY_ENV, check_writable, file_of
from assistant.text import messages
from assistant.text.lang import language
from assistant.ui.render import render_documents, render_status

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the same parser from PyPI (pip install tomli)
    import tomli as tomllib

if TYPE_CHECKING:
    from assistant.api import Assistant
    from assistant.ui.service import ChatService

KEYS = {"title", "description", "examples"}


@dataclass(frozen=True)
class PageSettings:
    """What the chat page says about its corpus: the title, a Markdown description, example questions."""

    title: str
    description: str
    examples: tuple[str, ...]

    @property
    def placeholder(self) -> str:
        return messages.PLACEHOLDER.format(self.examples[0]) if self.examples else messages.PLACEHOLDER_NONE


def read_settings(corpus: str | os.PathLike[str]) -> PageSettings | None:
    """``<corpus>/assistant.toml``, checked; None when there is no such file; CorpusError naming the problem."""
    path = Path(corpus) / SETTINGS_FILE
    if not path.is_file():
        return None

    def bad(problem: str) -> CorpusError:
        return CorpusError(f"{path}: {problem}; fix the file or delete it (docs/chat.md shows the format)")

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(f"cannot be read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise bad(f"is not valid TOML ({exc})") from exc
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise bad(f"unknown key {unknown[0]!r} (the keys are title, description and examples)")
    for key in ("title", "description"):
        if not isinstance(data.get(key, ""), str):
            raise bad(f"{key} must be a string")
    examples = data.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(q, str) and q.strip() for q in examples):
        raise bad('examples must be a list of non-empty questions, such as ["What is …?", "…是什么？"]')
    title = data.get("title", "").strip() or messages.GENERIC_TITLE
    description = data.get("description", "").strip() or messages.GENERIC_DESCRIPTION
    return PageSettings(title, description, tuple(q.strip() for q in examples))


def page_settings(bot: Assistant, settings: PageSettings | None = None) -> PageSettings:
    """The given settings, else the corpus's ``assistant.toml``, else a generic title and examples."""
    if settings is None:
        settings = read_settings(bot.corpus.folder)
    if settings is not None:
        return settings
    return PageSettings(messages.GENERIC_TITLE, messages.GENERIC_DESCRIPTION, generic_examples(bot))


def generic_examples(bot: Assistant) -> tuple[str, ...]:
    """The question "What is <first document's title> about?" in the title's language; none without documents."""
    ids = bot.documents()
    if not ids:
        return ()
    doc = bot.document(ids[0])
    first_line = next((line.strip() for line in doc.text.splitlines() if line.strip()), "")
    name = doc.title.strip() or first_line[:60] or Path(file_of(doc.doc_id)).stem
    return (messages.GENERIC_EXAMPLE[language(name)].format(name),)


def readonly_reason() -> str | None:
    try:
        check_writable()
    except CorpusError:
        return messages.READONLY.format(READONLY_ENV)
    return None


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


class LibraryHandlers:
    """Upload, remove and refresh; plain methods returning component values, so tests call them directly."""

    def __init__(self, service: ChatService) -> None:
        self.service = service

    @property
    def bot(self) -> Assistant:
        return self.service.bot

    def panel(self) -> str:
        rows = [(d.doc_id, d.title, d.chars, d.chunks, d.indexed) for d in self.bot.list_documents()]
        return render_documents(rows, messages.DOCUMENTS_EMPTY)

    def files(self) -> list[str]:
        """The corpus files (what can be removed): a news dump's articles are removed as one file."""
        return list(dict.fromkeys(file_of(d) for d in self.bot.documents()))

    def refreshed(self, selected: Sequence[str] | None) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(panel, remove choices, filter choices); the filter keeps the chosen documents that still exist."""
        ids = self.bot.documents()
        kept = [d for d in selected or [] if d in ids]
        return (
            self.panel(),
            gr.update(choices=self.files(), value=[]),
            gr.update(choices=ids, value=kept),
        )

    def upload(self, files: Sequence[Any] | None, selected: Sequence[str] | None) -> Iterator[tuple[Any, ...]]:
        """Yields (status, panel, remove choices, filter choices, upload box): 'adding…', then the result."""
        paths = [str(getattr(f, "path", f)) for f in files or []]
        if not paths:
            return
        shown = _names([Path(p).name for p in paths])
        panel, remove, doc_filter = self.refreshed(selected)
        yield render_status(messages.ADDING.format(shown)), panel, remove, doc_filter, gr.update()
        try:
            added = self.service.call(lambda: self.bot.add(paths))
            status = render_status(messages.ADDED.format(_names(added) or shown), "ok")
        except (gr.Error, AssistantError) as exc:
            status = render_status(messages.NOT_ADDED.format(getattr(exc, "message", str(exc))), "error")
        yield status, *self.refreshed(selected), None

    def remove(self, chosen: Sequence[str] | None, selected: Sequence[str] | None) -> tuple[Any, ...]:
        """(status, panel, remove choices, filter choices) after deleting the chosen documents' files."""
        if not chosen:
            return render_status(messages.CHOOSE_TO_REMOVE, "error"), *self.refreshed(selected)
        try:
            removed = self.service.call(lambda: self.bot.remove(list(chosen)))
            status = render_status(messages.REMOVED.format(_names(removed)), "ok")
        except (gr.Error, AssistantError) as exc:
            status = render_status(messages.NOT_REMOVED.format(getattr(exc, "message", str(exc))), "error")
        return status, *self.refreshed(selected)


def doc_ids_of(selected: Sequence[str] | None) -> list[str] | None:
    """The "Search only in" choice as ``doc_ids``: None (every document) when nothing is chosen."""
    return list(selected) if selected else None


def build_filter(bot: Assistant) -> gr.Dropdown:
    return gr.Dropdown(
        choices=bot.documents(),
        value=[],
        multiselect=True,
        label="Search only in",
        info=messages.FILTER_INFO,
        elem_id="doc-filter",
    )


def build_library(h: LibraryHandlers, doc_filter: gr.Dropdown) -> None:
    """The Documents accordion: the list, then upload and remove (hidden, with the reason, when read-only)."""
    readonly = readonly_reason()
    with gr.Accordion("Documents", open=False, elem_id="library"):
        panel = gr.HTML(h.panel(), elem_id="documents-panel")
        if readonly:
            gr.Markdown(readonly, elem_id="library-readonly")
        status = gr.HTML("", elem_id="library-status")
        upload = gr.File(
            file_count="multiple",
            label=messages.UPLOAD_LABEL.format(" ".join(supported_suffixes())),
            visible=readonly is None,
            elem_id="upload",
            height=120,
        )
        with gr.Row(visible=readonly is None):
            chosen = gr.Dropdown(
                choices=h.files(), value=[], multiselect=True, label="Remove", scale=4, elem_id="remove-choice"
            )
            remove = gr.Button("Remove selected", variant="stop", scale=1, elem_id="remove-button")
    outputs = [status, panel, chosen, doc_filter]
    upload.upload(h.upload, [upload, doc_filter], [*outputs, upload], api_visibility="private", concurrency_id="chat")
    remove.click(h.remove, [chosen, doc_filter], outputs, api_visibility="private", concurrency_id="chat")
