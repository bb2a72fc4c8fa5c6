"""Which language a text is in, and what a model may read: the one place that decides either."""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")  # CJK unified ideographs (ext. A, basic, compatibility)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_chinese(text: str) -> bool:
    """True when at least 30% of the letters and digits of ``text`` are Chinese characters."""
    cjk = len(CJK.findall(text))
    return cjk > 0 and cjk >= 0.3 * sum(ch.isalnum() for ch in text)


def language(text: str) -> str:
    """ "zh" for a Chinese text (``is_chinese``), else "en": the key of every message in ``text/messages.py``."""
    return "zh" if is_chinese(text) else "en"


def is_cjk_char(ch: str) -> bool:
    return CJK.fullmatch(ch) is not None


def clean_text(text: str) -> str:
    """What models may read: no control characters, no lone surrogates."""
    text = _CONTROL.sub(" ", text)
    return text.encode("utf-8", "replace").decode("utf-8")
