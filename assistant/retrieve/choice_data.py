"""Training data for the learned sentence choice: every candidate sentence of every answerable question.

For each question of an external set (XQuAD half, both languages; CMRC trial) the real pipeline ranks
the passages of the whole set and pools the candidate sentences; one JSON line per question holds the
pool's feature matrix (:mod:`assistant.retrieve.sentences`), which candidates contain the gold answer
(:func:`assistant.evaluation.runner.relevant`), the language and the article split (``dev`` articles
fit, ``test`` articles are held out). The Qingdao set is written the same way, for reporting only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from assistant.evaluation.runner import relevant
from assistant.retrieve.evidence import candidates
from assistant.retrieve.sentences import NAMES, pool_features
from assistant.types import Span

EXTERNAL = ("xquad-dev", "cmrc-trial")
READ = 8  # the reader reads this many best candidates (by the hand-weighted score); their texts are kept


def question_rows(bot: Any, questions: Iterable[tuple[str, str, str, str, Sequence[Span]]]) -> list[dict[str, Any]]:
    """One row per (qid, lang, split, question, gold) with a non-empty pool."""
    rows = []
    for qid, lang, split, text, gold in questions:
        query = bot.retriever.prepare(text, [], None)
        ranked = bot.retriever.score(query)
        pool = candidates(bot.retriever, query, ranked, bot.answer_config)
        if not pool:
            continue
        x = pool_features(bot.retriever, query, ranked, pool)
        labels: list[int] = []
        texts: list[str] = []
        for c in pool:
            span = bot.retriever.sentence_span(c.row)
            labels.append(int(bool(gold) and relevant(span.doc_id, span.start, span.end, gold)))
            if len(texts) < READ:
                texts.append(bot.retriever.sentence_text(c.row))
        rows.append(
            {
                "qid": qid,
                "lang": lang,
                "split": split,
                "question": text,
                "labels": labels,
                "texts": texts,
                "x": [[round(float(v), 6) for v in r] for r in x],
            }
        )
    return rows


def build(index_root: Path, out: Path, embedder: Any = None, log: Callable[[str], None] = print) -> Path:
    """Write ``out`` (JSON lines: a metadata line, then rows) for both external sets and the Qingdao set."""
    from assistant.answer.training import sha256
    from assistant.api import Assistant
    from assistant.evaluation.external import load_external, write_corpus
    from assistant.evaluation.questions import load_set

    started = time.time()
    rows: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    for name in EXTERNAL:
        data = load_external(name)
        cache = index_root / "external" / name
        bot = Assistant.open(write_corpus(data.documents, cache / "corpus"), cache / "index", embedder, progress=False)
        for f in data.files:
            files[Path(f).name] = sha256(Path(f))
        qs = [(q.qid, q.lang, q.split, q.question, q.gold) for q in data.questions]
        for row in question_rows(bot, qs):
            rows.append({"set": name, **row})
        log(f"{name}: {len(qs)} questions after {time.time() - started:.0f} s")
    repo = Path(__file__).resolve().parents[2]
    bot = Assistant.open(repo / "corpus", index_root, embedder, progress=False)
    qd = load_set(repo / "eval" / "questions.jsonl", bot.corpus.documents)
    qs = [(q.qid, q.lang, q.split, q.question, q.gold) for q in qd.questions if q.answerable]
    for row in question_rows(bot, qs):
        rows.append({"set": "qingdao", **row})
    meta = {
        "features": list(NAMES),
        "files": files,
        "model": bot.embedder.name,
    }  # no build time here: the same rows give the same file (its hash is recorded by the fits)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"meta": meta}, sort_keys=True) + "\n")
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
    log(f"{len(rows)} rows after {time.time() - started:.0f} s")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m assistant.retrieve.choice_data [--index index]``: write ``<index>/choice/rows.jsonl``."""
    import argparse

    parser = argparse.ArgumentParser(description="Rows for the learned sentence choice and the reader.")
    parser.add_argument("--index", type=Path, default=Path("index"), help="index folder (default: index)")
    args = parser.parse_args(argv)
    print(build(args.index, args.index / "choice" / "rows.jsonl"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
