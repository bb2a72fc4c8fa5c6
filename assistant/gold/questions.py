"""Gold question sets: the JSONL format of ``eval/`` (questions and conversations), loaded and validated.

Every gold evidence string must occur exactly (and, unless its document is named, uniquely) in the corpus;
``load_set`` turns it into spans. The format is described in ``eval/README.md``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from assistant.errors import AssistantError
from assistant.types import Document, Span

SPLITS = ("dev", "test")
RETRIEVE_K = 10  # passages scored for Recall@1/3/5, MRR@10 and nDCG@10
Record = dict[str, Any]


class EvalQuestion(NamedTuple):
    qid: str
    lang: str
    question: str
    answerable: bool
    split: str
    topic: str
    gold: tuple[Span, ...]


class EvalConversation(NamedTuple):
    cid: str
    lang: str
    split: str
    turns: tuple[EvalQuestion, ...]


class EvalSet(NamedTuple):
    questions: tuple[EvalQuestion, ...]
    conversations: tuple[EvalConversation, ...]
    files: tuple[str, ...]


# ---------------------------------------------------------------- loading and validation


def locate(evidence: str, doc_id: str | None, texts: dict[str, str], qid: str) -> Span:
    """The one place where ``evidence`` occurs; raise AssistantError naming ``qid`` otherwise."""
    if not isinstance(evidence, str) or not evidence.strip():
        raise AssistantError(f"{qid}: every evidence item must be a non-empty string, not {evidence!r}")
    if doc_id is not None and doc_id not in texts:
        raise AssistantError(f"{qid}: doc_id {doc_id!r} is not in the corpus (known: {', '.join(sorted(texts))})")
    places = [(d, i) for d in ([doc_id] if doc_id else sorted(texts)) for i in find_all(texts[d], evidence)]
    where = doc_id or "the corpus"
    if not places:
        raise AssistantError(f"{qid}: evidence {evidence!r} is not found in {where}; copy it exactly from the text")
    if len(places) > 1:
        raise AssistantError(
            f"{qid}: evidence {evidence!r} occurs {len(places)} times in {where}, not exactly once; "
            "extend it with neighbouring text until it is unique"
        )
    doc, start = places[0]
    return Span(doc, start, start + len(evidence))


def find_all(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


def _question(obj: dict[str, Any], qid: str, lang: str, split: str, texts: dict[str, str]) -> EvalQuestion:
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise AssistantError(f"{qid}: 'question' must be non-empty text")
    evidence = obj.get("evidence", [])
    if not isinstance(evidence, list):
        raise AssistantError(f"{qid}: 'evidence' must be a list of strings")
    answerable = obj.get("answerable", True)
    if not isinstance(answerable, bool):
        raise AssistantError(f"{qid}: 'answerable' must be true or false")
    if answerable and not evidence:
        raise AssistantError(f"{qid}: an answerable question needs at least one evidence string")
    if not answerable and evidence:
        raise AssistantError(f"{qid}: an unanswerable question must have evidence []")
    doc_id = obj.get("doc_id")
    gold = tuple(locate(e, doc_id if answerable else None, texts, qid) for e in evidence)
    return EvalQuestion(qid, lang, question, answerable, split, str(obj.get("topic", "")), gold)


def _common(obj: object, where: str, seen: set[str]) -> tuple[dict[str, Any], str, str, str]:
    if not isinstance(obj, dict):
        raise AssistantError(f"{where}: each line must be a JSON object")
    qid = obj.get("id")
    if not isinstance(qid, str) or not qid:
        raise AssistantError(f"{where}: missing string 'id'")
    if qid in seen:
        raise AssistantError(f"{qid}: duplicate id ({where}); ids must be unique across the set")
    seen.add(qid)
    lang, split = obj.get("lang"), obj.get("split")
    if not isinstance(lang, str) or not lang:
        raise AssistantError(f"{qid}: missing 'lang' (for example 'en' or 'zh')")
    if split not in SPLITS:
        raise AssistantError(f"{qid}: 'split' must be 'dev' or 'test', not {split!r}")
    return obj, qid, lang, split


def set_files(path: str | Path) -> list[Path]:
    root = Path(path)
    if root.is_dir():
        files = [root / n for n in ("questions.jsonl", "conversations.jsonl") if (root / n).is_file()]
        if not files:
            raise AssistantError(f"{str(root)!r} has neither questions.jsonl nor conversations.jsonl")
        return files
    if not root.is_file():
        raise AssistantError(f"Evaluation set {str(root)!r} does not exist; give a folder or a .jsonl file")
    return [root]


def load_set(path: str | Path, documents: Sequence[Document], split: str = "all") -> EvalSet:
    """Read and check a set (a folder with questions/conversations.jsonl, or one .jsonl file)."""
    texts = {d.doc_id: d.text for d in documents}
    questions: list[EvalQuestion] = []
    conversations: list[EvalConversation] = []
    seen: set[str] = set()
    files = set_files(path)
    for file in files:
        for lineno, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{file}:{lineno}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AssistantError(f"{where}: not valid JSON ({exc.msg})") from exc
            obj, qid, lang, sp = _common(raw, where, seen)
            if "turns" not in obj:
                questions.append(_question(obj, qid, lang, sp, texts))
                continue
            turns = obj["turns"]
            if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) for t in turns):
                raise AssistantError(f"{qid}: 'turns' must be a non-empty list of objects")
            conv_turns = tuple(
                _question({"doc_id": obj.get("doc_id"), **t}, f"{qid}#{n}", lang, sp, texts)
                for n, t in enumerate(turns, start=1)
            )
            conversations.append(EvalConversation(qid, lang, sp, conv_turns))
    if split != "all":
        questions = [q for q in questions if q.split == split]
        conversations = [c for c in conversations if c.split == split]
    if not questions and not conversations:
        raise AssistantError(f"The evaluation set {str(path)!r} has no questions for split {split!r}")
    return EvalSet(tuple(questions), tuple(conversations), tuple(str(f) for f in files))
