"""The chat page in headless Chromium: streamed cited answers, highlighted sources, hostile text stays inert."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.app import (
    ARTIFACTS,
    IMG_TAG,
    INJECTED_NAME,
    INJECTED_QUESTION,
    SCRIPT_TAG,
    AppServer,
    shared_app,
)
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.model]

RANGE = re.compile(r"characters (\d+)–(\d+)")
TIMINGS: dict[str, float] = {}

# Records every length the newest answer bubble goes through, to see that it streams.
WATCH_STREAM = """() => {
  window.__lengths = [];
  const chat = document.querySelector('#chat');
  new MutationObserver(() => {
    const bots = chat.querySelectorAll('.message-row.bot-row');
    if (bots.length) window.__lengths.push(bots[bots.length - 1].innerText.length);
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AppServer:
    return shared_app(request.config, tmp_path_factory)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(app: AppServer, browser: Browser) -> Iterator[Page]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    tab.set_default_timeout(TIMEOUT_MS)
    started = time.perf_counter()
    tab.goto(app.url)
    tab.wait_for_selector("#question textarea")
    TIMINGS["app_start_with_index_build_s"] = round(app.startup_seconds, 2)
    TIMINGS["page_load_s"] = round(time.perf_counter() - started, 2)
    yield tab
    (ARTIFACTS / "ui_timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n", encoding="utf-8")
    tab.close()


USER_ROWS = "#chat .message-row.user-row"
BOT_ROWS = "#chat .message-row.bot-row"
SOURCES_HAVE_MARK = "document.querySelector('#sources-panel mark.cite') !== null"


def ask(page: Page, question: str, condition: str = "true") -> float:
    """Type a question, press Enter, wait for its finished answer and ``condition`` (JS); return the seconds."""
    asked = page.locator(USER_ROWS).count()
    page.fill("#question textarea", question)
    started = time.perf_counter()
    page.press("#question textarea", "Enter")
    page.wait_for_function(
        f"""() => document.querySelectorAll({json.dumps(USER_ROWS)}).length === {asked + 1}
              && !document.querySelector('#sources-panel')?.innerText.includes('Writing the answer')
              && ({condition})"""
    )
    return time.perf_counter() - started


def test_cited_answer_streams_and_highlights_source(app: AppServer, page: Page) -> None:
    page.evaluate(WATCH_STREAM)
    TIMINGS["first_answer_s"] = round(ask(page, "What is Kaos's D3OS?", SOURCES_HAVE_MARK), 2)
    marker = page.locator("#chat a.cite-ref").first
    assert marker.inner_text() == "[1]" and marker.get_attribute("href") == "#cite-1"
    mark = page.locator("#sources-panel mark#cite-1")
    head = page.locator("#sources-panel .source-head").first.inner_text()
    start, end = (int(x) for x in RANGE.search(head).groups())
    assert mark.inner_text() == app.document(head.split()[1])[start:end]
    assert "D3OS" in mark.inner_text()
    lengths = page.evaluate("window.__lengths")
    assert len(set(lengths)) >= 3, f"the answer did not grow progressively: {lengths}"

    marker.click()
    page.wait_for_function("() => document.querySelector('#sources-panel mark#cite-1').classList.contains('flash')")
    box = mark.bounding_box()
    assert box is not None and 0 <= box["y"] <= 1000


def test_follow_up_in_chinese_keeps_history(page: Page) -> None:
    ask(page, "卡奥斯的D3OS是什么？", SOURCES_HAVE_MARK)
    assert page.locator(USER_ROWS).count() == page.locator(BOT_ROWS).count() == 2
    assert "D3OS" in page.locator("#sources-panel mark#cite-1").inner_text()
    # Only the newest answer links to the panel; older answers keep their markers as plain text.
    assert page.locator("#chat .cite-ref.old").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)


def test_hostile_document_text_is_shown_not_run(page: Page) -> None:
    ask(page, INJECTED_QUESTION, f"document.querySelector('#sources-panel')?.innerText.includes('{INJECTED_NAME}')")
    panel = page.locator("#sources-panel").inner_text()
    assert SCRIPT_TAG in panel and IMG_TAG in panel  # literal text in the context around the cited span
    page.click("#passages-accordion button.label-wrap")
    shown = f"() => document.querySelector('#passages-panel')?.innerText.includes({json.dumps(IMG_TAG)})"
    page.wait_for_function(shown)
    page.wait_for_timeout(500)  # give any injected handler the chance to fire
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#sources-panel script, #passages-panel script, #chat script").count() == 0
    assert "0." in page.locator("#passages-panel").inner_text()  # scores are listed
    page.screenshot(path=str(ARTIFACTS / "injection.png"), full_page=True)


def test_abstention_shows_no_source(page: Page) -> None:
    page.click("#clear-button")  # a fresh conversation: earlier turns would become context of the question
    page.wait_for_function(f"() => document.querySelectorAll({json.dumps(USER_ROWS)}).length === 0")
    ask(page, "What is the capital of Peru?")
    assert page.locator("#sources-panel mark").count() == 0
    assert "No source is cited" in page.locator("#sources-panel").inner_text()
    assert "does not answer" in page.locator(BOT_ROWS).last.inner_text()


def test_empty_question_gives_message_not_traceback(page: Page) -> None:
    page.fill("#question textarea", "   ")
    page.click("#ask-button")
    toast = page.locator(".toast-body.error").first
    toast.wait_for()
    text = toast.inner_text()
    assert "The question is empty" in text and "Traceback" not in text
    before = page.locator(USER_ROWS).count()
    ask(page, "What is Kaos's D3OS?", SOURCES_HAVE_MARK)  # the page keeps working after the error
    assert page.locator(USER_ROWS).count() == before + 1


@pytest.mark.parametrize("control", ["#clear-button", "#chat .icon-button-wrapper button[aria-label*='lear']"])
def test_clearing_resets_chat_and_sources(page: Page, control: str) -> None:
    if page.locator(USER_ROWS).count() == 0:
        ask(page, "What is Kaos's D3OS?", SOURCES_HAVE_MARK)
    page.locator(control).first.click()
    page.wait_for_function(f"() => document.querySelectorAll({json.dumps(USER_ROWS)}).length === 0")
    page.wait_for_function("() => document.querySelector('#sources-panel mark') === null")
    assert "Ask a question" in page.locator("#sources-panel").inner_text()
    ask(page, "卡奥斯的D3OS是什么？", SOURCES_HAVE_MARK)  # a fresh conversation works
    assert page.locator(USER_ROWS).count() == 1
