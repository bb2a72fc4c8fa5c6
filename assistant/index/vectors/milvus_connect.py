"""Connecting to Milvus: ``milvus://PATH`` starts embedded Milvus Lite in this process (one per folder),
``http(s)://HOST:PORT`` talks to a server with the token from ``$ASSISTANT_MILVUS_TOKEN`` (never stored).
pymilvus is imported on first use, so the default (FAISS) path never loads it.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import Any

from assistant.errors import IndexStoreError

TOKEN_ENV = "ASSISTANT_MILVUS_TOKEN"
EXTRA_HINT = "install it with: pip install 'assistant[milvus]'"
_LITE: dict[str, tuple[Any, Any, int]] = {}  # absolute Lite folder -> (gRPC server, database, port)
_LITE_GUARD = threading.Lock()


def pymilvus() -> Any:
    try:
        import pymilvus  # type: ignore[import-untyped]
    except ImportError as exc:
        raise IndexStoreError(f"the Milvus store needs pymilvus and milvus-lite; {EXTRA_HINT}") from exc
    return pymilvus


def connect(uri: str) -> Any:
    """A ``MilvusClient`` for ``milvus://PATH`` (embedded Lite, started once per process) or ``http(s)://``."""
    client_module = pymilvus()
    if uri.startswith(("http://", "https://")):
        token = os.environ.get(TOKEN_ENV, "")
        try:
            return client_module.MilvusClient(uri=uri, token=token, timeout=30)
        except Exception as exc:
            raise IndexStoreError(f"cannot reach the Milvus server at {uri}: {exc}") from exc
    if not uri.startswith("milvus://") or not uri[len("milvus://") :].strip():
        raise IndexStoreError(f"store URI {uri!r} is not milvus://PATH (Milvus Lite) or http(s)://HOST:PORT")
    return client_module.MilvusClient(uri=f"http://127.0.0.1:{_lite_port(Path(uri[len('milvus://') :]))}")


# pymilvus pings every 10 s, even between calls; a gRPC server refuses that by default and, after two such pings,
# closes the connection ("too_many_pings"): an idle minute breaks the next call. Lite's server allows them here.
PINGS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ("grpc.http2.max_ping_strikes", 0),
]


def _start_lite(data_dir: str) -> tuple[Any, Any, int]:
    """Milvus Lite's gRPC server in this process (as ``start_server_in_thread``, with pings allowed)."""
    from concurrent import futures

    import grpc  # type: ignore[import-untyped]
    from milvus_lite.adapter.grpc import server as lite  # type: ignore[import-untyped]

    db = lite.MilvusLite(data_dir)
    size = lite._MAX_MESSAGE_SIZE
    options = [("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size), *PINGS]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=lite.DEFAULT_MAX_WORKERS), options=options)
    lite.milvus_pb2_grpc.add_MilvusServiceServicer_to_server(lite.MilvusServicer(db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, db, int(port)


def _lite_port(path: Path) -> int:
    try:
        from milvus_lite.exceptions import DataDirLockedError  # type: ignore[import-untyped]
    except ImportError as exc:
        raise IndexStoreError(f"milvus:// needs milvus-lite; {EXTRA_HINT}") from exc
    key = str(path.resolve())
    with _LITE_GUARD:
        if key not in _LITE:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                _LITE[key] = _start_lite(key)
            except DataDirLockedError as exc:
                raise IndexStoreError(
                    f"another process has the Milvus Lite database {path} open (Lite allows one process per "
                    "folder): stop it, or serve the folder with `milvus-lite server --data-dir PATH --host "
                    "127.0.0.1` and use --store http://127.0.0.1:19530"
                ) from exc
        return int(_LITE[key][2])


def close_lite(path: Path | None = None) -> None:
    """Stop the embedded Lite server(s) of this process and release their folder locks."""
    with _LITE_GUARD:
        keys = [str(path.resolve())] if path is not None else list(_LITE)
        entries = [_LITE.pop(k) for k in keys if k in _LITE]
    for server, db, _ in entries:
        server.stop(grace=1)
        db.close()


atexit.register(close_lite)
