"""Abstention report over the held-out leave-out rows and the Qingdao set (docs/abstention.md).

    python -m assistant.learn.report --out /tmp/evalx

Sets: the held-out articles of each leave-out set (``<index>/learn/answerability/rows.jsonl``, built by
``python -m assistant train answerability``: XQuAD test articles in both languages, CMRC trial test
passages) and the Qingdao set in ``eval/`` (asked once through the pipeline here; conversations with the
history of the rule-based answers). Tables and the risk-coverage chart are those of
:mod:`assistant.evaluation.abstention`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from assistant.answer.answerability import DEFAULT_PATH, load
from assistant.evaluation.abstention import Row, markdown, plot, qingdao_rows, report
from assistant.learn.choice_rows import read_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Abstention report: rules vs the answerability model")
    parser.add_argument("--rows", default=str(Path("index") / "learn" / "answerability" / "rows.jsonl"))
    parser.add_argument("--model", default=str(DEFAULT_PATH), help="answerability JSON (default: shipped)")
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--index", default="index")
    parser.add_argument("--set", dest="eval_set", default="eval")
    parser.add_argument("--no-qingdao", action="store_true", help="only the held-out leave-out rows")
    parser.add_argument("--out", default="eval/reports", help="report folder")
    args = parser.parse_args(argv)
    model = load(args.model)
    sets: dict[str, Sequence[Row]] = {}
    rows_path = Path(args.rows)
    if rows_path.is_file():
        _, rows = read_rows(rows_path)
        for name in sorted({r["set"] for r in rows if r["split"] == "heldout"}):
            sets[f"{name}-heldout"] = [r for r in rows if r["split"] == "heldout" and r["set"] == name]
    if not args.no_qingdao:
        q = qingdao_rows(args.corpus, args.index, args.eval_set)
        sets["qingdao"] = q
        sets["qingdao-test"] = [r for r in q if r["split"] == "test"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables = report(sets, model)
    png = plot({k: v for k, v in sets.items() if k != "qingdao-test"}, model, out / "abstention_risk_coverage.png")
    (out / "abstention.json").write_text(json.dumps(tables, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    text = markdown(tables)
    (out / "abstention.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out / 'abstention.json'}, {out / 'abstention.md'}, {png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
