"""Experiments measured, not shipped: answerability and sentence choice with a reader's scores.

    python -m assistant train reader --no-answer 1200 --out /tmp/na     # a reader with a "no answer" target
    python -m assistant.learn.experiment /tmp/na/reader_oof.json         # the two tables below

Answerability (the leave-out rows, ``index/learn/answerability``): per language, the shipped
model's 34 features, the same plus four reader columns (best logit, its lead over the second, the
log-sum-exp of the candidates' logits, and the same with the "no answer" logit 0), and the reader columns
alone; each fitted on the fit articles with the reader's out-of-fold scores, its threshold chosen out of
fold for 3% false abstention (as the shipped model), reported on the held-out articles.
Sentence choice (``index/choice/rows.jsonl``): the listwise model over the 21 sentence features + the
reader's three columns fitted on the dev rows, first citation on the test rows. The held-out scores are
the full model's before 4-bit quantisation. Prints Markdown; writes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from assistant.answer.answerability import LANGS
from assistant.answer.choice import reader_columns
from assistant.learn.choice_rows import read_rows
from assistant.learn.fit_answerability import article_group, fit_lang, out_of_fold, predict, rates, threshold_for
from assistant.learn.fit_choice import fit_listwise

INDEX = Path("index")

TARGET = 0.03


def answer_columns(scores: list[float]) -> list[float]:
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    lead = s[0] - s[1] if len(s) > 1 else 0.0
    return [s[0], lead, float(np.logaddexp.reduce(s)), float(np.logaddexp.reduce(np.append(s, 0.0)))]


def answerability(scores: dict[str, list[float]]) -> list[str]:
    _, rows = read_rows(INDEX / "learn" / "answerability" / "rows.jsonl")
    out = [
        "| language | system | AUC | recall | false abstention | recall at 5% (oracle) |",
        "|---|---|---|---|---|---|",
    ]
    for lang in LANGS:
        for system in ("features", "features+reader", "reader"):
            x, y, g = {}, {}, {}
            for split in ("fit", "heldout"):
                mine = [r for r in rows if r["lang"] == lang and r["split"] == split]
                cols = [
                    (r["features"] if system != "reader" else [])
                    + (answer_columns(scores[f"a|{r['fold']}|{r['qid']}"]) if system != "features" else [])
                    for r in mine
                ]
                x[split] = np.asarray(cols, dtype=np.float64)
                y[split] = np.asarray([r["answerable"] for r in mine], dtype=np.float64)
                g[split] = np.asarray([article_group(r["article"]) for r in mine])
            oof = out_of_fold(x["fit"], y["fit"], g["fit"], 1.0)
            model = fit_lang(x["fit"], y["fit"], 1.0)
            p = predict(model, x["heldout"])
            held = rates(p, y["heldout"], threshold_for(oof[y["fit"] == 1], TARGET))
            oracle = rates(p, y["heldout"], threshold_for(p[y["heldout"] == 1], 0.05))
            out.append(
                f"| {lang} | {system} | {held['auc']:.3f} | {held['recall']:.3f} | "
                f"{held['false_abstention']:.3f} | {oracle['recall']:.3f} |"
            )
    return out


def choice(scores: dict[str, list[float]]) -> list[str]:
    lines = (INDEX / "choice" / "rows.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines[1:]]

    def xy(r: dict, reader: bool) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(r["x"], dtype=np.float64)[: len(r["texts"])]
        if reader:
            s = np.asarray(scores[f"c|{r['set']}|{r['qid']}"][: len(x)], dtype=np.float64)
            x = np.concatenate([x, reader_columns(s)], axis=1)
        return x, np.asarray(r["labels"][: len(x)], dtype=np.float64)

    out = ["| set | language | test questions | features + reader | reader alone |", "|---|---|---|---|---|"]
    for lang in LANGS:
        model = fit_listwise([xy(r, True) for r in rows if r["lang"] == lang and r["split"] == "dev"], 0.01)
        for name in sorted({r["set"] for r in rows}):
            test = [r for r in rows if r["lang"] == lang and r["split"] == "test" and r["set"] == name]
            if not test:
                continue
            hits, alone = [], []
            for r in test:
                x, y = xy(r, True)
                hits.append(y[int(np.argmax(model.scores(x)))])
                alone.append(y[int(np.argmax(scores[f"c|{r['set']}|{r['qid']}"][: len(y)]))])
            out.append(f"| {name} | {lang} | {len(test)} | {np.mean(hits):.3f} | {np.mean(alone):.3f} |")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise SystemExit(
            "usage: python scripts/reader_experiment.py <reader>.scores.json (from train_reader.py --no-answer)"
        )
    scores = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    print("\n".join(["## Answerability, held-out articles", "", *answerability(scores), ""]))
    print("\n".join(["## First citation, held-out rows", "", *choice(scores)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
