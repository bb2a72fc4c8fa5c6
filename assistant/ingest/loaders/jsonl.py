"""News dumps in JSON Lines: one article per line, ``{"title": ..., "text": ..., "url": ..., "date": ...}``.

Each line is its own document with the id ``<file>#<line>`` (1-based line number). Its text is the title,
a blank line, then the article text, so the title is searchable and citable. Bad lines are left out and
reported by line number; blank lines are ignored.
"""

from __future__ import annotations

import json

from assistant.errors import CorpusError
from assistant.ingest.loaders.base import Loader
from assistant.ingest.loaders.text import decode_utf8
from assistant.types import Document


def _article(name: str, number: int, line: str) -> Document:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(record, dict):
        raise CorpusError(f"a JSON {type(record).__name__}, not an object with 'title' and 'text'")
    title, text = record.get("title", ""), record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise CorpusError("no 'text' (a non-empty string)")
    if not isinstance(title, str):
        raise CorpusError("'title' is not a string")
    url, date = record.get("url") or "", record.get("date") or ""
    if not isinstance(url, str) or not isinstance(date, str):
        raise CorpusError("'url' and 'date' must be strings")
    body = f"{title.strip()}\n\n{text}" if title.strip() else text
    return Document(doc_id=f"{name}#{number}", text=body, title=title.strip(), url=url, date=date)


class JsonlLoader(Loader):
    suffixes = (".jsonl",)

    def load(self, name: str, data: bytes) -> list[Document]:
        return self.load_with_skips(name, data)[0]

    def load_with_skips(self, name: str, data: bytes) -> tuple[list[Document], list[tuple[str, str]]]:
        docs: list[Document] = []
        skipped: list[tuple[str, str]] = []
        for number, line in enumerate(decode_utf8(name, data).split("\n"), start=1):
            if not line.strip():
                continue
            try:
                docs.append(_article(name, number, line))
            except CorpusError as exc:
                skipped.append((f"{name}#{number}", f"line {number}: {exc}"))
        if not docs:
            reasons = "; ".join(reason for _, reason in skipped[:3]) or "no lines"
            raise CorpusError(f"{name}: no usable articles ({reasons})")
        return docs, skipped
