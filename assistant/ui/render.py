"""Pure HTML rendering for the chat UI: answers with citation links, sources in context, passages.

Every piece of document, question or answer text goes through ``html.escape`` here; nothing else in
the UI builds markup from text. The functions take plain values and return strings, so they are
unit-tested without a server.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from assistant.text.gloss import Gloss
from assistant.types import Citation, Passage
from assistant.ui.glossed import cited_html, gloss_line

CONTEXT_CHARS = 200
MARKER = re.compile(r"\[(\d+)\]")
# After html.escape, characters that Markdown (or the chat's LaTeX pass) would read as syntax become
# numeric character references, so a chat bubble shows them literally. Entities made by html.escape
# itself are matched first and kept intact.
_MARKDOWN_SYNTAX = re.compile(r"&(?:amp|lt|gt|quot|#x27);|[\\`*_{}\[\]()#+\-.!|~$^=:<>]")
_TOKEN = re.compile(r"\[\d+\]|[A-Za-z0-9]+|\s+|.", re.DOTALL)


def escape_chat_text(text: str) -> str:
    """``html.escape`` plus Markdown neutralising: for text shown inside a Markdown chat bubble."""
    escaped = html.escape(text, quote=True)
    return _MARKDOWN_SYNTAX.sub(lambda m: m.group() if m.group().startswith("&") else f"&#{ord(m.group())};", escaped)


def render_answer(text: str, labels: Sequence[int] = (), linked: bool = True) -> str:
    """Chat-bubble markup for an answer: escaped text; ``[n]`` markers of real citations become links.

    The sources panel shows the latest answer only, so older answers are rendered with ``linked=False``
    (their markers stay plain text instead of pointing at another answer's sources).
    """
    known = set(labels)
    out: list[str] = []
    pos = 0
    for m in MARKER.finditer(text):
        label = int(m.group(1))
        if label not in known:
            continue
        out.append(escape_chat_text(text[pos : m.start()]))
        if linked:
            out.append(f'<a class="cite-ref" href="#cite-{label}" title="Show source {label}">[{label}]</a>')
        else:
            out.append(f'<span class="cite-ref old">[{label}]</span>')
        pos = m.end()
    out.append(escape_chat_text(text[pos:]))
    return "".join(out)


def render_question(text: str) -> str:
    return escape_chat_text(text)


def _context(text: str, start: int, end: int, width: int) -> tuple[str, str, str, bool, bool]:
    lo = max(0, start - width)
    hi = min(len(text), end + width)
    return text[lo:start], text[start:end], text[end:hi], lo > 0, hi < len(text)


def render_sources(
    citations: Sequence[Citation],
    texts: Mapping[str, str],
    context: int = CONTEXT_CHARS,
    glosses: Mapping[int, Sequence[Gloss]] | None = None,
) -> str:
    """Each citation inside its surrounding document text, the cited span in ``<mark id="cite-n">``.

    ``texts`` maps a document id to its full text; offsets are ``[start, end)`` into that text. The question's
    words found in a citation (``Citation.matches``) are marked; ``glosses`` (by label, for an English asker)
    makes each word of the sentence show its pinyin and English, with a word-by-word line under it.
    """
    glosses = glosses or {}
    if not citations:
        return render_no_sources("No passage of the article supports an answer, so no source is cited.")
    parts = ['<div class="sources">']
    for c in citations:
        doc = texts.get(c.doc_id)
        name = html.escape(c.doc_id)
        header = (
            f'<div class="source-head"><a class="source-label" href="#cite-{c.label}">[{c.label}]</a> '
            f'<span class="source-doc">{name}</span> '
            f'<span class="source-range">characters {c.start}–{c.end}</span></div>'
        )
        words = glosses.get(c.label, ())
        if doc is None or not 0 <= c.start <= c.end <= len(doc):
            cited = cited_html(c.text, c.start, words, c.matches)
            body = f'<p class="source-text"><mark id="cite-{c.label}" class="cite">{cited}</mark></p>'
        else:
            before, span, after, cut_left, cut_right = _context(doc, c.start, c.end, context)
            cited = cited_html(span, c.start, words, c.matches)
            body = (
                '<p class="source-text">'
                + ("…" if cut_left else "")
                + html.escape(before)
                + f'<mark id="cite-{c.label}" class="cite" data-label="{c.label}">{cited}</mark>'
                + html.escape(after)
                + ("…" if cut_right else "")
                + "</p>"
            )
        if words:
            body += gloss_line(words)
        parts.append(f'<section class="source" id="source-{c.label}">{header}{body}</section>')
    parts.append("</div>")
    return "".join(parts)


def render_no_sources(message: str) -> str:
    return f'<div class="sources empty"><p class="no-sources">{html.escape(message)}</p></div>'


def render_passages(passages: Sequence[Passage]) -> str:
    """The retrieved passages, best first, with their fused scores."""
    if not passages:
        return render_no_sources("No passages retrieved yet.")
    rows = []
    for rank, p in enumerate(passages, start=1):
        rows.append(
            f'<li class="passage"><div class="passage-head"><b>#{rank}</b> score {p.score:.4f} · '
            f"{html.escape(p.doc_id)} · characters {p.start}–{p.end}</div>"
            f'<div class="passage-text">{html.escape(p.text)}</div></li>'
        )
    return f'<ol class="passages">{"".join(rows)}</ol>'


def stream_prefixes(text: str, step: int = 3) -> list[str]:
    """Growing prefixes of ``text`` for progressive display; never splits a ``[n]`` marker or a word."""
    tokens = _TOKEN.findall(text)
    prefixes: list[str] = []
    current = ""
    for i, token in enumerate(tokens, start=1):
        current += token
        if i % step == 0:
            prefixes.append(current)
    if not prefixes or prefixes[-1] != text:
        prefixes.append(text)
    return prefixes


def render_documents(rows: Sequence[tuple[str, str, int, int, str]], empty: str) -> str:
    """The documents panel: one row per indexed document (id, title, characters, chunks, when indexed)."""
    if not rows:
        return render_no_sources(empty)
    body = "".join(
        f'<tr><td class="doc-name" title="{html.escape(title)}">{html.escape(doc_id)}</td>'
        f'<td class="num">{chars:,}</td><td class="num">{chunks}</td><td>{html.escape(indexed)}</td></tr>'
        for doc_id, title, chars, chunks, indexed in rows
    )
    head = "<tr><th>Document</th><th>Characters</th><th>Chunks</th><th>Indexed</th></tr>"
    return f'<table class="documents"><thead>{head}</thead><tbody>{body}</tbody></table>'


def render_status(text: str, kind: str = "info") -> str:
    """A one-line status under the upload box; ``kind`` is info, ok or error."""
    return f'<p class="library-status {html.escape(kind)}">{html.escape(text)}</p>' if text else ""
