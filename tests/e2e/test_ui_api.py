"""The chat UI: pure HTML rendering (fast), then the running app's /ask and /retrieve endpoints (real model)."""

from __future__ import annotations

import html
import json
import re

import gradio as gr
import pytest
from gradio_client import Client

from assistant import Assistant
from assistant.text import messages
from assistant.types import Answer, Citation, Passage
from assistant.ui.chat import ChatService, Handlers, parse_history
from assistant.ui.render import (
    escape_chat_text,
    render_answer,
    render_passages,
    render_sources,
    stream_prefixes,
)
from tests.support.app import ARTICLE, INJECTED_NAME, INJECTED_QUESTION, SCRIPT_TAG, AppServer, shared_app

HOSTILE = 'Intro. <script>alert(1)</script> and <img src=x onerror="alert(2)"> end & more *bold* [2] $x$'
MARK = re.compile(r'<mark id="cite-(\d+)"[^>]*>(.*?)</mark>', re.DOTALL)
TAG = re.compile(r"<[^>]+>")


def visible_text(markup: str) -> str:
    """What a browser shows: tags dropped, entities decoded."""
    return html.unescape(TAG.sub("", markup))


# ---------- pure rendering ----------


def test_sources_escape_script_and_img() -> None:
    start = HOSTILE.index("<script>")
    end = HOSTILE.index("end")
    out = render_sources([Citation("evil.txt", start, end, 1, HOSTILE[start:end])], {"evil.txt": HOSTILE})
    assert "<script" not in out and "<img" not in out and "onerror=" not in out.replace("onerror=&quot;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert visible_text(out).count("<script>alert(1)</script>") == 1


def test_source_name_is_escaped() -> None:
    out = render_sources([Citation("<b>x</b>.txt", 0, 3, 1, "abc")], {"<b>x</b>.txt": "abcdef"})
    assert "<b>x</b>" not in out and "&lt;b&gt;x&lt;/b&gt;.txt" in out


@pytest.mark.parametrize(("start", "end"), [(0, 5), (3917, 3985), (len(ARTICLE.read_text("utf-8")) - 7, None)])
def test_highlight_is_exact_span_with_context(start: int, end: int | None) -> None:
    doc = ARTICLE.read_text(encoding="utf-8")
    end = len(doc) if end is None else end
    cite = Citation(ARTICLE.name, start, end, 1, doc[start:end])
    out = render_sources([cite], {ARTICLE.name: doc}, context=200)
    ((label, marked),) = MARK.findall(out)
    assert label == "1"
    assert html.unescape(marked) == doc[start:end]
    shown = visible_text(out.split('<p class="source-text">', 1)[1])
    expected = doc[max(0, start - 200) : end + 200]
    assert shown.strip("…") == expected
    assert shown.startswith("…") == (start > 200) and shown.endswith("…") == (end + 200 < len(doc))
    assert f"characters {start}–{end}" in out and ARTICLE.name in out


def test_several_citations_each_get_an_anchor() -> None:
    doc = "alpha beta gamma delta epsilon zeta eta theta"
    cites = [Citation("d", 0, 5, 1, "alpha"), Citation("d", 11, 16, 2, "gamma"), Citation("d", 40, 45, 3, "theta")]
    out = render_sources(cites, {"d": doc}, context=4)
    assert [(n, html.unescape(t)) for n, t in MARK.findall(out)] == [("1", "alpha"), ("2", "gamma"), ("3", "theta")]
    assert [int(x) for x in re.findall(r'href="#cite-(\d+)"', out)] == [1, 2, 3]


def test_no_citations_means_no_mark() -> None:
    out = render_sources([], {})
    assert "<mark" not in out and "no source is cited" in out


def test_answer_markers_link_only_real_citations_and_text_is_escaped() -> None:
    out = render_answer(HOSTILE + " fact[1].", labels=[1])
    assert '<a class="cite-ref" href="#cite-1"' in out
    assert out.count("<a ") == 1  # [2] is not a citation of this answer: stays text
    assert "<script" not in out and "<img" not in out and "*" not in out and "$" not in out
    assert visible_text(out) == HOSTILE + " fact[1]."
    old = render_answer("fact[1].", labels=[1], linked=False)
    assert "<a " not in old and visible_text(old) == "fact[1]."


def test_chat_escaping_keeps_entities_and_round_trips() -> None:
    text = "a & b <i> 'q' \"d\" # 1. - * _ ` ~ | \\ [x](y) 50% 中文"
    assert html.unescape(escape_chat_text(text)) == text
    assert not re.search(r"[<>*_`~|\\\[\]#$]", escape_chat_text(text).replace("&#", ""))


def test_passages_listed_with_scores_escaped() -> None:
    out = render_passages([Passage("d.txt", 0, 10, "<script>x</script>", 0.8123), Passage("e.txt", 5, 9, "ok", 0.5)])
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "0.8123" in out and "0.5000" in out and out.index("d.txt") < out.index("e.txt")


def test_stream_prefixes_grow_and_never_split_a_marker() -> None:
    text = "卡奥斯将D3OS排产引擎挂牌交易[1] and more words here[2]."
    steps = stream_prefixes(text, step=2)
    assert steps[-1] == text and len(steps) > 3
    assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(steps, steps[1:], strict=False))
    assert not any(re.search(r"\[\d*$", s) for s in steps)


def test_abstention_text_in_the_question_language() -> None:
    assert messages.abstain("en") == messages.ABSTAIN["en"] and "does not answer" in messages.abstain("en")
    assert messages.abstain("zh", "电费") == "文中没有回答这个问题。（文中没有提到“电费”。）"
    assert messages.with_truncation_note("x", True, "en").endswith(messages.TRUNCATED["en"])


def test_parse_history_forms() -> None:
    pairs = [["q1", "a1"], ["q2", "a2"]]
    assert parse_history(json.dumps(pairs)) == [("q1", "a1"), ("q2", "a2")]
    assert parse_history(pairs) == [("q1", "a1"), ("q2", "a2")]
    assert parse_history("") == [] and parse_history(None) == []
    with pytest.raises(gr.Error, match="not valid JSON"):
        parse_history("[oops")


def test_read_auth() -> None:
    from app import read_auth

    assert read_auth("ann:s3:cret") == ("ann", "s3:cret")
    assert read_auth("") is None and read_auth(None) is None
    with pytest.raises(SystemExit):
        read_auth("no-colon")


def test_app_flags_and_busy_port() -> None:
    import socket

    from app import parse_args, port_problem

    args = parse_args([])
    assert (args.host, args.port, args.corpus, args.index) == ("127.0.0.1", 7860, "corpus", "index")
    with pytest.raises(SystemExit):
        parse_args(["--port", "70000"])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert port_problem("127.0.0.1", port)
    assert port_problem("127.0.0.1", port) is None


# ---------- the handlers over a fake-embedder assistant (fast) ----------


@pytest.fixture
def handlers(fake_bot: Assistant) -> Handlers:
    return Handlers(ChatService(fake_bot), stream_delay=0.0)


def test_respond_streams_then_shows_sources(handlers: Handlers, fake_bot: Assistant) -> None:
    question = "卡奥斯 D3OS 排产引擎 数据产品"
    steps = list(handlers.respond(question, [], 5.0))
    messages, turns, sources, passages, box = steps[-1]
    assert len(steps) >= 3 and box == ""
    assert [m["role"] for m in messages] == ["user", "assistant"] and len(turns) == 1
    growing = [visible_text(s[0][-1]["content"]) for s in steps]
    assert all(b.startswith(a) for a, b in zip(growing, growing[1:], strict=False)) and growing[0] != growing[-1]
    assert all("Writing the answer" in s[2] for s in steps[:-1])
    answer = fake_bot.ask(question, k=5)
    assert not answer.abstained and turns[0]["text"] == answer.text and "score" in passages
    doc = fake_bot.document(answer.citations[0].doc_id).text
    marks = {int(n): visible_text(t) for n, t in MARK.findall(sources)}  # the question's words are marked inside
    assert marks == {c.label: doc[c.start : c.end] for c in answer.citations}
    assert '<b class="match same" title="D3OS (same words)">D3OS</b>' in sources
    assert "gloss-tip" not in sources and "gloss-line" not in sources  # a Chinese question: no glosses
    assert 'href="#cite-1"' in messages[-1]["content"]


def test_sources_gloss_chinese_citations_for_english_questions_only(handlers: Handlers, fake_bot: Assistant) -> None:
    doc = fake_bot.document("qingdao_ai_plus.txt").text
    start = doc.index("作为上海数据交易所数商之一")
    sentence = doc[start : doc.index("。", start) + 1]
    cited = [Citation("qingdao_ai_plus.txt", start, start + len(sentence), 1, sentence)]
    english = handlers.service.sources(
        Answer("What does the data exchange list as D3OS products?", "…[1]", False, cited)
    )
    (inside,) = MARK.findall(english)
    shown = visible_text(re.sub(r'<span class="gloss-tip".*?</span></span>', "", inside[1]))
    assert shown == sentence  # hover tips aside, the sentence reads exactly as stored
    assert '<span class="py">shùjù</span> <span class="en">data</span>' in english  # 数据 with pinyin and English
    assert english.count('<details class="gloss-line" open>') == 1 and "supply chain" in english
    assert re.search(r'<b class="match dictionary" title="data \(dictionary\)">数据</b>', english)
    assert '<b class="match same" title="D3OS (same words)">D3OS</b>' in english
    chinese = handlers.service.sources(Answer("卡奥斯的D3OS是什么？", "…[1]", False, cited))
    assert "gloss" not in chinese and '<b class="match same" title="卡奥斯 (same words)">卡奥斯</b>' in chinese


def test_respond_abstention_shows_the_library_text_and_cites_nothing(
    handlers: Handlers, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = messages.abstain("zh")

    def abstain(question: str, history: object = None, k: int = 5) -> Answer:
        return Answer(question, said, abstained=True)

    monkeypatch.setattr(handlers.service.bot, "ask", abstain)
    *_, (shown, turns, sources, _, _) = list(handlers.respond("青岛的天气怎么样？", [], 5))
    assert visible_text(shown[-1]["content"]) == said
    assert "<mark" not in sources and "No source is cited" in sources and turns[0]["text"] == said


def test_chat_shows_the_abstention_reason_and_truncation_note(handlers: Handlers) -> None:
    """The chat shows the library's answer text as it is: the reason for abstaining and the truncation note."""
    question = "What was Hisense's net profit in 2023? " + "Please answer in detail. " * 60
    answer = handlers.service.bot.ask(question)
    assert answer.abstained and answer.truncated
    *_, (shown, turns, sources, _, _) = list(handlers.respond(question, [], 5))
    text = visible_text(shown[-1]["content"])
    assert text == answer.text
    assert "It never mentions “net profit”." in text and messages.TRUNCATED["en"].strip() in text
    assert turns[0]["text"] == answer.text and "net profit" in sources


def test_respond_passes_history_and_unlinks_older_answers(handlers: Handlers, monkeypatch: pytest.MonkeyPatch) -> None:
    first = "卡奥斯 D3OS 排产引擎 数据产品"
    *_, (_, turns, _, _, _) = handlers.respond(first, [], 5)
    seen: list[object] = []
    real_ask = handlers.service.bot.ask
    monkeypatch.setattr(
        handlers.service.bot, "ask", lambda q, history=None, k=5: seen.append(history) or real_ask(q, history, k)
    )
    *_, (messages, turns2, _, _, _) = handlers.respond("它的数据产品有哪些？", turns, 3)
    assert seen == [[(first, turns[0]["text"])]]
    assert [t["question"] for t in turns2] == [first, "它的数据产品有哪些？"] and len(messages) == 4
    assert 'href="#cite-' not in messages[1]["content"] and 'class="cite-ref old"' in messages[1]["content"]


def test_handler_errors_are_gr_errors(handlers: Handlers) -> None:
    with pytest.raises(gr.Error, match="empty"):
        next(handlers.respond("  ", [], 5))
    with pytest.raises(gr.Error, match="k must"):
        handlers.retrieve("D3OS", 0)
    with pytest.raises(gr.Error, match="pair"):
        handlers.ask("D3OS", [["one"]])
    assert handlers.ask("D3OS", "")["citations"] is not None
    cleared = handlers.clear()
    assert cleared[0] == [] and cleared[1] == [] and "<mark" not in cleared[2]


def test_unexpected_failure_is_a_plain_message(handlers: Handlers, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(handlers.service.bot, "retrieve", boom)
    with pytest.raises(gr.Error) as err:
        handlers.retrieve("D3OS", 3)
    assert "secret" not in str(err.value) and "internal error" in str(err.value)


# ---------- the running app (real model) ----------


@pytest.fixture(scope="module")
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AppServer:
    return shared_app(request.config, tmp_path_factory)


@pytest.fixture(scope="module")
def client(app: AppServer) -> Client:
    return Client(app.url, verbose=False)


def check_citations(app: AppServer, result: dict) -> None:
    assert set(result) >= {"text", "abstained", "citations", "truncated"}
    for c in result["citations"]:
        assert set(c) == {"label", "doc_id", "start", "end", "text"}
        assert app.document(c["doc_id"])[c["start"] : c["end"]] == c["text"]
        assert f"[{c['label']}]" in result["text"]


@pytest.mark.model
@pytest.mark.parametrize("question", ["What is Kaos's D3OS?", "卡奥斯的D3OS是什么？"])
def test_api_ask_cites_exact_spans(app: AppServer, client: Client, question: str) -> None:
    result = client.predict(question, "", api_name="/ask")
    assert result["abstained"] is False and result["citations"]
    check_citations(app, result)
    assert any("D3OS" in c["text"] for c in result["citations"])


@pytest.mark.model
def test_api_ask_with_history_list_and_json(app: AppServer, client: Client) -> None:
    first = client.predict("What is Kaos's D3OS?", None, api_name="/ask")
    pairs = [["What is Kaos's D3OS?", first["text"]]]
    as_list = client.predict("卡奥斯的D3OS是什么？", pairs, api_name="/ask")
    as_json = client.predict("卡奥斯的D3OS是什么？", json.dumps(pairs, ensure_ascii=False), api_name="/ask")
    assert as_list == as_json
    check_citations(app, as_list)


@pytest.mark.model
@pytest.mark.parametrize("question", ["What is Kaos's D3OS?", "卡奥斯的D3OS是什么？"])
def test_api_retrieve_passages(app: AppServer, client: Client, question: str) -> None:
    hits = client.predict(question, 3, api_name="/retrieve")
    assert len(hits) == 3
    for h in hits:
        assert set(h) == {"doc_id", "start", "end", "text", "score"}
        assert app.document(h["doc_id"])[h["start"] : h["end"]] == h["text"]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert any("D3OS" in h["text"] for h in hits)


@pytest.mark.model
def test_api_abstains_without_citations(client: Client) -> None:
    result = client.predict("What is the capital of Peru?", "", api_name="/ask")
    assert result["abstained"] is True and result["citations"] == []


@pytest.mark.model
def test_api_injected_document_comes_back_verbatim(app: AppServer, client: Client) -> None:
    hits = client.predict(INJECTED_QUESTION, 5, api_name="/retrieve")
    injected = [h for h in hits if h["doc_id"] == INJECTED_NAME]
    assert injected and any(SCRIPT_TAG in h["text"] for h in injected)  # JSON carries raw text; pages escape it


@pytest.mark.model
@pytest.mark.parametrize(
    ("args", "api", "message"),
    [
        (("", ""), "/ask", "empty"),
        (("   ", "[]"), "/ask", "empty"),
        (("D3OS?", "[oops"), "/ask", "not valid JSON"),
        (("D3OS?", '[["only one"]]'), "/ask", "pair"),
        (("D3OS?", 0), "/retrieve", "k must be"),
        (("", 5), "/retrieve", "empty"),
    ],
)
def test_api_errors_are_messages_and_server_keeps_serving(client: Client, args: tuple, api: str, message: str) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict(*args, api_name=api)
    assert message in str(err.value) and "Traceback" not in str(err.value)
    after = client.predict("What is Kaos's D3OS?", "", api_name="/ask")
    assert after["citations"]


@pytest.mark.model
def test_page_is_served_with_panels(app: AppServer) -> None:
    import urllib.request

    with urllib.request.urlopen(app.url, timeout=30) as resp:
        assert resp.status == 200
    with urllib.request.urlopen(app.url + "config", timeout=30) as resp:
        config = resp.read().decode("utf-8")
    assert "Traceback" not in app.log_text()  # errors are answered as messages, not logged as crashes
    assert "sources-panel" in config and "passages-panel" in config and "Examples" in config
