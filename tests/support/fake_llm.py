"""A scripted OpenAI-compatible server for tests: ``POST /v1/chat/completions`` on 127.0.0.1, port 0.

No model runs: each request takes the next scripted ``Reply`` (or, when none is queued, the default
responder's) and answers with plain JSON or, when the request asks for ``stream``, server-sent events.
Replies can be slow, fail with any status (and Retry-After), send a malformed body or cut a stream short.
Every request body is recorded, so tests can read the prompt the client sent. ``FakeLLM(slots=1)`` works
like a single-slot local server (llama.cpp): one reply is written at a time, and a reply keeps its slot
until it has been written or the client has gone away (``served`` records which of the two happened).
Each reply shape a real model produced is a scripted ``Reply`` in tests/unit/test_llm_replies.py.

    with FakeLLM() as llm:
        llm.script(Reply(status=429, retry_after="0"), Reply("D3OS is a platform [1]."))
        ...  # point GeneratorConfig(base_url=llm.url, model="fake") at it
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from assistant.text.lang import is_chinese

MODEL = "fake-llm"


@dataclass
class Reply:
    text: str = ""
    status: int = 200
    delay: float = 0.0  # seconds before the response starts
    retry_after: str | None = None  # Retry-After header value
    body: str | None = None  # raw body instead of a completion (malformed JSON, an error object…)
    truncate_after: int | None = None  # stream: stop after this many deltas, without finish or [DONE]
    chunk_chars: int = 6  # stream: characters per delta
    chunk_delay: float = 0.0  # stream: seconds between deltas
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)


def question_of(request: dict[str, Any]) -> str:
    """The question in the prompt our client sends (its last line)."""
    content = request["messages"][-1]["content"]
    last = content.strip().splitlines()[-1]
    return re.sub(r"^(Question:|问题：)\s*", "", last)


def cite_first(request: dict[str, Any]) -> Reply:
    """Default responder: a one-sentence answer in the question's language citing source [1]."""
    if is_chinese(question_of(request)):
        return Reply("文章回答了这个问题[1]。")
    return Reply("The article answers this [1].")


@dataclass
class Served:
    """How one reply went: the deltas written, and whether the client closed the connection before the end."""

    deltas: int = 0
    disconnected: bool = False
    seconds: float = 0.0


class FakeLLM:
    """The server, run in a daemon thread; use as a context manager or call ``close``."""

    def __init__(self, responder: Callable[[dict[str, Any]], Reply] = cite_first, slots: int | None = None) -> None:
        self.responder = responder
        self.queue: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.served: list[Served] = []
        self.slots = threading.Semaphore(slots) if slots else None
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-llm", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def script(self, *replies: Reply) -> FakeLLM:
        with self._lock:
            self.queue.extend(replies)
        return self

    def reset(self) -> None:
        """Forget the scripted replies and the requests seen (between tests sharing one server)."""
        with self._lock:
            self.queue.clear()
            self.requests.clear()

    def next_reply(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.queue:
                return self.queue.pop(0)
        return self.responder(request)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _completion(text: str, finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(delta: dict[str, Any], finish: str | None) -> bytes:
    obj = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode()


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes: a cut stream is just cut

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
            return

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, json.dumps({"error": {"message": "not found", "type": "invalid_request_error"}}))
                return
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            reply = fake.next_reply(request)
            if fake.slots is not None:
                fake.slots.acquire()  # a busy single-slot server: the next request waits for this one
            served = Served()
            started = time.monotonic()
            try:
                self._reply(request, reply, served)
            finally:
                served.seconds = time.monotonic() - started
                with fake._lock:
                    fake.served.append(served)
                if fake.slots is not None:
                    fake.slots.release()

        def _reply(self, request: dict[str, Any], reply: Reply, served: Served) -> None:
            time.sleep(reply.delay)
            try:
                if reply.status != 200:
                    message = {"error": {"message": f"scripted {reply.status}", "type": "server_error"}}
                    self._send(reply.status, reply.body or json.dumps(message), reply)
                elif reply.body is not None:
                    self._send(200, reply.body, reply)
                elif request.get("stream"):
                    self._stream(reply, served)
                else:
                    self._send(200, json.dumps(_completion(reply.text, reply.finish_reason), ensure_ascii=False))
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): the slot is free
                served.disconnected = True

        def _send(self, status: int, body: str, reply: Reply | None = None) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if reply is not None and reply.retry_after is not None:
                self.send_header("Retry-After", reply.retry_after)
            for name, value in (reply.headers if reply else {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, reply: Reply, served: Served) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(_chunk({"role": "assistant", "content": ""}, None))
            pieces = [reply.text[i : i + reply.chunk_chars] for i in range(0, len(reply.text), reply.chunk_chars)]
            for n, piece in enumerate(pieces):
                if reply.truncate_after is not None and n >= reply.truncate_after:
                    self.wfile.flush()
                    return  # connection closes: no finish_reason, no [DONE]
                self.wfile.write(_chunk({"content": piece}, None))
                self.wfile.flush()
                served.deltas += 1
                time.sleep(reply.chunk_delay)
            if reply.truncate_after is not None:
                return
            self.wfile.write(_chunk({}, reply.finish_reason))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler
