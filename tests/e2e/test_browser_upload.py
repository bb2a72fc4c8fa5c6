"""Upload in headless Chromium: a small Chinese document is added through the page, listed, searched with
"Search only in", cited with its span highlighted, then removed again (the shared app's corpus is temporary)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.e2e.test_browser import SOURCES_HAVE_MARK, ask
from tests.support.app import ARTIFACTS, ROOT, AppServer, shared_app
from tests.support.browser import open_page

pytestmark = [pytest.mark.browser, pytest.mark.model]

NAME = "gull_drone_zh.txt"
TEXT = "海鸥无人机是青岛港使用的一种巡检无人机。海鸥无人机每天巡查集装箱码头两次。海鸥无人机的续航时间是九十分钟。\n"


@pytest.fixture(scope="module")
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AppServer:
    return shared_app(request.config, tmp_path_factory)


@pytest.fixture(scope="module")
def page(app: AppServer) -> Iterator[Page]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open_page(app.url, height=1300) as tab:
        yield tab


def panel_has(name: str, present: bool = True) -> str:
    test = f"document.querySelector('#documents-panel')?.innerText.includes({json.dumps(name)})"
    return f"() => {test if present else '!' + test}"


def choose(page: Page, dropdown: str, value: str) -> None:
    """Pick ``value`` in a Gradio multiselect dropdown by typing it and clicking the matching option."""
    page.click(f"{dropdown} input")
    page.fill(f"{dropdown} input", value)
    page.locator("[data-testid=dropdown-option]", has_text=value).first.click()
    page.wait_for_function(
        f"() => document.querySelector({json.dumps(dropdown)}).innerText.includes({json.dumps(value)})"
    )
    page.keyboard.press("Escape")


def test_upload_ask_filtered_and_remove(app: AppServer, page: Page, tmp_path: Path) -> None:
    upload = tmp_path / NAME
    upload.write_text(TEXT, encoding="utf-8")
    page.click("#library button.label-wrap")  # open the Documents accordion
    page.wait_for_function(panel_has("qingdao_ai_plus.txt"))

    started = time.perf_counter()
    page.set_input_files("#upload input[type=file]", str(upload))
    page.wait_for_function(panel_has(NAME), timeout=180_000)  # embeds the new text with the real model
    uploaded_s = time.perf_counter() - started
    assert f"Added {NAME}." in page.locator("#library-status").inner_text()
    assert (app.corpus / NAME).read_text(encoding="utf-8") == TEXT and not (ROOT / "corpus" / NAME).exists()

    choose(page, "#doc-filter", NAME)
    ask(page, "海鸥无人机的续航时间是多少？", SOURCES_HAVE_MARK)
    heads = page.locator("#sources-panel .source-doc").all_inner_texts()
    assert heads and set(heads) == {NAME}
    marked = page.locator("#sources-panel mark.cite").all_inner_texts()
    assert all(m in TEXT for m in marked) and "九十分钟" in "".join(marked)
    page.screenshot(path=str(ARTIFACTS / "upload.png"), full_page=True)

    choose(page, "#remove-choice", NAME)
    page.click("#remove-button")
    page.wait_for_function(panel_has(NAME, present=False))
    assert not (app.corpus / NAME).exists()
    assert NAME not in page.locator("#doc-filter").inner_text()  # the filter forgets a removed document
    print(f"upload and re-index took {uploaded_s:.1f}s")
