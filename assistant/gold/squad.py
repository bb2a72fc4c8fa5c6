"""SQuAD-format sets of text no one here wrote (XQuAD, CMRC 2018), turned into a corpus folder with gold spans.

``python -m assistant eval --set xquad-dev`` (or ``cmrc-trial``) builds one document per ARTICLE
(``<slug>.txt``: the title line, then the paragraphs joined by blank lines), maps every gold answer
span to exact document offsets, splits the questions by article into dev/test halves (ordered by a
hash of the title) and runs them through the pipeline, both baselines and a LangChain-style peer
(:mod:`assistant.evaluation.external_run`). The corpus and its index are cached under
``<index>/external/<set>/`` so that the model embeds each set once.

* ``xquad-dev``: XQuAD, 24 Chinese Wikipedia articles; every question is asked in Chinese and in
  English over the Chinese articles; the gold answer is the Chinese ``answers[0]`` span.
* ``cmrc-trial``: CMRC 2018 trial set, 256 Chinese passages; every distinct annotator answer is gold.
* ``cmrc-train``: the last 608 passages of the CMRC 2018 development set, for training only (every passage
  is ``dev``; figures on it are training-set figures).

The data (CC BY-SA 4.0) is read from ``--data-dir``, else ``$ASSISTANT_DATA_DIR``, else
``../shared/data`` next to the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from assistant.errors import AssistantError
from assistant.gold.questions import find_all
from assistant.types import Document, Span

REPO = Path(__file__).resolve().parents[2]
DATA_ENV = "ASSISTANT_DATA_DIR"
DEFAULT_DATA = REPO.parent / "shared" / "data"
# set name -> (Chinese file with contexts and gold answers, {question language: file with the questions})
SETS: dict[str, tuple[str, dict[str, str]]] = {
    "xquad-dev": ("xquad-dev.zh.json", {"zh": "xquad-dev.zh.json", "en": "xquad-dev.en.json"}),
    "cmrc-trial": ("cmrc2018-trial.json", {"zh": "cmrc2018-trial.json"}),
    "cmrc-train": ("cmrc2018-dev-train.json", {"zh": "cmrc2018-dev-train.json"}),
}
# sets meant for training only (the data's README): every article is ``dev``; their figures are training figures
TRAIN_ONLY = frozenset({"cmrc-train"})
PARAGRAPH_SEP = "\n\n"


class ExtQuestion(NamedTuple):
    qid: str  # "<source id>:<lang>"
    base: str  # the source question id, shared by the languages of one question
    lang: str
    question: str
    split: str
    gold: tuple[Span, ...]


class ExternalSet(NamedTuple):
    name: str
    documents: tuple[Document, ...]
    questions: tuple[ExtQuestion, ...]
    files: tuple[str, ...]
    repaired: int  # answer_start values that did not match and were located in the paragraph instead
    dropped: int  # questions with no question text, or whose answer text is not in its paragraph at all


def data_dir(option: str | os.PathLike[str] | None = None) -> Path:
    return Path(option or os.environ.get(DATA_ENV) or DEFAULT_DATA)


def read_squad(path: Path) -> list[dict[str, Any]]:
    """The ``data`` list (articles) of a SQuAD-format file, with a clear message when it is missing."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AssistantError(
            f"External evaluation data {str(path)!r} is missing; pass --data-dir or set ${DATA_ENV} "
            f"(default {DEFAULT_DATA})"
        ) from exc
    except json.JSONDecodeError as exc:
        raise AssistantError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise AssistantError(f"{path}: not SQuAD format (expected an object with a 'data' list of articles)")
    return obj["data"]


def answer_offset(context: str, text: str, start: int) -> int | None:
    """``start`` when the answer is there; else the occurrence of ``text`` nearest to it; None if absent."""
    if text and context[start : start + len(text)] == text:
        return start
    places = find_all(context, text) if text else []
    return min(places, key=lambda i: (abs(i - start), i)) if places else None


def slug(title: str, used: set[str]) -> str:
    """A plain, unique file name for an article title (letters of any script, digits, ``_`` and ``-``)."""
    base = re.sub(r"[^\w\-]+", "_", title, flags=re.UNICODE).strip("_.")[:80] or "article"
    name, n = f"{base}.txt", 2
    while name in used:
        name, n = f"{base}-{n}.txt", n + 1
    used.add(name)
    return name


def article_document(article: dict[str, Any], doc_id: str) -> tuple[Document, list[int]]:
    """The article as one document, and the document offset at which each paragraph's context starts."""
    title = str(article.get("title", "")).replace("_", " ").strip() or doc_id[:-4]
    parts, offsets, pos = [title], [], len(title)
    for para in article["paragraphs"]:
        pos += len(PARAGRAPH_SEP)
        offsets.append(pos)
        parts.append(para["context"])
        pos += len(para["context"])
    return Document(doc_id, PARAGRAPH_SEP.join(parts)), offsets


def split_by_article(titles: Sequence[str]) -> dict[str, str]:
    """Half of the articles (ordered by a SHA-1 of the title) are dev, the rest test; no randomness."""
    ordered = sorted(titles, key=lambda t: (hashlib.sha1(t.encode("utf-8")).hexdigest(), t))
    half = (len(ordered) + 1) // 2
    return {t: "dev" if i < half else "test" for i, t in enumerate(ordered)}


def build_set(name: str, sources: dict[str, list[dict[str, Any]]], gold_lang: str = "zh") -> ExternalSet:
    """Documents and questions from parsed SQuAD files: ``sources[lang]`` holds the questions in ``lang``;
    ``sources[gold_lang]`` also provides the contexts and the gold answers (matched by question id)."""
    articles = sources[gold_lang]
    splits = split_by_article([str(a.get("title", i)) for i, a in enumerate(articles)])
    if name in TRAIN_ONLY:
        splits = dict.fromkeys(splits, "dev")
    asked = {
        lang: {q["id"]: q["question"] for a in arts for p in a["paragraphs"] for q in p["qas"]}
        for lang, arts in sources.items()
    }
    documents: list[Document] = []
    questions: list[ExtQuestion] = []
    used: set[str] = set()
    repaired = dropped = 0
    for i, article in enumerate(articles):
        title = str(article.get("title", i))
        doc, offsets = article_document(article, slug(title, used))
        documents.append(doc)
        for para, offset in zip(article["paragraphs"], offsets, strict=True):
            for qa in para["qas"]:
                gold: list[Span] = []
                for ans in qa.get("answers", []):
                    at = answer_offset(para["context"], ans["text"], int(ans["answer_start"]))
                    repaired += at is not None and at != int(ans["answer_start"])
                    span = Span(doc.doc_id, offset + at, offset + at + len(ans["text"])) if at is not None else None
                    if span is not None and span not in gold:
                        gold.append(span)
                if not gold or not any(str(asked[lang].get(qa["id"]) or "").strip() for lang in sources):
                    dropped += 1
                    continue
                for lang in sources:
                    text = asked[lang].get(qa["id"])
                    if text and text.strip():
                        q = ExtQuestion(f"{qa['id']}:{lang}", qa["id"], lang, text, splits[title], tuple(gold))
                        questions.append(q)
    return ExternalSet(name, tuple(documents), tuple(questions), (), repaired, dropped)


def load_external(name: str, folder: str | os.PathLike[str] | None = None) -> ExternalSet:
    if name not in SETS:
        raise AssistantError(f"Unknown external set {name!r}; known: {', '.join(SETS)}")
    gold_file, files = SETS[name]
    root = data_dir(folder)
    sources = {lang: read_squad(root / f) for lang, f in files.items()}
    gold_lang = next(lang for lang, f in files.items() if f == gold_file)
    built = build_set(name, {gold_lang: sources[gold_lang], **sources}, gold_lang)
    return built._replace(files=tuple(str(root / f) for f in sorted(set(files.values()))))


def limit_articles(data: ExternalSet, articles: int | None) -> ExternalSet:
    """Only ``articles`` documents (in SHA-1 order of ``sample:<doc id>``, independent of the dev/test split)
    and their questions: a smaller corpus, so that a CI run on a cold cache embeds less."""
    if articles is None or articles <= 0 or articles >= len(data.documents):
        return data
    order = sorted(data.documents, key=lambda d: hashlib.sha1(f"sample:{d.doc_id}".encode()).hexdigest())
    keep = {d.doc_id for d in order[:articles]}
    documents = tuple(d for d in data.documents if d.doc_id in keep)
    questions = tuple(q for q in data.questions if q.gold[0].doc_id in keep)
    return data._replace(documents=documents, questions=questions)


def limit_questions(questions: Sequence[ExtQuestion], limit: int | None) -> list[ExtQuestion]:
    """The first ``limit`` source questions in SHA-1 order of their ids (every language of each), in the
    original order; the same ``limit`` always picks the same questions."""
    if limit is None or limit <= 0:
        return list(questions)
    bases = sorted({q.base for q in questions}, key=lambda b: hashlib.sha1(b.encode("utf-8")).hexdigest())
    keep = set(bases[:limit])
    return [q for q in questions if q.base in keep]


def write_corpus(documents: Sequence[Document], folder: Path) -> Path:
    """Write the documents as UTF-8 files (only those that changed) and remove stale ``.txt`` files, so that
    an unchanged set keeps its index fingerprint and the index is reused."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {d.doc_id for d in documents}
    for stale in folder.glob("*.txt"):
        if stale.name not in wanted:
            stale.unlink()
    for doc in documents:
        path = folder / doc.doc_id
        data = doc.text.encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            tmp = path.with_name(f".{doc.doc_id}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
    return folder
