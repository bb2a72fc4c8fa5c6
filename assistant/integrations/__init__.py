"""Adapters for LangChain, LlamaIndex and MCP; each lives in its own module and needs its own extra.

Nothing here imports those frameworks: ``import assistant.integrations.langchain`` (and so on) does.
"""

from __future__ import annotations

from assistant.errors import AssistantError


class MissingExtraError(AssistantError, ImportError):
    """An integration was used without its optional dependencies installed."""


def missing_extra(extra: str, exc: ImportError) -> MissingExtraError:
    """The error to raise when the ``extra`` dependencies cannot be imported."""
    return MissingExtraError(f"{exc}; install the '{extra}' extra: pip install 'assistant[{extra}]'")


__all__ = ["MissingExtraError", "missing_extra"]
