"""Issue 5 ablations: each cross-lingual direction switched off alone, on the dev and test splits.

    .venv/bin/python scripts/ablations.py [INDEX_FOLDER]      # default: index/ (built if missing)

Prints one row per configuration: MRR@10 / first-citation accuracy per language, then abstention
recall / false-abstention rate / conversation accuracy, for dev and then test. Quality only; the
evaluation runner (`python -m assistant eval`) is the place for the full report.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import assistant.answer.extractive as answer  # noqa: E402
from assistant import Assistant  # noqa: E402
from assistant.evaluation.runner import evaluate  # noqa: E402
from assistant.gold.questions import load_set  # noqa: E402
from assistant.text.bilingual import PINYIN  # noqa: E402


def row(bot: Assistant, data: Any, name: str) -> str:
    res = evaluate(bot, data, baselines=False)["results"]["pipeline"]
    cells = [name]
    for split in ("dev", "test"):
        for lang in ("en", "zh", "all"):
            r = res[split][lang]
            cells.append(f"{r['mrr@10']:.3f}/{r['first_citation_accuracy']:.3f}")
        a = res[split]["all"]
        cells.append(f"{a['abstention_recall']:.2f}/{a['false_abstention_rate']:.3f}/{a['conversation_accuracy']:.2f}")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    index = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "index")
    bot = Assistant.open(ROOT / "corpus", index, progress=False)
    data = load_set(ROOT / "eval", bot.corpus.documents)
    shipped = bot.answer_config
    head = "dev EN | dev ZH | dev all | dev abst R/false/conv | test EN | test ZH | test all | test abst R/false/conv"
    print(f"| configuration | {head} |\n|---" + "|---" * 8 + "|")
    print(row(bot, data, "shipped"), flush=True)
    for name, field in (
        ("no evidence re-ranking", "w_evidence"),
        ("no answer types", "w_answer_type"),
        ("no heading/caption/question penalty", "w_heading"),
        ("no antecedent credit", "w_context"),
        ("no previous-question words", "w_history"),
    ):
        print(row(bot.variant(answer=shipped._replace(**{field: 0.0})), data, name), flush=True)
    missing_focus = answer.missing_focus
    answer.missing_focus = lambda retriever, question: None
    print(row(bot, data, "no missing-focus abstention"), flush=True)
    answer.missing_focus = missing_focus
    dictionary = bot.retriever.data.bilingual
    saved = dict(dictionary)
    for key in [k for k in dictionary if k.startswith(PINYIN)]:
        del dictionary[key]
    print(row(bot, data, "no pinyin names"), flush=True)
    dictionary.clear()
    print(row(bot, data, "no bilingual dictionary (CEDICT + pinyin)"), flush=True)
    dictionary.update(saved)


if __name__ == "__main__":
    main()
