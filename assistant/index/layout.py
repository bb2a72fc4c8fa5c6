"""The index folder on disk: the live-version pointer, the file lock, durable writes.

Layout::

    index/CURRENT            name of the live version folder (replaced atomically)
    index/.lock              held while a process builds or checks the index
    index/v-<id>/            one built version (manifest.json and the arrays it lists)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from filelock import FileLock

LOCK_TIMEOUT = 600.0


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lock_for(index_dir: Path) -> FileLock:
    index_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(index_dir / ".lock"), timeout=LOCK_TIMEOUT)


def current_folder(index_dir: Path) -> Path | None:
    pointer = index_dir / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not name.startswith("v-") or "/" in name:
        return None
    return index_dir / name


def switch_current(index_dir: Path, name: str) -> None:
    """Point CURRENT at the version folder ``name`` atomically, then remove older versions."""
    pointer_tmp = index_dir / f".CURRENT-{uuid.uuid4().hex[:8]}"
    pointer_tmp.write_text(name, encoding="utf-8")
    fsync_file(pointer_tmp)
    os.replace(pointer_tmp, index_dir / "CURRENT")
    fsync_file(index_dir)
    clean_old(index_dir, keep=name)


def clean_old(index_dir: Path, keep: str) -> None:
    for path in index_dir.iterdir():
        if path.name == keep or not (path.name.startswith("v-") or path.name.startswith(".tmp-")):
            continue
        shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.glob(".CURRENT-*"):
        path.unlink(missing_ok=True)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fsync_file(path)


def fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            fsync_file(path)
    for path in [*root.rglob("*"), root]:
        if path.is_dir():
            fsync_dir(path)
