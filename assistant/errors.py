"""The one error tree at the API boundary: every problem a caller can fix is an ``AssistantError``."""

from __future__ import annotations


class AssistantError(Exception):
    """Raised for every problem a caller can fix; the message says how."""


class InputError(AssistantError, ValueError):
    """A question, parameter or identifier that cannot be used as given."""


class CorpusError(AssistantError):
    """The corpus folder or one of its files cannot be used."""


class IndexStoreError(AssistantError):
    """The index folder cannot be read, written or trusted."""


class GeneratorError(AssistantError):
    """The language-model endpoint failed or answered with something unusable; ``reason`` says what.

    Reasons: ``connection``, ``timeout``, ``http_<status>``, ``rate_limited``, ``malformed``, ``truncated``,
    ``not_installed``, ``config``. The answerer catches it and falls back; only misconfiguration reaches callers.
    """

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason
