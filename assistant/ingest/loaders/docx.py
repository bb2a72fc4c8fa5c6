"""Word documents (.docx): the body's paragraphs (python-docx), one per line; empty paragraphs are dropped."""

from __future__ import annotations

import io

from assistant.errors import CorpusError
from assistant.ingest.loaders.base import Loader
from assistant.types import Document


class DocxLoader(Loader):
    suffixes = (".docx",)
    extra = "docx"

    def load(self, name: str, data: bytes) -> list[Document]:
        try:
            import docx
        except ImportError as exc:
            raise self.missing(name, "python-docx") from exc
        try:
            doc = docx.Document(io.BytesIO(data))
            paragraphs = [p.text.strip() for p in doc.paragraphs]
            title = str(doc.core_properties.title or "")
        except Exception as exc:  # not a zip, not a Word file, damaged XML
            raise CorpusError(f"{name}: not a readable .docx file ({type(exc).__name__}: {exc})") from exc
        return [Document(doc_id=name, text="\n".join(p for p in paragraphs if p), title=title)]
