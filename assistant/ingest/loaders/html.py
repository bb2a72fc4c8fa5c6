"""HTML pages: the main article text (no navigation, header, footer or sidebars), via trafilatura.

Extraction favours precision: on a short page trafilatura's default recall mode keeps a ``<nav>`` of links
and a ``<header>`` line as article text; ``favor_precision`` drops them and still keeps every paragraph of a
long article (tests/unit/test_loaders.py). Paragraphs are kept apart by blank lines, so chunking still breaks
at paragraph ends. The page's title, date and canonical URL (when it states them) become the document's
metadata.
"""

from __future__ import annotations

from assistant.errors import CorpusError
from assistant.ingest.loaders.base import Loader
from assistant.types import Document


class HtmlLoader(Loader):
    suffixes = (".html", ".htm")
    extra = "html"

    def load(self, name: str, data: bytes) -> list[Document]:
        try:
            import trafilatura
        except ImportError as exc:
            raise self.missing(name, "trafilatura") from exc
        try:
            result = trafilatura.bare_extraction(
                data,
                with_metadata=True,
                include_comments=False,
                include_tables=True,
                include_images=False,
                favor_precision=True,
            )
        except Exception as exc:  # lxml and the encoding detection raise many kinds of error on broken pages
            raise CorpusError(f"{name}: the HTML cannot be parsed ({type(exc).__name__}: {exc})") from exc
        raw = getattr(result, "text", None) if result is not None else None
        if not raw or not raw.strip():
            raise CorpusError(f"{name}: no article text found in the page; save the article as .txt instead")
        text = "\n\n".join(line.strip() for line in raw.splitlines() if line.strip())
        return [
            Document(
                doc_id=name,
                text=text,
                title=str(getattr(result, "title", None) or ""),
                url=str(getattr(result, "url", None) or ""),
                date=str(getattr(result, "date", None) or ""),
            )
        ]
