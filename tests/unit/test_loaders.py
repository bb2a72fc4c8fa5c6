"""Every supported format from a real file made here: the text, the metadata and exact citation offsets."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pytest

from assistant import Assistant
from assistant.errors import InputError
from assistant.ingest.corpus import check_doc_id, load_corpus
from assistant.ingest.loaders import loader_for
from assistant.types import Document
from tests.support.reliability import ARTICLE

NAV = ("首页导航", "新闻中心栏目", "版权所有", "热门推荐列表")
ARTICLE_PARAGRAPHS = (
    "青岛市日前发布了人工智能加行动计划，提出到2027年建成一批人工智能应用场景。",
    "The plan names Haier's COSMOPlat as a key platform for industrial artificial intelligence.",
    "卡奥斯 D3OS 排产引擎已经在多家工厂部署，帮助企业把排产时间从数小时缩短到几分钟。",
)


def make_html(path: Path) -> Path:
    paragraphs = "".join(f"<p>{p}</p>" for p in ARTICLE_PARAGRAPHS)
    path.write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>青岛人工智能行动计划</title>
<meta name="date" content="2025-03-01"></head><body>
<header><nav><a href="/">{NAV[0]}</a> | <a href="/news">{NAV[1]}</a></nav></header>
<aside class="sidebar"><h3>{NAV[3]}</h3><ul><li><a href="/a">另一篇文章</a></li></ul></aside>
<main><article><h1>青岛人工智能行动计划</h1>{paragraphs}</article></main>
<footer><p>{NAV[2]} © 2025 新闻网 · 联系我们 · 隐私政策</p></footer></body></html>""",
        encoding="utf-8",
    )
    return path


PDF_PAGES = (
    ("青岛发布人工智能加行动计划。", "卡奥斯平台已服务数万家工厂。"),
    ("第二页：海尔的排产引擎提高了效率。", "COSMO-GPT 是工业大模型。"),
)


def make_pdf(path: Path) -> Path:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))  # a built-in CJK font: no font file needed
    pdf = canvas.Canvas(str(path))
    for lines in PDF_PAGES:
        pdf.setFont("STSong-Light", 14)
        for row, line in enumerate(lines):
            pdf.drawString(72, 750 - 24 * row, line)
        pdf.showPage()
    pdf.save()
    return path


def make_docx(path: Path) -> Path:
    import docx

    doc = docx.Document()
    doc.add_heading("青岛人工智能行动计划", level=1)
    doc.add_paragraph("")  # empty paragraphs are dropped
    for p in ARTICLE_PARAGRAPHS:
        doc.add_paragraph(p)
    doc.save(str(path))
    return path


def make_jsonl(path: Path) -> Path:
    lines = [
        json.dumps({"title": "青岛行动计划", "text": ARTICLE_PARAGRAPHS[0], "url": "https://example.cn/1"}),
        "{not json",
        "",
        json.dumps({"title": "卡奥斯", "text": ARTICLE_PARAGRAPHS[2], "date": "2025-03-02"}, ensure_ascii=False),
        json.dumps({"title": "no text"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load(path: Path) -> list[Document]:
    loader = loader_for(path.name)
    assert loader is not None
    return loader.load(path.name, path.read_bytes())


def test_html_keeps_the_article_and_drops_navigation(tmp_path: Path) -> None:
    (doc,) = load(make_html(tmp_path / "page.html"))
    for paragraph in ARTICLE_PARAGRAPHS:
        assert paragraph in doc.text
    for word in NAV:
        assert word not in doc.text, word
    assert "\n\n" in doc.text, "paragraph breaks are kept"
    assert doc.title == "青岛人工智能行动计划" and doc.date == "2025-03-01"


NEWS_PARAGRAPHS = (
    "青岛发布人工智能行动计划。",
    "卡奥斯D3OS排产引擎已经在多家工厂部署。",
    "海尔COSMOPlat是工业互联网的关键平台。",
)


def make_news_page(path: Path) -> Path:
    """A short news page: a <nav> of 30 links, a header line, three paragraphs and a footer."""
    links = "".join(f'<li><a href="/c/{i}">栏目{i}</a></li>' for i in range(30))
    body = "".join(f"<p>{p}</p>" for p in NEWS_PARAGRAPHS)
    path.write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>青岛新闻</title></head><body>
<nav><ul>{links}</ul></nav><header>青岛新闻网 2025年3月1日 星期六</header>
{body}<footer>版权所有 © 2025 青岛新闻网 联系我们</footer></body></html>""",
        encoding="utf-8",
    )
    return path


def test_short_news_page_indexes_only_its_paragraphs(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_news_page(corpus / "news.html")
    (doc,) = load(corpus / "news.html")
    assert doc.text == "\n\n".join(NEWS_PARAGRAPHS)  # no link of the nav, no header line, no footer
    bot = Assistant.open(corpus, tmp_path / "index", "hashing-64", progress=False)
    assert bot.document("news.html").text == doc.text
    answer = bot.ask("卡奥斯D3OS排产引擎")
    assert answer.citations
    for c in answer.citations:
        assert doc.text[c.start : c.end] == c.text


def test_long_page_keeps_the_whole_article(tmp_path: Path) -> None:
    """Precision mode on a long page: every paragraph of the article, in order; the boilerplate gone."""
    import html as markup

    paragraphs = [line.strip() for line in ARTICLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    links = "".join(f'<li><a href="/c/{i}">栏目{i}</a></li>' for i in range(30))
    body = "".join(
        f"<h2>{markup.escape(p[3:])}</h2>" if p.startswith("## ") else f"<p>{markup.escape(p)}</p>" for p in paragraphs
    )
    (tmp_path / "long.html").write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>青岛</title></head><body>
<header>青岛新闻网</header><nav><ul>{links}</ul></nav><main><article>{body}</article></main>
<aside><h3>热门推荐</h3><ul>{links}</ul></aside><footer>版权所有 © 2025</footer></body></html>""",
        encoding="utf-8",
    )
    (doc,) = load(tmp_path / "long.html")
    kept = [p[3:] if p.startswith("## ") else p for p in paragraphs]
    at = 0
    for paragraph in kept:
        found = doc.text.find(paragraph, at)
        assert found >= 0, f"lost: {paragraph[:40]}"
        at = found + len(paragraph)
    assert len(kept) > 50 and "栏目" not in doc.text and "版权所有" not in doc.text and "热门推荐" not in doc.text


def test_pdf_text_layer_with_pages(tmp_path: Path) -> None:
    (doc,) = load(make_pdf(tmp_path / "report.pdf"))
    for number, lines in enumerate(PDF_PAGES, start=1):
        for line in lines:
            at = doc.text.index(line)
            assert doc.page_of(at) == number and doc.page_of(at + len(line) - 1) == number
    assert len(doc.pages) == 2 and doc.pages[0] == 0


def test_docx_paragraphs_one_per_line(tmp_path: Path) -> None:
    (doc,) = load(make_docx(tmp_path / "memo.docx"))
    assert doc.text.split("\n") == ["青岛人工智能行动计划", *ARTICLE_PARAGRAPHS]


def test_jsonl_one_document_per_line_and_bad_lines_skipped(tmp_path: Path) -> None:
    make_jsonl(tmp_path / "news.jsonl")
    corpus = load_corpus(tmp_path)
    by_id = {d.doc_id: d for d in corpus.documents}
    assert sorted(by_id) == ["news.jsonl#1", "news.jsonl#4"]
    first = by_id["news.jsonl#1"]
    assert first.text == f"青岛行动计划\n\n{ARTICLE_PARAGRAPHS[0]}" and first.url == "https://example.cn/1"
    assert by_id["news.jsonl#4"].date == "2025-03-02"
    reasons = {s.name: s.reason for s in corpus.skipped}
    assert set(reasons) == {"news.jsonl#2", "news.jsonl#5"}
    assert reasons["news.jsonl#2"].startswith("line 2: not valid JSON")
    assert "text" in reasons["news.jsonl#5"]


def test_dump_ids_are_accepted_and_paths_still_refused() -> None:
    assert check_doc_id("news.jsonl#12") == "news.jsonl#12"
    for bad in ("../news.jsonl#1", "a/b.jsonl#1", "..#3", "#4", ".."):
        with pytest.raises(InputError):
            check_doc_id(bad)


def test_every_format_is_indexed_with_exact_citations(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_html(corpus / "page.html")
    make_pdf(corpus / "report.pdf")
    make_docx(corpus / "memo.docx")
    make_jsonl(corpus / "news.jsonl")
    bot = Assistant.open(corpus, tmp_path / "index", "hashing-64", progress=False)
    assert bot.documents() == ["memo.docx", "news.jsonl#1", "news.jsonl#4", "page.html", "report.pdf"]
    for question in ("卡奥斯 D3OS 排产引擎", "海尔的排产引擎", "COSMOPlat industrial platform"):
        for hit in bot.retrieve(question, k=5):
            assert bot.document(hit.doc_id).text[hit.start : hit.end] == hit.text
        answer = bot.ask(question)
        for c in answer.citations:
            assert bot.document(c.doc_id).text[c.start : c.end] == c.text
    report = bot.document("report.pdf")
    at = report.text.index("第二页")
    assert report.page_of(at) == 2
    # the text is served from the index: identical to what the loader made, pages and metadata included
    stored = bot.document("page.html")
    assert stored == load(corpus / "page.html")[0] and bot.document("report.pdf") == load(corpus / "report.pdf")[0]
    assert [d.doc_id for d in bot.list_documents()] == bot.documents()


def test_a_missing_extra_is_a_named_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    make_pdf(corpus / "report.pdf")
    make_html(corpus / "page.html")
    real_import = builtins.__import__

    def no_parsers(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in ("pypdf", "trafilatura"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_parsers)
    loaded = load_corpus(corpus)
    reasons = {s.name: s.reason for s in loaded.skipped}
    assert [d.doc_id for d in loaded.documents] == ["a.txt"]
    assert reasons["report.pdf"] == "needs the 'pdf' extra (pypdf is not installed): pip install 'assistant[pdf]'"
    assert "pip install 'assistant[html]'" in reasons["page.html"]


@pytest.mark.parametrize("name", ["broken.pdf", "broken.docx", "broken.html"])
def test_damaged_files_are_skipped_with_a_reason(tmp_path: Path, name: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("青岛。卡奥斯平台。", encoding="utf-8")
    (corpus / name).write_bytes(b"PK\x03\x04 not really" if name.endswith("docx") else b"%PDF-1.4 \x00\x01garbage")
    loaded = load_corpus(corpus)
    assert [s.name for s in loaded.skipped] == [name] and loaded.skipped[0].reason
