"""The real Milvus server the tests use: ``assistant.bench.milvus_server`` (shared with the sync benchmark)."""

from assistant.bench.milvus_server import MilvusServer, empty, free_port

__all__ = ["MilvusServer", "empty", "free_port"]
