"""Training data for the learned sentence choice and the reader: every candidate of every answerable question.

For each question of the SQuAD-format sets (XQuAD half in both languages, CMRC trial, CMRC training passages)
the real pipeline ranks the passages of the whole set and pools the candidate sentences; one JSON line per
question holds the pool's feature matrix (:mod:`assistant.retrieve.sentences`), which candidates contain the
gold answer (:func:`assistant.gold.relevance.relevant`), the texts of the best ``KEEP`` candidates, the first
gold-holding sentence below them (``positive``: a question whose answer the hand order ranks too low still
trains the reader, against hard negatives of its own pool), the language and the article split (``dev``
articles fit, ``test`` articles are held out; the CMRC training passages are all ``dev``). The Qingdao set is
written the same way (its ``dev`` questions train, its ``test`` questions are held out).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from assistant.gold.relevance import relevant
from assistant.learn.cache import CachedEmbedder, sha256
from assistant.retrieve.evidence import candidates
from assistant.retrieve.sentences import NAMES, pool_features
from assistant.types import Span

SETS = ("xquad-dev", "cmrc-trial", "cmrc-train")
READ = 8  # the reader reads this many best candidates (by the hand-weighted score) on the question path
KEEP = 12  # texts kept per row (experiments with more candidates read up to this many)
REPO = Path(__file__).resolve().parents[2]


def question_rows(bot: Any, questions: Iterable[tuple[str, str, str, str, Sequence[Span]]]) -> list[dict[str, Any]]:
    """One row per (qid, lang, split, question, gold) with a non-empty pool."""
    from assistant.api import check_question

    rows = []
    for qid, lang, split, text, gold in questions:
        query = bot.retriever.prepare(check_question(text)[0], [], None)  # as ``ask`` prepares it
        ranked = bot.retriever.score(query)
        pool = candidates(bot.retriever, query, ranked, bot.answer_config)
        if not pool:
            continue
        x = pool_features(bot.retriever, query, ranked, pool)
        labels: list[int] = []
        for c in pool:
            span = bot.retriever.sentence_span(c.row)
            labels.append(int(bool(gold) and relevant(span.doc_id, span.start, span.end, gold)))
        below = next((i for i in range(KEEP, len(pool)) if labels[i]), None)
        rows.append(
            {
                "qid": qid,
                "lang": lang,
                "split": split,
                "question": text,
                "labels": labels,
                "texts": [bot.retriever.sentence_text(c.row) for c in pool[:KEEP]],
                "positive": None if below is None else bot.retriever.sentence_text(pool[below].row),
                "x": [[round(float(v), 6) for v in r] for r in x],
            }
        )
    return rows


def open_set(name: str, index_root: Path, embedder: Any) -> tuple[Any, Any]:
    """The set's data and an assistant over its corpus (cached under ``<index>/external/<name>``)."""
    from assistant.api import Assistant
    from assistant.gold.squad import load_external, write_corpus

    data = load_external(name)
    cache = index_root / "external" / name
    bot = Assistant.open(write_corpus(data.documents, cache / "corpus"), cache / "index", embedder, progress=False)
    return data, bot


def build(index_root: Path, out: Path, embedder: Any = None, log: Callable[[str], None] = print) -> Path:
    """Write ``out`` (JSON lines: a metadata line, then rows) for the SQuAD-format sets and the Qingdao set."""
    from assistant.api import Assistant, check_question
    from assistant.embed import resolve_embedder
    from assistant.gold.questions import load_set

    started = time.time()
    cached = CachedEmbedder(resolve_embedder(embedder), index_root / "learn" / "vectors")
    rows: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    for name in SETS:
        data, bot = open_set(name, index_root, cached)
        # every question embedded once, in batches (one at a time is several times slower)
        cached.embed(sorted({check_question(q.question)[0] for q in data.questions}), "query")
        cached.save()
        for f in data.files:
            files[Path(f).name] = sha256(Path(f))
        qs = [(q.qid, q.lang, q.split, q.question, q.gold) for q in data.questions]
        for row in question_rows(bot, qs):
            rows.append({"set": name, **row})
        log(f"{name}: {len(qs)} questions after {time.time() - started:.0f} s")
    bot = Assistant.open(REPO / "corpus", index_root, cached, progress=False)
    cached.save()
    qd = load_set(REPO / "eval" / "questions.jsonl", bot.corpus.documents)
    qs = [(q.qid, q.lang, q.split, q.question, q.gold) for q in qd.questions if q.answerable]
    for row in question_rows(bot, qs):
        rows.append({"set": "qingdao", **row})
    files["questions.jsonl"] = sha256(REPO / "eval" / "questions.jsonl")
    meta = {
        "features": list(NAMES),
        "files": files,
        "model": bot.embedder.name,
        "read": READ,
        "keep": KEEP,
    }  # no build time here: the same rows give the same file (its hash is recorded by the fits)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"meta": meta}, sort_keys=True) + "\n")
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
    log(f"{len(rows)} rows after {time.time() - started:.0f} s")
    return out


def read_rows(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The metadata line and the rows of a JSON-lines rows file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    meta = json.loads(lines[0])["meta"]
    return meta, [json.loads(line) for line in lines[1:] if line.strip()]
