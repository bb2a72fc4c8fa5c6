"""Every sentence the assistant says to a user, in English and Chinese, in one place.

Answers are written in the question's language (``assistant.text.lang.is_chinese``); the chat shows the
answer text exactly as the library made it, so these strings exist once.
"""

from __future__ import annotations

ABSTAIN = {"en": "The article does not answer this question.", "zh": "文中没有回答这个问题。"}
NEVER_MENTIONS = {"en": " (It never mentions “{}”.)", "zh": "（文中没有提到“{}”。）"}
TRUNCATED = {"en": " (The question was too long; only its start was used.)", "zh": "（问题过长，只使用了开头部分。）"}
QUOTE_PREFIX = {"en": "From the article: ", "zh": ""}

# the chat page
NO_SOURCE = "No source is cited."
WRITING = "Writing the answer…"
SOURCES_EMPTY = "Ask a question: the sources of the latest answer appear here, each cited span highlighted."
INTERNAL_ERROR = "The assistant hit an internal error; the details are in the server log. Please try again."


def abstain(lang: str, missing: str | None = None) -> str:
    """The abstention sentence, naming what the documents never mention when that is the reason."""
    return ABSTAIN[lang] + (NEVER_MENTIONS[lang].format(missing) if missing else "")


def with_truncation_note(text: str, truncated: bool, lang: str) -> str:
    return text + TRUNCATED[lang] if truncated else text
