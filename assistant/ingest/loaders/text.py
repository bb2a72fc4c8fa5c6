"""Plain text and Markdown: the file's UTF-8 text exactly as stored."""

from __future__ import annotations

from assistant.errors import CorpusError
from assistant.ingest.loaders.base import Loader
from assistant.types import Document


def decode_utf8(name: str, data: bytes) -> str:
    """The text of a UTF-8 file; ``CorpusError`` for binary or undecodable bytes."""
    if b"\0" in data:
        raise CorpusError(f"{name}: looks binary (contains NUL bytes); only UTF-8 text is indexed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{name}: not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8") from exc


class TextLoader(Loader):
    suffixes = (".txt", ".md")

    def load(self, name: str, data: bytes) -> list[Document]:
        return [Document(doc_id=name, text=decode_utf8(name, data))]
