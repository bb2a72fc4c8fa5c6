"""Command-line options for the optional language model (``ask`` and ``eval``); see docs/generation.md."""

from __future__ import annotations

import argparse

from assistant.config import GeneratorConfig
from assistant.errors import InputError


def add_llm_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("generated answers (optional; docs/generation.md)")
    group.add_argument("--llm", metavar="URL", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1")
    group.add_argument("--model", metavar="NAME", help="model name at --llm, e.g. qwen2.5:7b")
    group.add_argument("--api-key-env", metavar="VAR", help="NAME of the environment variable holding the API key")
    group.add_argument("--llm-timeout", type=float, default=30.0, metavar="S", help="seconds per call (default 30)")


def generator_config(args: argparse.Namespace) -> GeneratorConfig | None:
    """The ``GeneratorConfig`` the options ask for; None without ``--llm`` (the extractive default)."""
    url = getattr(args, "llm", None)
    if not url:
        if getattr(args, "model", None):
            raise InputError("--model needs --llm URL (the OpenAI-compatible server that runs it).")
        return None
    if not getattr(args, "model", None):
        raise InputError("--llm needs --model NAME (the model to ask at that server).")
    timeout = getattr(args, "llm_timeout", None) or 30.0
    return GeneratorConfig(url, args.model, getattr(args, "api_key_env", None) or None, timeout=timeout)
