"""Command line: index, retrieve, ask, add, remove, list, eval, bench. Only this layer turns errors into messages."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from assistant.answer.options import add_llm_arguments, generator_config
from assistant.config import AnswerConfig, StoreConfig

if TYPE_CHECKING:
    from assistant.api import Assistant
    from assistant.index.shards import Runner
from assistant.errors import AssistantError


def _open(args: argparse.Namespace, rebuild: bool = False, runner: Runner | None = None) -> Assistant:
    from assistant.api import Assistant

    bot = Assistant.open(
        args.corpus,
        args.index,
        args.embedder,
        rebuild=rebuild,
        progress=not args.quiet,
        reranker=args.reranker,
        answer=AnswerConfig(reader=args.reader),
        store=StoreConfig.from_env()._replace(uri=args.store or None),
        generator=generator_config(args),
        runner=runner,
    )
    for skipped in bot.skipped:
        print(f"skipped {skipped.name}: {skipped.reason}", file=sys.stderr)
    return bot


def cmd_index(args: argparse.Namespace) -> int:
    runner = None
    if args.ray is not None:  # the 'ray' extra, imported only here (docs/performance.md)
        from assistant.index.ray_build import RayRunner

        runner = RayRunner(args.ray or None, args.workers, args.embedder)
    try:
        bot = _open(args, rebuild=args.rebuild, runner=runner)
    finally:
        if runner is not None:
            runner.close()
    counts = bot.index.manifest["counts"]
    state = "built" if bot.rebuilt else "up to date"
    print(
        f"index {state}: {len(bot.documents())} documents, {counts['chunks']} chunks, "
        f"{counts['sentences']} sentences, model {bot.embedder.name} -> {bot.index.folder}"
    )
    return 0


def _check_first(args: argparse.Namespace) -> None:
    """Refuse a bad question or k before the (possibly slow) index is opened."""
    from assistant.api import check_k, check_question

    check_question(args.question)
    check_k(args.k)


def cmd_retrieve(args: argparse.Namespace) -> int:
    _check_first(args)
    bot = _open(args)
    hits = bot.retrieve(args.question, k=args.k)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return 0
    for rank, hit in enumerate(hits, start=1):
        snippet = " ".join(hit.text.split())
        print(f"{rank}. [{hit.score:.4f}] {hit.doc_id} {hit.start}-{hit.end}\n   {snippet}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    _check_first(args)
    bot = _open(args)
    answer = bot.ask(args.question, k=args.k, min_confidence=args.min_confidence)
    if answer.fallback:  # a language model was asked but its answer is not used
        print(f"note: quoted answer shown; the language model's was not used ({answer.fallback})", file=sys.stderr)
    if args.json:
        out = answer.to_dict()
        for cited, c in zip(out["citations"], answer.citations, strict=True):
            cited["gloss"] = [g.to_dict() for g in bot.gloss(c)]  # words with pinyin and English (CC-CEDICT)
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    for c in answer.citations:
        print(f"  [{c.label}] {c.doc_id} {c.start}-{c.end}: {c.text}")
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from assistant.integrations.mcp import serve  # needs the 'mcp' extra

    return serve(lambda: _open(args), transport=args.transport, port=args.port)


def cmd_add(args: argparse.Namespace) -> int:
    from assistant.library import check_writable

    check_writable()  # before the index is opened
    bot = _open(args)
    for doc_id in bot.add(args.paths):
        print(f"added {doc_id}")
    _print_embedded(bot)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from assistant.library import check_writable

    check_writable()
    bot = _open(args)
    for name in bot.remove(args.doc_ids):
        print(f"removed {name}")
    _print_embedded(bot)
    return 0


def _print_embedded(bot: Assistant) -> None:
    done = bot.index.manifest.get("embedded", {})
    print(
        f"index: {len(bot.documents())} documents; embedded {done.get('chunks', 0)} chunks and "
        f"{done.get('sentences', 0)} sentences of {done.get('documents', 0)} new or changed documents"
    )


def cmd_list(args: argparse.Namespace) -> int:
    bot = _open(args)
    docs = bot.list_documents()
    if args.json:
        print(json.dumps([d.to_dict() for d in docs], ensure_ascii=False, indent=2))
        return 0
    for d in docs:
        title = f"  {d.title}" if d.title else ""
        print(f"{d.doc_id}\t{d.chars} chars\t{d.chunks} chunks\tindexed {d.indexed}{title}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description=__doc__)
    parser.add_argument(
        "--corpus", default="corpus", help="folder of documents (.txt .md .html .pdf .docx .jsonl; default: corpus)"
    )
    parser.add_argument("--index", default="index", help="folder for the built index (default: index)")
    parser.add_argument(
        "--embedder", default=None, help="sentence-transformers model name or path (default: bundled e5-small)"
    )
    parser.add_argument(
        "--reranker", default=None, help="optional cross-encoder name or path to rerank passages (default: none)"
    )
    parser.add_argument(
        "--store",
        default=StoreConfig.from_env().uri,
        help="serve chunk vectors and BM25 from Milvus: milvus://PATH (embedded Lite) or http(s)://HOST:PORT "
        "(token from $ASSISTANT_MILVUS_TOKEN); default $ASSISTANT_STORE, else the local FAISS index",
    )
    parser.add_argument(
        "--reader",
        action=argparse.BooleanOptionalAction,
        default=AnswerConfig().reader,
        help="choose the cited sentences with the trained reader (better first citations, ~100 ms more per "
        "question on 2 cores); --no-reader: the hand-weighted order, the fast path (default: %(default)s)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build the index if missing or out of date")
    p.add_argument("--rebuild", action="store_true", help="rebuild even if up to date")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="embed on a Ray cluster (the 'ray' extra): ADDRESS such as auto, HOST:6379 or ray://HOST:10001; "
        "alone: $RAY_ADDRESS, a running local cluster, or a new one on this machine",
    )
    p.add_argument("--workers", type=int, default=None, help="Ray workers (default: one per cluster CPU)")
    p.set_defaults(func=cmd_index)

    for name, func, helptext in (
        ("retrieve", cmd_retrieve, "show the best passages"),
        ("ask", cmd_ask, "answer with cited sentences"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("question")
        p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "ask":
            add_llm_arguments(p)
            p.add_argument(
                "--min-confidence",
                type=float,
                default=None,
                help="abstain when the answerability model's confidence is below this (0-1; docs/abstention.md)",
            )
        p.set_defaults(func=func)

    for name, module, helptext in (
        ("eval", "evaluation.runner", "run the evaluation set and write reports"),
        ("bench", "bench.run", "measure latency, memory and scale"),
        ("train", "learn.train", "rebuild the reader, sentence choice and answerability model from the data"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.set_defaults(module=module)
        _add_module_arguments(module, p)

    p = sub.add_parser("add", help="copy documents into the corpus folder and index them (only they are embedded)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=cmd_add)
    p = sub.add_parser("remove", help="delete documents (by id or file name) from the corpus folder and re-index")
    p.add_argument("doc_ids", nargs="+", metavar="DOC")
    p.set_defaults(func=cmd_remove)
    p = sub.add_parser("list", help="the indexed documents: id, characters, chunks, when indexed, title")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("mcp", help="serve the retrieve/ask tools and the documents to MCP clients")
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default stdio")
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 for --transport http (default 8765)")
    p.set_defaults(func=cmd_mcp)
    return parser


def _add_module_arguments(module: str, parser: argparse.ArgumentParser) -> None:
    import importlib

    try:
        mod = importlib.import_module(f"assistant.{module}")
    except ImportError:
        return
    mod.add_arguments(parser)
    parser.set_defaults(func=mod.run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.error(f"'{args.command}' is not available in this installation")
    try:
        return int(args.func(args) or 0)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
