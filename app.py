"""Start the chat app: open the assistant once, build the page, serve it.

python app.py [--host 127.0.0.1] [--port 7860] [--corpus corpus] [--index index]
Set ASSISTANT_AUTH="user:password" to require a login.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls home


def port_number(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from assistant.config import AnswerConfig

    parser = argparse.ArgumentParser(description="Chat with the Qingdao AI+ article assistant in a browser.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 = all)")
    parser.add_argument("--port", type=port_number, default=7860, help="port to listen on (default 7860)")
    parser.add_argument(
        "--corpus", default="corpus", help="folder of documents (.txt .md .html .pdf .docx .jsonl; default: corpus)"
    )
    parser.add_argument("--index", default="index", help="folder for the built index (default: index)")
    parser.add_argument("--concurrency", type=int, default=2, help="requests worked on at once; the rest queue")
    parser.add_argument(
        "--store",
        default=os.environ.get("ASSISTANT_STORE") or None,
        help="milvus://PATH or http(s)://HOST:PORT to serve the vectors from Milvus (default: local FAISS)",
    )
    reader_env = os.environ.get("ASSISTANT_READER", "")
    parser.add_argument(
        "--reader",
        action=argparse.BooleanOptionalAction,
        default=reader_env == "1" if reader_env in ("0", "1") else AnswerConfig().reader,
        help="choose cited sentences with the trained reader (better first citations, ~100 ms more per "
        "question); --no-reader: the fast path (default: %(default)s; $ASSISTANT_READER=0/1)",
    )
    env = os.environ.get  # optional LLM answers (docs/generation.md); the environment gives the defaults
    parser.add_argument("--llm", default=env("ASSISTANT_LLM_URL") or None, help="OpenAI-compatible base URL")
    parser.add_argument("--model", default=env("ASSISTANT_LLM_MODEL") or None, help="model name for --llm")
    parser.add_argument(
        "--api-key-env", default=env("ASSISTANT_LLM_KEY_ENV") or None, help="NAME of the variable holding the API key"
    )
    return parser.parse_args(argv)


def read_auth(value: str | None) -> tuple[str, str] | None:
    """``ASSISTANT_AUTH="user:password"`` -> ("user", "password"); unset or empty -> no login."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise SystemExit('error: ASSISTANT_AUTH must look like "user:password"')
    return user, password


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, checked before the slow start-up; None when it can."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except (OSError, OverflowError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    auth = read_auth(os.environ.get("ASSISTANT_AUTH"))
    problem = port_problem(args.host, args.port)
    if problem:
        print(
            f"error: cannot listen on {args.host}:{args.port} ({problem}); choose another --port or --host",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()

    from assistant import Assistant, AssistantError
    from assistant.config import AnswerConfig, GeneratorConfig, StoreConfig
    from assistant.ui.library import read_settings

    generator = GeneratorConfig(args.llm, args.model or "", args.api_key_env) if args.llm else None
    try:
        settings = read_settings(args.corpus)  # the page's title and examples: a malformed file stops us here
        store = StoreConfig.from_env()._replace(uri=args.store)
        answer = AnswerConfig(reader=args.reader)
        bot = Assistant.open(args.corpus, args.index, progress=True, store=store, generator=generator, answer=answer)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for skipped in bot.skipped:
        print(f"skipped {skipped.name}: {skipped.reason}", file=sys.stderr)
    bot.ask("warm-up question", k=1)  # loads the model's lazy parts now, not during the first user's question

    from assistant.ui.chat import build, launch_options

    demo = build(bot, settings=settings)
    demo.queue(default_concurrency_limit=max(1, args.concurrency), max_size=64)
    try:
        demo.launch(
            server_name=args.host,
            server_port=args.port,
            auth=auth,
            prevent_thread_lock=True,
            quiet=True,
            show_error=False,
            ssr_mode=False,
            inbrowser=False,
            **launch_options(),
        )
    except OSError as exc:  # taken between the check and now
        print(
            f"error: cannot listen on {args.host}:{args.port} ({exc}); choose another --port or --host", file=sys.stderr
        )
        return 2
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    state = "built" if bot.rebuilt else "loaded"
    count = len(bot.documents())
    print(
        f"Ready in {time.perf_counter() - started:.1f}s (index {state}, {count} document{'s' * (count != 1)}): "
        f"http://{shown_host}:{args.port}/",
        flush=True,
    )
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
