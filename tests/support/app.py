"""Shared by the UI tests: a temporary corpus with a hostile test document, and the app as a subprocess.

The app is started once per test session (``shared_app``) with the real bundled model, on a free
port of 127.0.0.1, and stopped when the session ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = ROOT / "corpus" / "qingdao_ai_plus.txt"
ARTIFACTS = ROOT / "eval" / "reports" / "artifacts"
INJECTED_NAME = "unsafe_markup_note.txt"
SCRIPT_TAG = "<script>window.__pwned=1</script>"
IMG_TAG = '<img src=x onerror="window.__pwned=2">'
INJECTED_QUESTION = "What is the Harbor Lantern robot?"
INJECTED_TEXT = (
    "Test note on unsafe markup.\n\n"
    f"The Harbor Lantern robot is a harbour inspection robot, and its test log contains {SCRIPT_TAG} as plain text. "
    f"The Harbor Lantern robot manual also shows {IMG_TAG} as an example of markup that must not run.\n"
)
READY_PREFIX = "Ready in "


@dataclass
class AppServer:
    url: str
    corpus: Path
    index: Path
    log: Path
    startup_seconds: float
    process: subprocess.Popen[bytes]

    def document(self, doc_id: str) -> str:
        """A corpus file's text exactly as on disk (the offsets of every citation refer to it)."""
        return (self.corpus / doc_id).read_bytes().decode("utf-8")

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])


def make_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    shutil.copy(ARTICLE.parent / "assistant.toml", folder / "assistant.toml")  # the page's title and examples
    (folder / INJECTED_NAME).write_text(INJECTED_TEXT, encoding="utf-8")
    return folder


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_app(
    base: Path,
    corpus: Path | None = None,
    index: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600.0,
) -> AppServer:
    """Run ``python app.py`` on a temporary (or given) corpus and index; return once it prints its URL."""
    base.mkdir(parents=True, exist_ok=True)
    corpus = corpus or make_corpus(base / "corpus")
    index = index or base / "index"
    log = base / "app.log"
    port = free_port()
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_AUTH"}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    env.update(extra)
    cmd = [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--corpus", str(corpus), "--index", str(index)]
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = AppServer(f"http://127.0.0.1:{port}/", corpus, index, log, 0.0, proc)
    while time.perf_counter() - started < timeout:
        if READY_PREFIX in server.log_text():
            server.startup_seconds = time.perf_counter() - started
            return server
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{server.log_text()[-3000:]}")
        time.sleep(0.2)
    stop_app(server)
    raise RuntimeError(f"app.py was not ready after {timeout:.0f}s:\n{server.log_text()[-3000:]}")


def stop_app(server: AppServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=20)


_SHARED: dict[str, AppServer] = {}


def shared_app(config: pytest.Config, factory: pytest.TempPathFactory) -> AppServer:
    """One app per test session for every UI test module; stopped at the end of the session."""
    if "app" not in _SHARED:
        server = start_app(factory.mktemp("ui_app"))
        _SHARED["app"] = server
        config.add_cleanup(lambda: stop_app(_SHARED.pop("app")))
    server = _SHARED["app"]
    assert server.process.poll() is None, f"the app stopped:\n{server.log_text()[-3000:]}"
    return server
