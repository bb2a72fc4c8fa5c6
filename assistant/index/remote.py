"""Serving the chunk index from Milvus: keep a collection in step with the live version folder.

The local version folder stays the source of truth (texts, offsets, sentences, manifest). ``attach`` is the one
post-build step, for a local build as for any other: after the version folder is built or loaded, the collection
behind the alias must serve that version (its head row names it); if not, it is synced, under the index folder's
lock. A sync writes only what changed (``remote_sync.write_changes``: upserts and deletes by stable chunk id) or,
when that is not possible, the whole version into a fresh collection and then moves the alias. Readers see one
version at a time (``remote_view.RemoteChunks``). A sync that dies half-way leaves the head on the previous
version; the next open (``assistant index``) finishes the job.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from assistant.config import StoreConfig
from assistant.errors import IndexStoreError
from assistant.index.layout import lock_for
from assistant.index.remote_sync import Head, collection_name, stable_ids, vocabulary, write_changes, write_whole
from assistant.index.remote_view import RemoteChunks
from assistant.index.store import IndexData
from assistant.index.vectors.faiss import FLAT_LIMIT
from assistant.index.vectors.milvus import MilvusStore, connect, quiet

__all__ = ["ALIAS", "attach", "collection_name", "follow", "live", "live_collection", "open_view", "sync"]

log = logging.getLogger(__name__)
ALIAS = "assistant_chunks"  # the live collection's alias; collections are named <alias>_<version folder>


def attach(data: IndexData, store: StoreConfig, alias: str = ALIAS) -> IndexData:
    """``data`` with its chunk rows served from Milvus (synced first when the collection serves another version)."""
    if not store.uri:
        return data
    client = connect(store.uri)
    milvus, head = live(client, alias)
    if not _serves(milvus, head, data):
        with lock_for(data.folder.parent):  # another process may have synced it meanwhile: look again
            if milvus is not None and live_collection(client, alias) == milvus.collection:
                head = Head.read(milvus)
            else:
                milvus, head = live(client, alias)
            if not _serves(milvus, head, data):
                milvus, head = sync(client, data, alias, milvus, head)
    assert milvus is not None and head is not None
    view = _view(milvus, data, alias, head)
    view.uri = store.uri
    return dataclasses.replace(data, remote=view)


def follow(previous: IndexData, data: IndexData) -> IndexData:
    """After a re-index, serve ``data`` from the same Milvus as ``previous`` was (no-op for the local store)."""
    remote = previous.remote
    if remote is None or remote.uri is None:
        return data
    return attach(data, StoreConfig(uri=remote.uri), remote.alias)


def live(client: Any, alias: str = ALIAS) -> tuple[MilvusStore | None, Head | None]:
    """The collection behind the alias and its head row (None, None without an alias; head None if unreadable)."""
    name = live_collection(client, alias)
    if name is None:
        return None, None
    store = MilvusStore.open(client, name, index_type="FLAT")  # the head row says which
    return store, Head.read(store)


def open_view(client: Any, data: IndexData, alias: str = ALIAS) -> RemoteChunks | None:
    """The live collection as a view of ``data``'s version, or None when it serves another version (or none)."""
    store, head = live(client, alias)
    if store is None or head is None or not _serves(store, head, data):
        return None
    return _view(store, data, alias, head)


def sync(
    client: Any, data: IndexData, alias: str = ALIAS, store: MilvusStore | None = None, head: Head | None = None
) -> tuple[MilvusStore, Head]:
    """Bring the collection behind ``alias`` (``store``, whose head row is ``head``) to ``data``'s version: by
    difference when possible, else whole into a new collection."""
    index_type = "FLAT" if len(data.chunks) < FLAT_LIMIT else "HNSW"
    if store is not None and head is not None and head.index == index_type:
        new = write_changes(store, head, data)
        if new is not None:
            return store, new
    store = write_whole(client, data, collection_name(data.folder.name, alias), index_type, vocabulary(data))
    switch_alias(client, alias, store.collection)
    head = Head.read(store)
    if head is None:
        raise IndexStoreError(f"the head row of {store.collection} cannot be read back; run `assistant index` again")
    return store, head


def _serves(store: MilvusStore | None, head: Head | None, data: IndexData) -> bool:
    return store is not None and head is not None and head.version == data.folder.name and head.dim == store.dim


def _view(store: MilvusStore, data: IndexData, alias: str, head: Head) -> RemoteChunks:
    store.index_type = head.index
    lexical = store.sparse and head.full
    if not store.sparse:
        log.info("Milvus collection %s has no sparse vectors: BM25 is scored from the local index", store.collection)
    elif not lexical:
        log.info("BM25 is scored from the local index: %s was synced by difference", store.collection)
    store.vocabulary = vocabulary(data) if lexical else {}
    return RemoteChunks(store, stable_ids(data), alias, head.rows, lexical)


def live_collection(client: Any, alias: str = ALIAS) -> str | None:
    """The collection the alias points at, or None when there is no alias yet."""
    try:
        listed = alias in client.list_aliases().get("aliases", [])
    except Exception as exc:
        raise IndexStoreError(f"cannot read the Milvus aliases: {exc}") from exc
    try:
        with quiet():  # a missing alias is an error for Milvus (and some servers list none): ask, expect failure
            return str(client.describe_alias(alias)["collection_name"])
    except Exception as exc:
        if not listed:
            return None
        raise IndexStoreError(f"cannot read the Milvus alias {alias!r}: {exc}") from exc


def switch_alias(client: Any, alias: str, name: str) -> None:
    """Point ``alias`` at ``name``, then drop the other collections of this alias (old or half-built)."""
    try:
        if live_collection(client, alias) is None:
            client.create_alias(name, alias)
        else:
            client.alter_alias(name, alias)
        for other in client.list_collections():
            if other != name and other.startswith(f"{alias}_v_"):
                client.drop_collection(other)
    except IndexStoreError:
        raise
    except Exception as exc:
        raise IndexStoreError(f"cannot switch the Milvus alias {alias!r} to {name}: {exc}") from exc
