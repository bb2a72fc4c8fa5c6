"""The document library on the chat page: upload, documents panel, remove, "Search only in", read-only mode,
and the page's title and examples from ``<corpus>/assistant.toml``. Handler level, over a fake embedder (fast);
one endpoint test against the shared running app (real model)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client

from assistant import Assistant
from assistant.errors import CorpusError
from assistant.ingest.corpus import MAX_BYTES, SETTINGS_FILE, load_corpus
from assistant.text import messages
from assistant.ui.chat import ChatService, Handlers, build
from assistant.ui.library import LibraryHandlers, page_settings, read_settings
from tests.support.app import INJECTED_NAME, AppServer, free_port, shared_app

ROOT = Path(__file__).resolve().parents[2]
MARK = re.compile(r'<mark id="cite-(\d+)"[^>]*>(.*?)</mark>', re.DOTALL)
LANTERN = (
    "Harbor Lantern field notes.\n\n"
    "The Harbor Lantern robot inspects the harbour cranes of Qingdao every night. "
    "Each inspection of the Harbor Lantern robot takes forty minutes.\n"
)
GULL = "# 海鸥无人机\n\n海鸥无人机每天巡查青岛港的集装箱码头。海鸥无人机的续航时间是九十分钟。\n"


@pytest.fixture
def chat(fake_bot: Assistant) -> Handlers:
    return Handlers(ChatService(fake_bot), stream_delay=0.0)


@pytest.fixture
def lib(chat: Handlers) -> LibraryHandlers:
    return LibraryHandlers(chat.service)


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """Files as a browser upload leaves them: outside the corpus folder, under their own names."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    (folder / "lantern.txt").write_text(LANTERN, encoding="utf-8")
    (folder / "gull.md").write_text(GULL, encoding="utf-8")
    return folder


def corpus_state(bot: Assistant) -> tuple[list[str], list[str]]:
    return sorted(p.name for p in bot.corpus.folder.iterdir()), bot.documents()


def test_upload_lists_documents_and_filtered_answer_cites_them(
    chat: Handlers, lib: LibraryHandlers, fake_bot: Assistant, uploads: Path
) -> None:
    steps = list(lib.upload([str(uploads / "lantern.txt"), str(uploads / "gull.md")], []))
    assert len(steps) == 2 and "Adding lantern.txt, gull.md" in steps[0][0]  # progress first, then the result
    status, panel, remove, doc_filter, box = steps[-1]
    assert "Added gull.md, lantern.txt." in status and box is None
    assert "lantern.txt" in panel and "gull.md" in panel and "qingdao_ai_plus.txt" in panel
    lantern = next(d for d in fake_bot.list_documents() if d.doc_id == "lantern.txt")
    assert f'<td class="num">{lantern.chars:,}</td><td class="num">{lantern.chunks}</td>' in panel
    assert lantern.chars == len(LANTERN) and lantern.chunks >= 1 and lantern.indexed in panel
    assert set(doc_filter["choices"]) == set(remove["choices"]) == {"gull.md", "lantern.txt", "qingdao_ai_plus.txt"}

    *_, (_, _, sources, _, _) = chat.respond(
        "How long does an inspection of the Harbor Lantern robot take?", [], 5, ["lantern.txt"]
    )
    marks = [html.unescape(re.sub(r"<[^>]+>", "", t)) for _, t in MARK.findall(sources)]  # matched words are <b>
    assert marks and all(m in LANTERN for m in marks) and "forty minutes" in "".join(marks)
    result = chat.ask("海鸥无人机的续航时间是多少？", "", 5, doc_ids=["gull.md"])
    assert result["citations"] and {c["doc_id"] for c in result["citations"]} == {"gull.md"}
    assert all(GULL[c["start"] : c["end"]] == c["text"] for c in result["citations"])
    assert {p["doc_id"] for p in chat.retrieve("Harbor Lantern robot", 5, doc_ids=["lantern.txt"])} == {"lantern.txt"}
    assert len({p["doc_id"] for p in chat.retrieve("青岛", 10, doc_ids=None)}) >= 2  # no filter: every document
    assert chat.ask("Harbor Lantern robot", "", 5)["citations"]  # old clients: no doc_ids at all
    with pytest.raises(gr.Error, match="Unknown document id"):
        chat.ask("Harbor Lantern robot", "", 5, doc_ids=["nope.txt"])


def test_remove_takes_documents_off_the_panel_and_the_filter(
    lib: LibraryHandlers, fake_bot: Assistant, uploads: Path
) -> None:
    list(lib.upload([str(uploads / "lantern.txt"), str(uploads / "gull.md")], []))
    status, panel, remove, doc_filter = lib.remove(["lantern.txt"], ["lantern.txt", "gull.md"])
    assert "Removed lantern.txt." in status and "lantern.txt" not in panel and "gull.md" in panel
    assert doc_filter["value"] == ["gull.md"] and "lantern.txt" not in doc_filter["choices"]
    assert not (fake_bot.corpus.folder / "lantern.txt").exists() and "lantern.txt" not in fake_bot.documents()
    assert messages.CHOOSE_TO_REMOVE in lib.remove([], None)[0]
    before = corpus_state(fake_bot)
    status, *_ = lib.remove(["gull.md", "qingdao_ai_plus.txt"], None)
    assert "Nothing was removed" in status and "every document" in status and corpus_state(fake_bot) == before


def test_unsupported_or_oversized_upload_is_refused_and_changes_nothing(
    lib: LibraryHandlers, fake_bot: Assistant, uploads: Path, tmp_path: Path
) -> None:
    (uploads / "tool.exe").write_bytes(b"MZ\x90\x00binary")
    with (uploads / "huge.txt").open("wb") as f:
        f.truncate(MAX_BYTES + 1)
    (uploads / "qingdao_ai_plus.txt").write_text("clash", encoding="utf-8")
    before = corpus_state(fake_bot)
    for files, said in [
        (["tool.exe"], "tool.exe: not a .txt"),
        (["huge.txt"], "over the"),
        (["lantern.txt", "tool.exe"], "tool.exe"),  # one bad file: none of the batch is added
        (["qingdao_ai_plus.txt"], "already in"),
    ]:
        *_, (status, panel, _, _, _) = lib.upload([str(uploads / n) for n in files], [])
        assert "Nothing was added" in status and said in html.unescape(status), status
        assert "error" in status and "lantern.txt" not in panel
        assert corpus_state(fake_bot) == before
    assert list(lib.upload([], [])) == []  # the box was cleared: nothing to do


def test_readonly_refuses_and_hides_the_controls(
    lib: LibraryHandlers, fake_bot: Assistant, uploads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_READONLY", "1")
    before = corpus_state(fake_bot)
    *_, (status, *_) = lib.upload([str(uploads / "lantern.txt")], [])
    assert "Nothing was added" in status and "read-only" in status
    assert "read-only" in lib.remove(["qingdao_ai_plus.txt"], None)[0]
    assert corpus_state(fake_bot) == before
    demo = build(fake_bot)
    by_id = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    assert by_id["upload"].visible is False and "remove-button" in by_id
    assert "read-only" in by_id["library-readonly"].value
    monkeypatch.delenv("ASSISTANT_READONLY")
    by_id = {getattr(b, "elem_id", None): b for b in build(fake_bot).blocks.values()}
    assert by_id["upload"].visible is True and "library-readonly" not in by_id


def test_title_and_examples_from_the_corpus_settings(fake_bot: Assistant, corpus_dir: Path) -> None:
    generic = page_settings(fake_bot)  # no assistant.toml: generic title, a question about the first document
    assert generic.title == messages.GENERIC_TITLE
    assert generic.examples == ("《一场顶层设计的PK,推动产业深度转型升级》讲了什么？",)
    (corpus_dir / SETTINGS_FILE).write_text(
        'title = "Harbour <b>notes</b>"\ndescription = "Ask **anything**."\n'
        'examples = ["What is D3OS?", "D3OS是什么？"]\n',
        encoding="utf-8",
    )
    page = page_settings(fake_bot)
    assert (page.title, page.description, page.examples) == (
        "Harbour <b>notes</b>",
        "Ask **anything**.",
        ("What is D3OS?", "D3OS是什么？"),
    )
    demo = build(fake_bot)
    assert demo.title == "Harbour <b>notes</b>"
    heading = next(
        b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown) and "Ask **anything**" in b.value
    )
    assert "<b>" not in heading and html.unescape(heading).startswith("## Harbour <b>notes</b>")
    assert load_corpus(corpus_dir).skipped == ()  # the settings file is not a document, nor a skipped one
    shipped = read_settings(ROOT / "corpus")
    assert shipped is not None and "Qingdao" in shipped.title and "What is Kaos's D3OS?" in shipped.examples
    assert any("卡奥斯" in q for q in shipped.examples)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('title = "unclosed\n', "is not valid TOML"),
        ('examples = "What is D3OS?"\n', "examples must be a list"),
        ("examples = [1, 2]\n", "examples must be a list"),
        ("title = 3\n", "title must be a string"),
        ('titel = "x"\n', "unknown key 'titel'"),
    ],
)
def test_malformed_settings_are_a_clear_start_up_error(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    from app import main

    path = corpus_dir / SETTINGS_FILE
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CorpusError, match=re.escape(problem)) as err:
        read_settings(corpus_dir)
    assert str(path) in str(err.value)
    assert main(["--corpus", str(corpus_dir), "--index", str(tmp_path / "index"), "--port", str(free_port())]) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"error: {path}: ") and problem in said and "Traceback" not in said


# ---------- the running app (real model) ----------


@pytest.mark.model
def test_api_doc_ids_limit_ask_and_retrieve(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    app: AppServer = shared_app(request.config, tmp_path_factory)
    client = Client(app.url, verbose=False)
    result = client.predict("What is the Harbor Lantern robot?", [INJECTED_NAME], "", 5, api_name="/ask_in_documents")
    assert result["citations"] and {c["doc_id"] for c in result["citations"]} == {INJECTED_NAME}
    hits = client.predict("What is Kaos's D3OS?", [INJECTED_NAME], 3, api_name="/retrieve_in_documents")
    assert hits and {h["doc_id"] for h in hits} == {INJECTED_NAME}
    assert any("D3OS" in c["text"] for c in client.predict("What is Kaos's D3OS?", "", api_name="/ask")["citations"])
