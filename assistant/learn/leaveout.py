"""Leave-out corpora: SQuAD-format sets with some paragraphs removed, so that their questions are unanswerable.

Every paragraph of a set is assigned to one of ``FOLDS`` folds (by its position and a hash of the article
title). Corpus ``f`` holds every article (one document each, as in :mod:`assistant.gold.squad`) without the
paragraphs of fold ``f``: the questions on those become unanswerable, all others stay answerable with their
gold span. XQuAD articles have several paragraphs (leave-paragraph-out: the rest of the article stays, an
on-topic unanswerable question); a CMRC passage is a document of its own (leave-passage-out: the document
goes). XQuAD questions are asked in Chinese and in English (over the Chinese articles), CMRC's in Chinese.

Rows are ``fit`` (the ``dev`` articles of the set's split, and every CMRC training passage) or ``heldout``
(its ``test`` articles: reported, never fitted on).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, NamedTuple

from assistant.gold.squad import (
    PARAGRAPH_SEP,
    SETS,
    TRAIN_ONLY,
    answer_offset,
    data_dir,
    read_squad,
    slug,
    split_by_article,
)

FOLDS = 4


class LeaveOutSet(NamedTuple):
    name: str
    files: dict[str, Path]  # file name -> path
    articles: list[dict[str, Any]]  # the articles with the contexts and gold answers
    asked: dict[str, dict[str, str]]  # question language -> question id -> text


def fold_of(title: str, position: int) -> int:
    """The fold a paragraph is left out in: consecutive paragraphs of an article go to different folds."""
    return (position + int(hashlib.sha1(title.encode("utf-8")).hexdigest(), 16)) % FOLDS


def read_set(name: str, folder: str | Path | None = None) -> LeaveOutSet:
    """A set of :data:`assistant.gold.squad.SETS`: its files, its articles and every question's text by language."""
    gold_file, by_lang = SETS[name]
    root = data_dir(folder)
    files = {f: root / f for f in sorted(set(by_lang.values()))}
    asked = {
        lang: {q["id"]: q["question"] for a in read_squad(root / f) for p in a["paragraphs"] for q in p["qas"]}
        for lang, f in by_lang.items()
    }
    return LeaveOutSet(name, files, read_squad(root / gold_file), asked)


def fold_set(data: LeaveOutSet, fold: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The corpus (file name -> text) without the paragraphs of ``fold``, and every question of every
    article: ``answerable`` with its gold spans, or not (its paragraph is the one left out)."""
    splits = split_by_article([str(a.get("title", i)) for i, a in enumerate(data.articles)])
    docs: dict[str, str] = {}
    questions: list[dict[str, Any]] = []
    used: set[str] = set()
    for i, article in enumerate(data.articles):
        title = str(article.get("title", i))
        doc_id = slug(title, used)
        text = title.replace("_", " ").strip() or doc_id[:-4]
        kept_any = False
        for pos, para in enumerate(article["paragraphs"]):
            kept = fold_of(title, pos) != fold
            offset = len(text) + len(PARAGRAPH_SEP)
            if kept:
                text += PARAGRAPH_SEP + para["context"]
                kept_any = True
            for qa in para["qas"]:
                gold = []
                for ans in qa.get("answers", [])[:1]:
                    at = answer_offset(para["context"], ans["text"], int(ans["answer_start"]))
                    if at is not None:
                        gold.append([doc_id, offset + at, offset + at + len(ans["text"])])
                if not gold:
                    continue
                for lang, texts in data.asked.items():
                    if str(texts.get(qa["id"]) or "").strip():
                        fit = data.name in TRAIN_ONLY or splits[title] == "dev"
                        questions.append(
                            {
                                "qid": f"{qa['id']}:{lang}",
                                "lang": lang,
                                "question": texts[qa["id"]],
                                "article": title,
                                "split": "fit" if fit else "heldout",
                                "answerable": kept,
                                "gold": gold if kept else [],
                            }
                        )
        if kept_any:
            docs[doc_id] = text
    return docs, questions
