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


CLOSEST = {
    "en": "The documents may not answer this. The closest they come is: {}",
    "zh": "文档可能没有回答这个问题。最接近的内容是：{}",
}
# an answer the answerability model is unsure of (below AbstentionConfig.hedge_below): said as such
HEDGED = {"en": "The closest the documents come is: {}", "zh": "文档中最接近的内容是：{}"}


def closest(lang: str, quote: str) -> str:
    """A low-confidence abstention that still shows the closest cited sentences."""
    return CLOSEST[lang].format(quote)


def hedged(lang: str, quote: str) -> str:
    """A low-confidence answer: the cited sentences, worded as the closest the documents come."""
    return HEDGED[lang].format(quote)


def abstain(lang: str, missing: str | None = None) -> str:
    """The abstention sentence, naming what the documents never mention when that is the reason."""
    return ABSTAIN[lang] + (NEVER_MENTIONS[lang].format(missing) if missing else "")


def with_truncation_note(text: str, truncated: bool, lang: str) -> str:
    return text + TRUNCATED[lang] if truncated else text


# generated answers (docs/generation.md): why the chat shows the quoted answer instead of the model's
GENERATOR_REASONS = {
    "timeout": "the language model did not answer in time",
    "connection": "the language model server could not be reached",
    "rate_limited": "the language model server is busy (rate limited)",
    "wrong_language": "the generated answer was not in the question's language",
    "no_valid_citation": "the generated answer cited no source",
    "unsupported_claim": "a number or name in the generated answer is not in the sentence it cites",
    "model_declined": "the language model found no answer in the sources, but this passage is a confident match",
    "malformed": "the language model's reply was malformed",
    "truncated": "the language model's reply was cut off",
}
GENERATING = "Writing a generated answer…"


def generator_note(reason: str) -> str:
    """The short note shown under the quoted answer when the generated one is not used."""
    why = GENERATOR_REASONS.get(reason)
    if why is None:
        why = "the language model server returned an error" if reason.startswith("http_") else "the model failed"
    return f"(Showing the quoted answer: {why}.)"


# the document library on the chat page (assistant/ui/library.py)
GENERIC_TITLE = "Ask your documents"
GENERIC_DESCRIPTION = (
    "Ask in English or Chinese. Answers quote the documents; each marker like **[1]** "
    "links to its highlighted source on the right."
)
GENERIC_EXAMPLE = {"en": "What is “{}” about?", "zh": "《{}》讲了什么？"}
PLACEHOLDER = "Type a question about the documents, e.g. {}"
PLACEHOLDER_NONE = "Type a question about the documents"
DOCUMENTS_EMPTY = "No documents are indexed."
FILTER_INFO = "Leave empty to search every document."
UPLOAD_LABEL = "Add documents ({}): drop files here or click"
ADDING = "Adding {} and indexing the new text… (large files take a while)"
ADDED = "Added {}."
NOT_ADDED = "Nothing was added: {}"
CHOOSE_TO_REMOVE = "Choose the documents to remove first."
REMOVED = "Removed {}."
NOT_REMOVED = "Nothing was removed: {}"
READONLY = "The document library is read-only here ({}=1): documents cannot be added or removed."
