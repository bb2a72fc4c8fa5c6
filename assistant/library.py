"""Managing the library of documents: add files to the corpus folder, remove them, list what is indexed.

The corpus folder stays the source of truth: ``add`` copies files into it and ``remove`` deletes them;
the index then catches up incrementally (only new or changed documents are embedded, see
``assistant.index.reuse``). ``ASSISTANT_READONLY=1`` refuses both, for shared or served deployments.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant.errors import CorpusError, InputError
from assistant.index.store import IndexData
from assistant.ingest.corpus import MAX_BYTES, check_doc_id, parse_file, unsupported
from assistant.ingest.loaders import loader_for

READONLY_ENV = "ASSISTANT_READONLY"


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed document: its id, size, chunk count, when its text was first indexed, its title."""

    doc_id: str
    chars: int
    chunks: int
    indexed: str
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_writable() -> None:
    if os.environ.get(READONLY_ENV, "").strip() not in ("", "0"):
        raise CorpusError(
            f"the document library is read-only here ({READONLY_ENV}={os.environ[READONLY_ENV]}); "
            f"unset {READONLY_ENV} to add or remove documents"
        )


def file_of(doc_id: str) -> str:
    """The corpus file a document id comes from (``news.jsonl#3`` -> ``news.jsonl``)."""
    name, _, line = doc_id.rpartition("#")
    return name if name and line.isdigit() else doc_id


def copy_in(folder: Path, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Check every file first (readable, supported, within the size limit, parses, no name clash), then copy
    each into ``folder`` without ever replacing an existing file. Returns the copied file names."""
    sources: list[tuple[Path, str, bytes]] = []
    for raw in paths:
        path = Path(raw)
        name = path.name
        if not path.is_file():
            raise InputError(f"{str(path)!r} is not a file; give the paths of documents to add")
        if name.startswith(".") or loader_for(name) is None:
            raise InputError(f"{name}: {unsupported()}")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"{name}: {size} bytes is over the {MAX_BYTES}-byte limit; split the file")
        if (folder / name).exists() or any(name == n for _, n, _ in sources):
            raise CorpusError(
                f"{name}: a document with this name is already in {folder}; "
                "rename the file, or remove the old one first"
            )
        data = path.read_bytes()
        parse_file(name, data)  # refuse what would only be skipped (empty, binary, unreadable, missing extra)
        sources.append((path, name, data))
    if not sources:
        raise InputError("no files given; pass the paths of documents to add")
    copied: list[str] = []
    for _, name, data in sources:
        tmp = folder / f".adding-{uuid.uuid4().hex[:8]}-{name}"  # hidden: never read as a document
        try:
            tmp.write_bytes(data)
            os.link(tmp, folder / name)  # fails rather than replace a file that appeared meanwhile
        except FileExistsError as exc:
            clash = f"{name}: a file with this name appeared in {folder} meanwhile; nothing was replaced"
            raise CorpusError(clash) from exc
        finally:
            tmp.unlink(missing_ok=True)
        copied.append(name)
    return copied


def delete(folder: Path, doc_ids: Iterable[str], known: list[str]) -> list[str]:
    """Delete the corpus files of these documents (an id or a file name); returns the deleted file names."""
    files = {file_of(d) for d in known}
    wanted: list[str] = []
    for doc_id in doc_ids:
        name = file_of(check_doc_id(doc_id))
        if name != doc_id and doc_id not in known:
            raise InputError(f"unknown document id {doc_id!r}")
        if name != doc_id:
            raise InputError(
                f"{doc_id!r} is one article of the news dump {name!r}; remove the whole file ({name}) or edit it"
            )
        if name not in files:  # only indexed documents: never the settings file or another non-document
            raise InputError(f"unknown document {doc_id!r}; 'assistant list' shows the indexed ones")
        if name not in wanted:
            wanted.append(name)
    if not wanted:
        raise InputError("no documents given; pass the ids of documents to remove")
    if files and files <= set(wanted):
        raise CorpusError("that would remove every document; an index needs at least one")
    for name in wanted:
        path = folder / name
        try:
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)  # pragma: no cover - folders are never documents
        except OSError as exc:
            raise CorpusError(f"{name}: cannot be deleted ({exc.strerror}); check the folder's permissions") from exc
    return wanted


def describe(data: IndexData) -> list[DocumentInfo]:
    titles = {d.doc_id: d.title for d in data.documents}
    return [
        DocumentInfo(
            doc_id=str(d["doc_id"]),
            chars=int(d["chars"]),
            chunks=int(d.get("chunks", 0)),
            indexed=str(d.get("indexed", "")),
            title=titles.get(str(d["doc_id"]), ""),
        )
        for d in data.manifest["documents"]
    ]
