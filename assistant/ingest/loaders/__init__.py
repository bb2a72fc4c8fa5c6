"""Document loaders by file suffix; ``loader_for(name)`` picks one."""

from __future__ import annotations

from assistant.ingest.loaders.base import Loader, MissingExtraError, loader_for, register, supported_suffixes
from assistant.ingest.loaders.docx import DocxLoader
from assistant.ingest.loaders.html import HtmlLoader
from assistant.ingest.loaders.jsonl import JsonlLoader
from assistant.ingest.loaders.pdf import PdfLoader
from assistant.ingest.loaders.text import TextLoader

for _loader in (TextLoader(), HtmlLoader(), PdfLoader(), DocxLoader(), JsonlLoader()):
    register(_loader)

__all__ = [
    "DocxLoader",
    "HtmlLoader",
    "JsonlLoader",
    "Loader",
    "MissingExtraError",
    "PdfLoader",
    "TextLoader",
    "loader_for",
    "register",
    "supported_suffixes",
]
