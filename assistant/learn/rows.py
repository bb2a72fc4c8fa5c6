"""The answerability rows: every question of every leave-out corpus run through the real pipeline.

One JSON line per (set, fold, question) in ``<work>/rows.jsonl`` holds the answerability features
(:mod:`assistant.answer.features`), the label (answerable), what today's rules did and whether the first
citation holds the gold span; ``<work>/texts.jsonl`` holds, for the same rows, the texts of the pool's best
``KEEP`` candidate sentences and which hold the gold answer (none, when its paragraph was left out), for the
reader's "no answer" training. The fit (:mod:`assistant.learn.fit_answerability`) reads only these files.

Fold corpora and their indexes live under ``<work>/<set>/fold<f>/``; vectors are cached by text under
``<index>/learn/vectors`` (the folds share most sentences with each other and with the sets' own indexes).
The Qingdao questions are added as a set of their own (``dev`` fit, ``test`` held out): news beside
encyclopaedic articles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.answer.features import NAMES, features
from assistant.embed.base import Embedder
from assistant.gold.relevance import relevant
from assistant.learn.cache import CachedEmbedder, sha256
from assistant.learn.choice_rows import KEEP
from assistant.learn.leaveout import FOLDS, fold_set, read_set
from assistant.types import Span

SETS = ("xquad-dev", "cmrc-trial", "cmrc-train", "qingdao")
REPO = Path(__file__).resolve().parents[2]


def build_rows(
    work: Path,
    vectors: Path,
    embedder: Embedder | str | None = None,
    sets: Sequence[str] = SETS,
    data: str | Path | None = None,
    rebuild: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """The rows of every set (each built under ``work/<set>/`` unless already there), joined into
    ``work/rows.jsonl`` and ``work/texts.jsonl``."""
    from assistant.embed import resolve_embedder

    model = resolve_embedder(embedder)
    files: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    for name in sets:
        part = work / name
        if rebuild or not (part / "rows.jsonl").is_file() or not (part / "texts.jsonl").is_file():
            if name == "qingdao":
                build_qingdao_rows(part, CachedEmbedder(model, vectors), log)
            else:
                build_set_rows(name, part, CachedEmbedder(model, vectors), data, log)
        meta, mine = read_jsonl(part / "rows.jsonl")
        files |= meta["files"]
        rows += mine
        texts += read_jsonl(part / "texts.jsonl")[1]
    meta = {"features": list(NAMES), "files": files, "folds": FOLDS, "sets": list(sets), "model": model.name}
    write_jsonl(work / "texts.jsonl", {"files": files, "sets": list(sets)}, texts)
    return write_jsonl(work / "rows.jsonl", meta, rows)


def build_set_rows(
    name: str, part: Path, cached: CachedEmbedder, data: str | Path | None, log: Callable[[str], None]
) -> None:
    """``part/rows.jsonl`` and ``part/texts.jsonl`` of one set: its fold corpora and indexes under ``part``."""
    from assistant.api import Assistant, check_question  # the api imports the answerers: only to build
    from assistant.config import AnswerConfig
    from assistant.gold.squad import write_corpus
    from assistant.types import Document

    started = time.time()
    source = read_set(name, data)
    files = {f: sha256(p) for f, p in source.files.items()}
    # every question once, in batches (one at a time is several times slower): the folds ask the same ones
    asked = {check_question(t)[0] for by_id in source.asked.values() for t in by_id.values() if t.strip()}
    cached.embed(sorted(asked), "query")
    cached.save()
    rows: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    for fold in range(FOLDS):
        docs, questions = fold_set(source, fold)
        folder = part / f"fold{fold}"
        corpus = write_corpus([Document(d, t) for d, t in docs.items()], folder / "corpus")
        # the hand-weighted order (the reader re-orders only what is cited; the features read the hand order)
        bot = Assistant.open(corpus, folder / "index", cached, progress=False, answer=AnswerConfig(reader=False))
        cached.save()
        for q in questions:
            ev = bot.evidence(q["question"])
            ans = bot.answerer.answer(ev)
            first = ans.citations[0] if ans.citations else None
            gold = [Span(*g) for g in q.pop("gold")]
            hit = bool(first and gold and relevant(first.doc_id, first.start, first.end, gold))
            vec = features(bot.retriever, ev, bot.answer_config, bot.abstention_config)
            key = {**q, "set": name, "fold": fold}
            rows.append(
                key
                | {"rule_abstained": ans.abstained, "first_correct": hit, "features": [round(float(x), 6) for x in vec]}
            )
            head = list(ev.pool or [])[:KEEP]
            spans = [bot.retriever.sentence_span(c.row) for c in head]
            texts.append(
                key
                | {
                    "texts": [bot.retriever.sentence_text(c.row) for c in head],
                    "labels": [int(bool(gold) and relevant(s.doc_id, s.start, s.end, gold)) for s in spans],
                }
            )
        log(f"{name} fold {fold}: {len(questions)} questions after {time.time() - started:.0f} s")
    write_jsonl(part / "texts.jsonl", {"files": files}, texts)
    write_jsonl(part / "rows.jsonl", {"files": files}, rows)


def build_qingdao_rows(part: Path, cached: CachedEmbedder, log: Callable[[str], None]) -> None:
    """The Qingdao questions (``eval/questions.jsonl``) over the Qingdao article: news, where the other sets
    are encyclopaedic. Its ``dev`` questions (answerable and hand-written unanswerable ones) fit, its ``test``
    questions are held out; each question is its own cross-validation group (one article)."""
    from assistant.api import Assistant
    from assistant.config import AnswerConfig
    from assistant.gold.questions import load_set

    started = time.time()
    corpus = REPO / "corpus"
    bot = Assistant.open(corpus, part / "index", cached, progress=False, answer=AnswerConfig(reader=False))
    cached.save()
    questions = REPO / "eval" / "questions.jsonl"
    rows: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    for q in load_set(questions, bot.corpus.documents).questions:
        ev = bot.evidence(q.question)
        ans = bot.answerer.answer(ev)
        first = ans.citations[0] if ans.citations else None
        hit = bool(first and q.answerable and relevant(first.doc_id, first.start, first.end, q.gold))
        vec = features(bot.retriever, ev, bot.answer_config, bot.abstention_config)
        key = {
            "qid": q.qid,
            "lang": q.lang,
            "question": q.question,
            "article": f"qingdao:{q.qid}",
            "split": "fit" if q.split == "dev" else "heldout",
            "answerable": q.answerable,
            "set": "qingdao",
            "fold": 0,
        }
        rows.append(
            key | {"rule_abstained": ans.abstained, "first_correct": hit, "features": [round(float(x), 6) for x in vec]}
        )
        texts.append(key | {"texts": [bot.retriever.sentence_text(c.row) for c in list(ev.pool or [])[:KEEP]]})
    files = {questions.name: sha256(questions)}
    log(f"qingdao: {len(rows)} questions after {time.time() - started:.0f} s")
    write_jsonl(part / "texts.jsonl", {"files": files}, texts)
    write_jsonl(part / "rows.jsonl", {"files": files}, rows)


def read_jsonl(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The metadata line and the rows of a JSON-lines file written by :func:`write_jsonl`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return json.loads(lines[0])["meta"], [json.loads(line) for line in lines[1:] if line.strip()]


def write_jsonl(path: Path, meta: dict[str, Any], rows: Sequence[dict[str, Any]]) -> Path:
    """A metadata line, then one sorted-key line per row (the same rows give the same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"meta": meta}, ensure_ascii=False, sort_keys=True) + "\n")
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    return path
