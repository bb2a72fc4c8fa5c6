"""A real Milvus server for tests and benchmarks: the standalone server that the PyPI package ``milvus`` (2.3.5,
in the ``test`` extra) ships. Never used by the assistant itself.

``start(folder)`` unpacks and starts ``milvus run standalone`` with its data, logs and configuration in
``folder``, on a free 127.0.0.1 port, and returns once its health check answers; ``stop()`` calls the package's
own stop, then makes sure the server process (by its PID, never by name) is gone. ``python -m
assistant.bench.milvus_server FOLDER`` serves one until interrupted (for trying things by hand).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

STOP_WAIT = 15.0  # seconds for a clean shutdown before SIGKILL


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process reuses the number
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class MilvusServer:
    """One standalone Milvus server process in its own folder."""

    def __init__(self, folder: Path) -> None:
        from milvus import MilvusServer as Packaged  # type: ignore[import-untyped]  # the `milvus` package

        self.folder = folder
        self.server: Any = Packaged()
        self.pid: int | None = None
        self.port = 0

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> str:
        """Start the server; raise RuntimeError with the end of its log when it exits or does not answer."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.server.set_base_dir(str(self.folder))
        config = self.server.config
        # the package binds the embedded etcd's peer port to 2380 whatever it is told: a second server on the
        # machine then dies at start. An etcd configuration file gives every port a free number.
        self.port, etcd, peer = free_port(), free_port(), free_port()
        config.update(proxy_port=self.port, etcd_port=etcd)
        etcd_file = self.folder / "etcd.yaml"
        local = "http://127.0.0.1"
        etcd_file.write_text(
            f"name: default\nlisten-client-urls: {local}:{etcd}\nadvertise-client-urls: {local}:{etcd}\n"
            f"listen-peer-urls: {local}:{peer}\ninitial-advertise-peer-urls: {local}:{peer}\n"
            f"initial-cluster: default={local}:{peer}\n",
            encoding="utf-8",
        )
        marker = "  use:\n    embed: true"
        if marker not in config.template_text:
            raise RuntimeError("the milvus package's configuration template changed: pin milvus==2.3.5")
        config.template_text = config.template_text.replace(marker, f"  config:\n    path: {etcd_file}\n{marker}", 1)
        self.server.wait_for_started = False
        self.server.start()
        proc = self.server.server_proc
        self.pid = int(proc.pid)
        health = f"http://127.0.0.1:{self.server.webservice_port}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"the Milvus server exited at start (code {proc.returncode}): {self._log_tail()}")
            try:
                with urllib.request.urlopen(health, timeout=5) as answer:
                    if b"OK" in answer.read():
                        return self.uri
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the Milvus server did not answer within {timeout:.0f} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return (self.folder / "logs" / "milvus-stdout.log").read_text(errors="replace")[-1500:]
        except OSError:
            return "(no log)"

    def version(self) -> str:
        from pymilvus import MilvusClient  # type: ignore[import-untyped]

        client = MilvusClient(uri=self.uri, timeout=30)
        try:
            return str(client.get_server_version())
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM and a wait for a clean exit, then the package's stop; SIGKILL by PID if it is still there."""
        pid, proc = self.pid, self.server.server_proc
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_WAIT)
            except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: the package's stop kills it
                pass
        self.server.stop()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        if pid is not None and _alive(pid):
            raise RuntimeError(f"the Milvus server (PID {pid}) did not stop")
        self.pid = None


def empty(uri: str) -> None:
    """Drop every alias and collection of the server's default database (tests share one server)."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, timeout=30)
    try:
        for name in client.list_collections():
            for alias in client.list_aliases(collection_name=name).get("aliases", []):
                client.drop_alias(alias)
            client.drop_collection(name)
    finally:
        client.close()


if __name__ == "__main__":
    server = MilvusServer(Path(sys.argv[1]))
    print("serving", server.start(), "PID", server.pid, server.version(), flush=True)
    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            time.sleep(1)
    finally:
        server.stop()
        print("stopped", flush=True)
