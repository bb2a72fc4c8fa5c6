"""The chat page with ``--llm`` (set through ASSISTANT_LLM_URL/MODEL) against the scripted server, in Chromium.

The quoted answer appears first, the generated one streams in its place, and its [n] markers end up as
working links to highlighted exact spans. No model runs: tests/support/fake_llm.py plays the server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.support.app import AppServer, start_app, stop_app
from tests.support.browser import open_page
from tests.support.fake_llm import FakeLLM, Reply, question_of

pytestmark = [pytest.mark.browser, pytest.mark.model]

RANGE = re.compile(r"characters (\d+)–(\d+)")
GENERATED = "卡奥斯把D3OS排产引擎等数据产品挂牌交易"
USER_ROWS = "#chat .message-row.user-row"
BOT_ROWS = "#chat .message-row.bot-row"
# Every text the newest answer bubble goes through: the quoted answer, then the generated one growing.
WATCH = """() => {
  window.__texts = [];
  const chat = document.querySelector('#chat');
  new MutationObserver(() => {
    const bots = chat.querySelectorAll('.message-row.bot-row');
    if (bots.length) window.__texts.push(bots[bots.length - 1].innerText);
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


def slow_answer(request: dict[str, Any]) -> Reply:
    """The generated answer, citing the source it comes from, streamed slowly enough to be seen growing."""
    assert "D3OS" in question_of(request)
    prompt = request["messages"][-1]["content"]
    n = re.search(r"^\[(\d+)\] \([^)]*\) [^\n]*D3OS排产引擎", prompt, re.M)
    assert n, prompt
    return Reply(f"{GENERATED}[{n.group(1)}]。", chunk_chars=3, chunk_delay=0.08)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppServer, FakeLLM]]:
    with FakeLLM(slow_answer) as llm:
        env = {"ASSISTANT_LLM_URL": llm.url, "ASSISTANT_LLM_MODEL": "fake-model"}
        server = start_app(Path(tmp_path_factory.mktemp("llm_app")), env=env)
        try:
            yield server, llm
        finally:
            stop_app(server)


@pytest.fixture(scope="module")
def page(app: tuple[AppServer, FakeLLM]) -> Iterator[Page]:
    with open_page(app[0].url) as tab:
        yield tab


def test_generated_answer_streams_with_working_citation_links(app: tuple[AppServer, FakeLLM], page: Page) -> None:
    server, llm = app
    page.evaluate(WATCH)
    page.fill("#question textarea", "卡奥斯的D3OS是什么？")
    page.press("#question textarea", "Enter")
    done = f"""() => document.querySelectorAll({json.dumps(USER_ROWS)}).length === 1
        && [...document.querySelectorAll({json.dumps(BOT_ROWS)})].pop()?.innerText.includes({json.dumps(GENERATED)})
        && document.querySelector('#chat a.cite-ref') !== null
        && document.querySelector('#sources-panel mark#cite-1') !== null"""
    page.wait_for_function(done)
    assert llm.requests and llm.requests[-1]["stream"] is True

    texts = [t for t in page.evaluate("window.__texts") if t.strip()]
    quoted = [t for t in texts if GENERATED[:4] not in t]
    growing = {len(t) for t in texts if GENERATED[:4] in t}
    assert quoted, "the quoted answer was not shown first"
    assert len(growing) >= 3, f"the generated answer did not stream: {texts}"

    marker = page.locator(BOT_ROWS).last.locator("a.cite-ref").first
    assert marker.inner_text() == "[1]" and marker.get_attribute("href") == "#cite-1"
    head = page.locator("#sources-panel .source-head").first.inner_text()
    start, end = (int(x) for x in RANGE.search(head).groups())
    mark = page.locator("#sources-panel mark#cite-1")
    assert mark.inner_text() == server.document(head.split()[1])[start:end]
    marker.click()
    page.wait_for_function("() => document.querySelector('#sources-panel mark#cite-1').classList.contains('flash')")
    assert "Showing the quoted answer" not in page.locator(BOT_ROWS).last.inner_text()
