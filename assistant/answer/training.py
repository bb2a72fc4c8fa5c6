"""Training data for the answerability model: XQuAD with paragraphs left out, run through the real pipeline.

Every paragraph of the XQuAD half in ``/work/shared/data`` is assigned to one of ``FOLDS`` folds (by its
position and a hash of the article title). Corpus ``f`` holds every article (one document each, as in
:mod:`assistant.evaluation.external`) without the paragraphs of fold ``f``: the questions on those become
unanswerable, all others stay answerable with their gold span. Each question is asked in Chinese and in
English (over the Chinese articles). The articles are split in two halves (``split_by_article``): ``dev``
articles are used to fit, ``test`` articles are held out. One JSON line per (fold, question) holds the
features, the label and what today's rules did; the fit (:mod:`assistant.answer.answerability`) reads
only that file.

``build_texts`` adds ``texts.jsonl`` beside the rows: each (fold, question)'s 8 best candidate sentences and
which hold the gold answer, for the reader experiment (``scripts/train_reader.py --no-answer``).

Passage and query vectors are cached by text under ``<out>/vectors`` so that the folds, which share most
sentences, and the questions, asked once per fold, are embedded once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answer.features import NAMES, features
from assistant.embed.base import Embedder
from assistant.evaluation.external import PARAGRAPH_SEP, answer_offset, read_squad, slug, split_by_article
from assistant.evaluation.runner import relevant
from assistant.types import Span

FOLDS = 4
DATA_FILES = {"zh": "xquad-dev.zh.json", "en": "xquad-dev.en.json"}


class CachedEmbedder(Embedder):
    """Delegates to ``inner``; remembers every vector by (kind, text), on disk between runs."""

    def __init__(self, inner: Embedder, folder: Path) -> None:
        self.inner, self.name, self.dim, self.folder = inner, inner.name, inner.dim, folder
        self.batch_size, self.max_chars = inner.batch_size, inner.max_chars
        self.cache: dict[str, np.ndarray] = {}
        keys_file, vec_file = folder / "keys.json", folder / "vectors.npy"
        if keys_file.is_file() and vec_file.is_file():
            keys = json.loads(keys_file.read_text(encoding="utf-8"))
            vecs = np.load(vec_file, allow_pickle=False)
            if keys.get("model") == inner.name and len(keys["keys"]) == len(vecs):
                self.cache = dict(zip(keys["keys"], vecs, strict=True))

    def embed_batch(self, texts: Sequence[str], kind: str) -> np.ndarray:
        return self.inner.embed_batch(texts, kind)

    def embed(self, texts: Sequence[str], kind: str, progress: Callable[[int], None] | None = None) -> np.ndarray:
        keys = [kind + "\0" + t for t in texts]
        todo = sorted({k for k in keys if k not in self.cache})
        if todo:
            vecs = self.inner.embed([k.split("\0", 1)[1] for k in todo], kind)
            self.cache.update(zip(todo, vecs, strict=True))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = self.cache[k]
        return out

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.cache)
        np.save(self.folder / "vectors.npy", np.stack([self.cache[k] for k in keys]) if keys else np.zeros((0, 1)))
        (self.folder / "keys.json").write_text(json.dumps({"model": self.name, "keys": keys}), encoding="utf-8")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fold_of(title: str, position: int) -> int:
    """The fold a paragraph is left out in: consecutive paragraphs of an article go to different folds."""
    return (position + int(hashlib.sha1(title.encode("utf-8")).hexdigest(), 16)) % FOLDS


def read_xquad(data_dir: Path) -> tuple[dict[str, Path], list[dict[str, Any]], dict[str, dict[str, str]]]:
    """The XQuAD files by language, the Chinese articles, and every question's text by language and id."""
    files = {lang: data_dir / name for lang, name in DATA_FILES.items()}
    asked = {
        lang: {q["id"]: q["question"] for a in read_squad(p) for para in a["paragraphs"] for q in para["qas"]}
        for lang, p in files.items()
    }
    return files, read_squad(files["zh"]), asked


def fold_set(
    zh: list[dict[str, Any]], asked: dict[str, dict[str, str]], fold: int
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The corpus (file name -> text) without the paragraphs of ``fold``, and every question of every
    article: ``answerable`` with its gold spans, or not (its paragraph is the one left out)."""
    splits = split_by_article([str(a.get("title", i)) for i, a in enumerate(zh)])
    docs: dict[str, str] = {}
    questions: list[dict[str, Any]] = []
    used: set[str] = set()
    for i, article in enumerate(zh):
        title = str(article.get("title", i))
        doc_id = slug(title, used)
        text = title.replace("_", " ").strip() or doc_id[:-4]
        for pos, para in enumerate(article["paragraphs"]):
            kept = fold_of(title, pos) != fold
            offset = len(text) + len(PARAGRAPH_SEP)
            if kept:
                text += PARAGRAPH_SEP + para["context"]
            for qa in para["qas"]:
                gold = []
                for ans in qa.get("answers", [])[:1]:
                    at = answer_offset(para["context"], ans["text"], int(ans["answer_start"]))
                    if at is not None:
                        gold.append([doc_id, offset + at, offset + at + len(ans["text"])])
                if not gold:
                    continue
                for lang, texts in asked.items():
                    if texts.get(qa["id"], "").strip():
                        questions.append(
                            {
                                "qid": f"{qa['id']}:{lang}",
                                "lang": lang,
                                "question": texts[qa["id"]],
                                "article": title,
                                "split": "fit" if splits[title] == "dev" else "heldout",
                                "answerable": kept,
                                "gold": gold if kept else [],
                            }
                        )
        docs[doc_id] = text
    return docs, questions


def build_rows(
    data_dir: Path,
    out: Path,
    embedder: Embedder | str | None = None,
    folds: Sequence[int] = tuple(range(FOLDS)),
    limit: int | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Build (or reuse) the fold corpora and indexes under ``out`` and write ``out/rows.jsonl``."""
    from assistant.api import Assistant, check_question  # the api imports the answerers: only to build
    from assistant.embed import resolve_embedder
    from assistant.evaluation.external import write_corpus
    from assistant.types import Document

    files, zh, asked = read_xquad(data_dir)
    model = resolve_embedder(embedder)
    cached = CachedEmbedder(model, out / "vectors")
    started = time.time()
    # every question once, in batches (one at a time is several times slower): the folds ask the same ones
    texts = {check_question(t)[0] for by_id in asked.values() for t in by_id.values() if t.strip()}
    cached.embed(sorted(texts), "query")
    cached.save()
    log(f"questions embedded after {time.time() - started:.0f}s")
    rows: list[dict[str, Any]] = []
    for fold in folds:
        docs, questions = fold_set(zh, asked, fold)
        corpus = write_corpus([Document(d, t) for d, t in docs.items()], out / f"fold{fold}" / "corpus")
        bot = Assistant.open(corpus, out / f"fold{fold}" / "index", cached, progress=False)
        cached.save()
        log(f"fold {fold}: index ready after {time.time() - started:.0f}s; {len(questions)} questions")
        for q in questions[:limit] if limit else questions:
            ev = bot.evidence(q["question"])
            ans = bot.answerer.answer(ev)
            first = ans.citations[0] if ans.citations else None
            gold = [Span(*g) for g in q.pop("gold")]
            hit = bool(first and gold and relevant(first.doc_id, first.start, first.end, gold))
            vec = features(bot.retriever, ev, bot.answer_config, bot.abstention_config)
            rows.append(
                {
                    **q,
                    "fold": fold,
                    "rule_abstained": ans.abstained,
                    "first_correct": hit,
                    "features": [round(float(x), 6) for x in vec],
                }
            )
        cached.save()
        log(f"fold {fold}: done after {time.time() - started:.0f}s")
    meta = {
        "features": list(NAMES),
        "files": {p.name: sha256(p) for p in files.values()},
        "folds": list(folds),
        "model": model.name,
        "built": time.strftime("%Y-%m-%d", time.gmtime()),
        "seconds": round(time.time() - started),
    }
    path = out / "rows.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"meta": meta}, ensure_ascii=False, sort_keys=True) + "\n")
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    return path


def build_texts(data_dir: Path, work: Path, embedder: Embedder | str | None = None) -> Path:
    """``<work>/texts.jsonl``: for every (fold, question) of the rows, the texts of the pool's first ``READ``
    candidate sentences and which hold the gold answer (none, when its paragraph was left out), for the
    reader. Reads the fold indexes ``build_rows`` left under ``work`` (seconds, nothing is embedded anew)."""
    from assistant.api import Assistant
    from assistant.embed import resolve_embedder
    from assistant.retrieve.choice_data import READ
    from assistant.retrieve.evidence import candidates

    files, zh, asked = read_xquad(data_dir)
    cached = CachedEmbedder(resolve_embedder(embedder), work / "vectors")
    path = work / "texts.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for fold in range(FOLDS):
            _, questions = fold_set(zh, asked, fold)
            folder = work / f"fold{fold}"
            bot = Assistant.open(folder / "corpus", folder / "index", cached, progress=False)
            for q in questions:
                query = bot.retriever.prepare(q["question"], [], None)
                pool = candidates(bot.retriever, query, bot.retriever.score(query), bot.answer_config)
                spans = [bot.retriever.sentence_span(c.row) for c in pool[:READ]]
                gold = [Span(*g) for g in q.pop("gold")]
                row = {
                    **q,
                    "fold": fold,
                    "texts": [bot.retriever.sentence_text(c.row) for c in pool[:READ]],
                    "labels": [int(bool(gold) and relevant(s.doc_id, s.start, s.end, gold)) for s in spans],
                }
                fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    return path


def read_rows(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The metadata line and the rows of a ``rows.jsonl`` file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    meta = json.loads(lines[0])["meta"]
    return meta, [json.loads(line) for line in lines[1:] if line.strip()]
