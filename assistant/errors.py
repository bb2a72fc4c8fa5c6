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
