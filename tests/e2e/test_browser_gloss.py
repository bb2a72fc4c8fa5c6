"""Glossed citations in headless Chromium: hover (or tap) a word of the cited Chinese sentence to read its
pinyin and English; the word-by-word line is there for an English question only; matched words are marked."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_browser import RANGE, SOURCES_HAVE_MARK, ask
from tests.support.app import ARTIFACTS, AppServer, shared_app
from tests.support.browser import open_page

pytestmark = [pytest.mark.browser, pytest.mark.model]

CITED = "#sources-panel mark#cite-1"


@pytest.fixture(scope="module")
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AppServer:
    return shared_app(request.config, tmp_path_factory)


@pytest.fixture(scope="module")
def page(app: AppServer) -> Iterator[Page]:
    with open_page(app.url) as tab:
        yield tab


def cited_text(app: AppServer, page: Page) -> str:
    """The cited span as the document stores it, from the range the panel states."""
    head = page.locator("#sources-panel .source-head").first.inner_text()
    start, end = (int(x) for x in RANGE.search(head).groups())
    return app.document(head.split()[1])[start:end]


def test_english_question_glosses_the_cited_sentence(app: AppServer, page: Page) -> None:
    ask(page, "What is Kaos's D3OS?", SOURCES_HAVE_MARK)
    mark = page.locator(CITED)
    assert mark.inner_text() == cited_text(app, page)  # tips are hidden until hovered: the sentence reads as stored
    word = mark.locator(".gw.word", has_text=re.compile("^数据")).first
    tip = word.locator(".gloss-tip")
    expect(tip).to_be_hidden()
    word.hover()
    expect(tip).to_be_visible()
    assert tip.inner_text() == "shùjù data"  # pinyin and English from CC-CEDICT
    page.locator("#sources-panel").screenshot(path=str(ARTIFACTS / "gloss.png"))
    page.mouse.move(5, 5)
    expect(tip).to_be_hidden()
    unknown = mark.locator(".gw.unknown", has_text="卡奥斯").first  # not in the dictionary: pinyin only
    unknown.click()  # a tap focuses the word, which shows its tip too
    expect(unknown.locator(".gloss-tip")).to_be_visible()
    assert unknown.locator(".gloss-tip").inner_text().strip() == "kǎ'àosī"
    line = page.locator("#sources-panel details.gloss-line")
    expect(line).to_have_count(1)
    assert line.get_attribute("open") is not None and "supply chain" in line.inner_text()
    line.locator("summary").click()  # collapsible
    expect(line.locator(".gloss-words")).to_be_hidden()
    matched = mark.locator("b.match")
    assert matched.count() >= 1 and set(matched.all_inner_texts()) == {"D3OS"}


def test_chinese_question_shows_the_plain_sentence_with_its_matches(app: AppServer, page: Page) -> None:
    ask(page, "卡奥斯的D3OS是什么？", SOURCES_HAVE_MARK)
    mark = page.locator(CITED)
    assert mark.inner_text() == cited_text(app, page)
    expect(page.locator("#sources-panel details.gloss-line")).to_have_count(0)
    expect(page.locator("#sources-panel .gw")).to_have_count(0)
    assert {"卡奥斯", "D3OS"} <= set(mark.locator("b.match").all_inner_texts())
