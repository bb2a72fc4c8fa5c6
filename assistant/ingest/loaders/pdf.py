"""PDF files: the text layer of every page (pypdf), pages separated by a blank line.

``Document.pages`` records where each page starts, so that a citation's offset gives its page
(``Document.page_of``). Scanned PDFs without a text layer are skipped with a reason: OCR them first.
"""

from __future__ import annotations

import io

from assistant.errors import CorpusError
from assistant.ingest.loaders.base import Loader
from assistant.types import Document

PAGE_BREAK = "\n\n"


class PdfLoader(Loader):
    suffixes = (".pdf",)
    extra = "pdf"

    def load(self, name: str, data: bytes) -> list[Document]:
        try:
            from pypdf import PdfReader
        except ImportError as exc:
            raise self.missing(name, "pypdf") from exc
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise CorpusError(f"{name}: the PDF is encrypted; save an unprotected copy")
            texts = [(page.extract_text() or "").strip() for page in reader.pages]
            title = str(reader.metadata.get("/Title") or "") if reader.metadata else ""
        except CorpusError:
            raise
        except Exception as exc:  # damaged files make pypdf raise many kinds of error
            raise CorpusError(
                f"{name}: not a readable PDF ({type(exc).__name__}: {exc}); re-export it, or save its text as .txt"
            ) from exc
        if not any(texts):
            raise CorpusError(f"{name}: the PDF has no text layer (a scan?); run OCR on it first")
        starts: list[int] = []
        parts: list[str] = []
        offset = 0
        for text in texts:
            if parts:
                parts.append(PAGE_BREAK)
                offset += len(PAGE_BREAK)
            starts.append(offset)
            parts.append(text)
            offset += len(text)
        return [Document(doc_id=name, text="".join(parts), title=title, pages=tuple(starts))]
