"""The loader interface: one small class per file format, registered by suffix.

A loader turns the bytes of one file into one or more ``Document``s whose ``text`` is what the index
stores and every citation offset refers to. Heavy parsers are optional extras, imported inside
``load`` so that the default path never pays for them; a missing extra raises ``MissingExtraError``,
which the corpus scan reports as a named skip.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from assistant.errors import CorpusError
from assistant.types import Document


class MissingExtraError(CorpusError):
    """A format's parser is an optional extra that is not installed; the message names it."""


class Loader(ABC):
    """Reads one file format. Subclasses set ``suffixes`` and implement ``load``."""

    suffixes: tuple[str, ...] = ()
    extra: str | None = None  # the pip extra that brings this format's parser, if any

    @abstractmethod
    def load(self, name: str, data: bytes) -> list[Document]:
        """Documents from the file ``name`` with content ``data``; raise ``CorpusError`` saying why not."""

    def load_with_skips(self, name: str, data: bytes) -> tuple[list[Document], list[tuple[str, str]]]:
        """The documents, plus ``(part, reason)`` for parts of the file that were left out (a dump's bad lines)."""
        return self.load(name, data), []

    def missing(self, name: str, module: str) -> MissingExtraError:
        """The error for a parser module that is not installed: names the extra and the command that adds it."""
        return MissingExtraError(
            f"{name}: needs the {self.extra!r} extra ({module} is not installed): pip install 'assistant[{self.extra}]'"
        )


_REGISTRY: dict[str, Loader] = {}


def register(loader: Loader) -> Loader:
    """Make ``loader`` the reader of its suffixes (a later registration replaces an earlier one)."""
    for suffix in loader.suffixes:
        _REGISTRY[suffix.lower()] = loader
    return loader


def loader_for(name: str) -> Loader | None:
    """The loader registered for the file name's suffix, or None."""
    dot = name.rfind(".")
    return _REGISTRY.get(name[dot:].lower()) if dot > 0 else None


def supported_suffixes() -> tuple[str, ...]:
    return tuple(_REGISTRY)  # in registration order
