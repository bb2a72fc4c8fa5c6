"""CC-CEDICT's parsed table as an SQLite file, so that an index build reads only its vocabulary's entries.

``text.bilingual.cedict_table`` gives the whole parsed dictionary (120,000 terms; reading its JSON cache
takes about a second); a build needs the entries of its few thousand corpus terms and their characters.
The first build writes the table to ``cedict-<sha>-v1.sqlite`` beside the user's other caches (to a
temporary file, then renamed; never a pickle); later builds look their terms up in milliseconds. A missing,
read-only or damaged cache falls back to the whole table: the entries, and so the dictionary, are the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from assistant.config import cache_dir

Entries = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]  # glosses, readings, spelled

SCHEMA = (
    "CREATE TABLE terms (term TEXT PRIMARY KEY, glosses TEXT, spelled TEXT) WITHOUT ROWID;"
    "CREATE TABLE readings (ch TEXT PRIMARY KEY, syllables TEXT NOT NULL) WITHOUT ROWID;"
)
VERSION = 1  # bump when the table's layout changes


def vocabulary_entries(path: Path, terms: Iterable[str], load: Callable[[Path], Entries]) -> Entries:
    """(glosses, readings, spelled) of the dictionary at ``path`` for ``terms`` and the characters in them.

    ``load(path)`` gives the whole table (``bilingual.cedict_table``); it is called only to write the cache.
    """
    wanted = sorted(set(terms))
    chars = sorted({ch for term in wanted for ch in term})
    db = dictionary_cache(path, f"cedict-{{digest}}-v{VERSION}.sqlite")
    if db.is_file():
        try:
            return _read(db, wanted, chars)
        except sqlite3.Error:  # damaged: written again below
            pass
    glosses, readings, spelled = load(path)
    try:
        _write(db, glosses, readings, spelled)
    except (OSError, sqlite3.Error):
        pass  # a read-only home: the whole table is used this time
    return (
        {t: glosses[t] for t in wanted if t in glosses},
        {c: readings[c] for c in chars if c in readings},
        {t: spelled[t] for t in wanted if t in spelled},
    )


def dictionary_cache(path: Path, name: str) -> Path:
    """The cache file ``name`` of the dictionary at ``path``: ``{digest}`` in it is the file's SHA-256 (16 hex
    digits), so an updated dictionary gets new caches."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return cache_dir() / name.format(digest=digest)


def _read(db: Path, terms: list[str], chars: list[str]) -> Entries:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        glosses: dict[str, Any] = {}
        spelled: dict[str, Any] = {}
        query = "SELECT term, glosses, spelled FROM terms WHERE term IN (SELECT value FROM json_each(?))"
        for term, gloss, spelling in con.execute(query, (json.dumps(terms, ensure_ascii=False),)):
            if gloss is not None:
                glosses[term] = json.loads(gloss)
            if spelling is not None:
                spelled[term] = json.loads(spelling)
        query = "SELECT ch, syllables FROM readings WHERE ch IN (SELECT value FROM json_each(?))"
        rows = con.execute(query, (json.dumps(chars, ensure_ascii=False),))
        readings = {ch: json.loads(syllables) for ch, syllables in rows}
    finally:
        con.close()
    return glosses, readings, spelled


def _write(db: Path, glosses: dict[str, Any], readings: dict[str, Any], spelled: dict[str, Any]) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_name(f".{db.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        con = sqlite3.connect(tmp)
        try:
            con.executescript(SCHEMA)
            rows = [
                (t, _json(glosses.get(t)), _json(spelled.get(t))) for t in sorted(set(glosses) | set(spelled))
            ]
            con.executemany("INSERT INTO terms VALUES (?, ?, ?)", rows)
            con.executemany("INSERT INTO readings VALUES (?, ?)", [(c, _json(s)) for c, s in sorted(readings.items())])
            con.commit()
        finally:
            con.close()
        os.replace(tmp, db)
    finally:
        tmp.unlink(missing_ok=True)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
