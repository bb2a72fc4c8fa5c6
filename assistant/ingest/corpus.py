"""Loading documents from the corpus folder, exactly as stored, with a report of what was skipped."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import CorpusError, InputError
from assistant.ingest.loaders import loader_for, supported_suffixes
from assistant.types import Document

MAX_BYTES = 20 * 1024 * 1024
SETTINGS_FILE = "assistant.toml"  # the chat page's title and examples (docs/chat.md): not a document


@dataclass(frozen=True)
class Skipped:
    """A corpus file that was not loaded, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class Corpus:
    """The loaded documents (sorted by id) and the files that were skipped."""

    folder: Path
    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...] = field(default=())

    def get(self, doc_id: str) -> Document:
        for doc in self.documents:
            if doc.doc_id == doc_id:
                return doc
        known = ", ".join(d.doc_id for d in self.documents[:10])
        raise InputError(f"Unknown document id {doc_id!r}; known ids: {known}")

    def fingerprint(self) -> str:
        """A hash of every document's id and text: changes whenever the corpus does."""
        digest = hashlib.sha256()
        for doc in self.documents:
            digest.update(doc.doc_id.encode("utf-8") + b"\0")
            digest.update(hashlib.sha256(doc.text.encode("utf-8")).digest())
        return digest.hexdigest()


def check_doc_id(doc_id: object) -> str:
    """Refuse ids that are not plain file names (no folders, no parent references).

    An article of a news dump has the id ``<file>#<line>`` (``news.jsonl#12``): a plain name too.
    """
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise InputError("A document id must be a non-empty file name such as 'qingdao_ai_plus.txt'.")
    file, sep, line = doc_id.rpartition("#")
    name = file if sep and line.isdigit() else doc_id
    if "/" in doc_id or "\\" in doc_id or "\0" in doc_id or name in (".", "..", ""):
        raise InputError(
            f"Document id {doc_id!r} is not a plain file name; ids are the names of files "
            "directly inside the corpus folder (or 'file.jsonl#<line>' for one article of a news dump)."
        )
    return doc_id


def read_documents(folder: Path, name: str) -> tuple[list[Document], list[Skipped]]:
    """Read one corpus file: its documents and the parts left out; raise CorpusError saying why it cannot be used."""
    path = folder / name
    real_folder = folder.resolve()
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise CorpusError(f"{name}: cannot be resolved ({exc}); remove or fix the file") from exc
    if real.parent != real_folder:
        raise CorpusError(f"{name}: a link that points outside the corpus folder; copy the file in instead")
    if not real.is_file():
        raise CorpusError(f"{name}: not a regular file")
    size = real.stat().st_size
    if size == 0:
        raise CorpusError(f"{name}: the file is empty; add text or remove it")
    if size > MAX_BYTES:
        raise CorpusError(f"{name}: {size} bytes is over the {MAX_BYTES}-byte limit; split the file")
    try:
        data = real.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{name}: cannot be read ({exc.strerror}); check its permissions") from exc
    return parse_file(name, data)


def parse_file(name: str, data: bytes) -> tuple[list[Document], list[Skipped]]:
    """The documents in a file's bytes, by its suffix's loader; CorpusError when there are none."""
    loader = loader_for(name)
    if loader is None:
        raise CorpusError(f"{name}: {unsupported()}")
    docs, parts = loader.load_with_skips(name, data)
    if not docs or not any(d.text.strip() for d in docs):
        raise CorpusError(f"{name}: contains only white space; add text or remove it")
    return [d for d in docs if d.text.strip()], [Skipped(part, reason) for part, reason in parts]


def read_document(folder: Path, name: str) -> Document:
    """The first document of one corpus file (kept for callers that read single-document files)."""
    return read_documents(folder, name)[0][0]


def unsupported() -> str:
    return f"not a {', '.join(supported_suffixes())} file; only those are indexed"


def load_corpus(folder: str | os.PathLike[str]) -> Corpus:
    """Load every supported file directly inside ``folder``; skip and report unusable files (and dump lines)."""
    root = Path(folder)
    if not root.is_dir():
        raise CorpusError(
            f"Corpus folder {str(root)!r} does not exist; create it and put documents in it "
            f"({', '.join(supported_suffixes())}), or pass corpus_dir=... pointing at such a folder."
        )
    names = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))  # hidden files are not content
    names = [n for n in names if n != SETTINGS_FILE]
    documents: list[Document] = []
    skipped: list[Skipped] = []
    for name in names:
        shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if loader_for(name) is None:
            skipped.append(Skipped(shown, unsupported()))
            continue
        if shown != name:
            skipped.append(Skipped(shown, "the file name is not valid UTF-8; rename the file"))
            continue
        try:
            docs, parts = read_documents(root, name)
            documents.extend(docs)
            skipped.extend(parts)
        except CorpusError as exc:
            skipped.append(Skipped(name, str(exc).removeprefix(f"{name}: ")))  # callers print "NAME: reason"
    if not documents:
        detail = "; ".join(f"{s.name}: {s.reason}" for s in skipped) or "no supported files"
        raise CorpusError(f"Corpus folder {str(root)!r} has no usable documents ({detail}).")
    documents.sort(key=lambda d: _order(d.doc_id))
    return Corpus(folder=root, documents=tuple(documents), skipped=tuple(skipped))


def _order(doc_id: str) -> tuple[str, int]:
    """Sort key: by file name, then a dump's articles by line number (``a.jsonl#10`` after ``a.jsonl#9``)."""
    name, _, line = doc_id.rpartition("#")
    return (name, int(line)) if name and line.isdigit() else (doc_id, 0)
