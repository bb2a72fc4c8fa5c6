"""Markup of a cited sentence for the sources panel: matched question words marked and, for an English asker,
every word a focusable span whose tip shows its pinyin and English (hover, tap or keyboard focus), plus a
one-line word-by-word gloss under the sentence in a collapsible ``<details>``.

Pure functions over plain values; every piece of document text goes through ``html.escape``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from assistant.text.gloss import Gloss
from assistant.types import Match

_VIA = {"same": "same words", "dictionary": "dictionary", "pinyin": "pinyin", "number": "the number asked for"}


def cited_html(text: str, base: int, glosses: Sequence[Gloss] = (), matches: Sequence[Match] = ()) -> str:
    """``text`` (the span starting at document offset ``base``) as markup; without glosses or matches, escaped."""
    marks = [(m.start - base, m.end - base, m) for m in matches if base <= m.start < m.end <= base + len(text)]
    out: list[str] = []
    at = 0
    for g in sorted(glosses, key=lambda g: g.start):
        a, b = g.start - base, g.end - base
        if a < at or b > len(text) or a >= b:
            continue  # not inside the sentence (a gloss of another span): never shown out of place
        out.append(_marked(text, at, a, marks))
        inner = _marked(text, a, b, marks)
        if g.pinyin or g.english:
            tip = f'<span class="py">{html.escape(g.pinyin)}</span> <span class="en">{html.escape(g.english)}</span>'
            tip = f'<span class="gloss-tip" role="tooltip">{tip}</span>'
            inner = f'<span class="gw {html.escape(g.kind)}" tabindex="0">{inner}{tip}</span>'
        out.append(inner)
        at = b
    out.append(_marked(text, at, len(text), marks))
    return "".join(out)


def _marked(text: str, a: int, b: int, marks: Sequence[tuple[int, int, Match]]) -> str:
    """``text[a:b]`` escaped, its parts inside a match wrapped in ``<b class="match">``."""
    out: list[str] = []
    at = a
    for s, e, m in marks:
        s, e = max(s, a), min(e, b)
        if s >= e:
            continue
        out.append(html.escape(text[at:s]))
        title = html.escape(f"{m.term} ({_VIA.get(m.via, m.via)})", quote=True)
        out.append(f'<b class="match {html.escape(m.via)}" title="{title}">{html.escape(text[s:e])}</b>')
        at = e
    out.append(html.escape(text[at:b]))
    return "".join(out)


def gloss_line(glosses: Sequence[Gloss]) -> str:
    """The sentence word by word in English (pinyin for a word the dictionary lacks), collapsible."""
    words = []
    for g in glosses:
        first = g.english.split(";")[0].strip()
        label, kind = (first, "en") if first else (g.pinyin, "py") if g.pinyin else (g.text, "as-is")
        title = html.escape(f"{g.text} {g.pinyin}".strip(), quote=True)
        words.append(f'<span class="gl {kind}" title="{title}">{html.escape(label)}</span>')
    return (
        '<details class="gloss-line" open><summary>Word by word</summary>'
        f'<p class="gloss-words">{" · ".join(words)}</p></details>'
    )
