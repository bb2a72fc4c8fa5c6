"""Security: no unsafe deserialisation or eval in the code, document ids stay inside the corpus, the app
listens on 127.0.0.1 by default and refuses unauthenticated API calls when a login is configured."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

from assistant import Assistant, InputError
from assistant.embed import HashingEmbedder
from tests.support.reliability import ROOT, make_corpus

BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "marshal", "shelve", "cloudpickle"}
BANNED_CALLS = {"eval", "exec"}
BANNED_ATTRS = {("joblib", "load"), ("torch", "load"), ("marshal", "loads"), ("marshal", "load")}


def python_files() -> list[Path]:
    files = [*(ROOT / "assistant").rglob("*.py"), *(ROOT / "scripts").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    if (ROOT / "app.py").exists():
        files.append(ROOT / "app.py")
    return sorted(p for p in files if p.resolve() != Path(__file__).resolve())


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def problems(source: str) -> list[str]:
    """Unsafe constructs in Python source, found in the syntax tree (comments and strings do not count)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BANNED_MODULES:
            found.append(f"{line}: from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom):  # a bare load(...) later would hide where it came from
            module = (node.module or "").split(".")[-1]
            found += [
                f"{line}: from {node.module} import {a.name}"
                for a in node.names
                if (module, a.name) in BANNED_ATTRS or (module == "yaml" and a.name in ("load", "load_all"))
            ]
        elif isinstance(node, ast.Call):
            name = dotted(node.func)
            parts = tuple(name.split("."))
            if name in BANNED_CALLS or (len(parts) >= 2 and parts[-2:] in BANNED_ATTRS):
                found.append(f"{line}: {name}(...)")
            elif name in ("__import__", "importlib.import_module") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and str(arg.value).split(".")[0] in BANNED_MODULES:
                    found.append(f"{line}: {name}({arg.value!r})")
            elif (
                parts[-1] == "load"
                and (flag := keyword(node, "allow_pickle")) is not None
                and not (isinstance(flag, ast.Constant) and flag.value is False)
            ):
                found.append(f"{line}: {name}(..., allow_pickle=...)")
            elif parts[-2:] == ("yaml", "load") or parts[-2:] == ("yaml", "load_all"):
                loader = keyword(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
                if loader is None or "Safe" not in dotted(loader):
                    found.append(f"{line}: {name}(...) without SafeLoader")
            elif parts[-1] == "read_pickle" or parts[-1] == "unsafe_load":
                found.append(f"{line}: {name}(...)")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "import cPickle as p",
        "from dill import loads",
        "import joblib\njoblib.load('x')",
        "import torch\ntorch.load('m.pt')",
        "import numpy as np\nnp.load('a.npy', allow_pickle=True)",
        "import numpy\nnumpy.load('a.npy', allow_pickle=flag)",
        "import yaml\nyaml.load(text)",
        "import yaml\nyaml.load(text, Loader=yaml.FullLoader)",
        "import marshal\nmarshal.loads(b'')",
        "eval('1+1')",
        "exec('x = 1')",
        "__import__('pickle')",
        "import importlib\nimportlib.import_module('marshal')",
        "from numpy import load\nload('a.npy', allow_pickle=True)",
        "from joblib import load",
        "from yaml import load",
        "import pandas as pd\npd.read_pickle('x')",
    ],
)
def test_scanner_catches_each_unsafe_form(snippet: str) -> None:
    assert problems(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "import numpy as np\nnp.load('a.npy', allow_pickle=False)",
        "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
        "model.eval()",
        "# pickle.loads(data) in a comment\ntext = 'eval(x)'",
        "import json\njson.loads('{}')",
    ],
)
def test_scanner_allows_safe_forms(snippet: str) -> None:
    assert problems(snippet) == [], snippet


def test_repository_has_no_unsafe_deserialisation_or_eval() -> None:
    files = python_files()
    assert len(files) >= 15 and any(p.name == "store.py" for p in files)
    report = {str(p.relative_to(ROOT)): found for p in files if (found := problems(p.read_text(encoding="utf-8")))}
    assert report == {}, f"unsafe code: {report}"


# --- document ids -------------------------------------------------------------------------------------------

ESCAPES = [
    "../../etc/passwd",
    "../corpus/qingdao_ai_plus.txt",
    "/etc/passwd",
    "a/../qingdao_ai_plus.txt",
    "./qingdao_ai_plus.txt",
    "..",
    ".",
    "..\\..\\windows\\win.ini",
    "qingdao_ai_plus.txt\x00.md",
    "%2e%2e%2fetc%2fpasswd",
    "~/.ssh/id_rsa",
    "outside.txt",
    "",
    "   ",
]


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    base = tmp_path_factory.mktemp("security")
    (base / "outside.txt").write_text("secret outside the corpus", encoding="utf-8")
    corpus = make_corpus(base / "corpus")
    (corpus / "link.txt").symlink_to(base / "outside.txt")
    return Assistant.open(corpus, base / "index", HashingEmbedder(64), progress=False)


@pytest.mark.parametrize("doc_id", ESCAPES)
def test_document_ids_cannot_leave_the_corpus(bot: Assistant, doc_id: str) -> None:
    with pytest.raises(InputError) as info:
        bot.document(doc_id)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("doc_id", [None, 3, b"qingdao_ai_plus.txt", ["qingdao_ai_plus.txt"]])
def test_document_id_must_be_text(bot: Assistant, doc_id: object) -> None:
    with pytest.raises(InputError):
        bot.document(doc_id)  # type: ignore[arg-type]


def test_link_out_of_the_corpus_is_not_served(bot: Assistant) -> None:
    assert "link.txt" not in bot.documents() and any(s.name == "link.txt" for s in bot.skipped)
    with pytest.raises(InputError):
        bot.document("link.txt")
    assert bot.document("qingdao_ai_plus.txt").text


# --- the app: listens on 127.0.0.1, refuses unauthenticated calls when ASSISTANT_AUTH is set ---------------


def test_app_defaults_to_loopback() -> None:
    import app  # the repository root is on sys.path (tests.support.reliability puts it there)

    args = app.parse_args([])
    assert args.host == "127.0.0.1"
    assert "ASSISTANT_AUTH" in Path(app.__file__).read_text(encoding="utf-8")


@pytest.mark.model
@pytest.mark.slow
def test_running_app_listens_only_on_loopback(request: pytest.FixtureRequest, tmp_path_factory) -> None:  # noqa: ANN001
    import psutil

    from tests.support.reliability import shared_app

    server = shared_app(request.config, tmp_path_factory)
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(server.process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert ("127.0.0.1", server.port) in listening
    assert all(ip in ("127.0.0.1", "::1") for ip, _ in listening), listening


@pytest.mark.model
@pytest.mark.slow
def test_auth_refuses_unauthenticated_api_calls(request: pytest.FixtureRequest, tmp_path_factory) -> None:  # noqa: ANN001
    import httpx
    from gradio_client import Client

    from tests.support.reliability import shared_app, start_app, stop

    base = shared_app(request.config, tmp_path_factory)  # reuse its corpus and built index: no second build
    server = start_app(
        tmp_path_factory.mktemp("auth"), base.corpus, base.index, env={"ASSISTANT_AUTH": "tester:s3cret-pass"}
    )
    try:
        assert "index loaded" in server.log_text()
        for path in ("gradio_api/info", "config", "gradio_api/call/ask"):
            response = httpx.post(server.url + path, json={"data": ["What is D3OS?", "", 5]}, timeout=30)
            if response.status_code == 405:
                response = httpx.get(server.url + path, timeout=30)
            assert response.status_code in (401, 403), (path, response.status_code, response.text[:200])
        with pytest.raises(Exception):  # noqa: B017 - the client's error type differs by version
            Client(server.url, auth=("tester", "wrong"), verbose=False, download_files=False)
        with pytest.raises(Exception):  # noqa: B017
            Client(server.url, verbose=False, download_files=False)
        client = Client(server.url, auth=("tester", "s3cret-pass"), verbose=False, download_files=False)
        start = time.monotonic()
        answer = client.predict("What is Kaos's D3OS?", "", 5, api_name="/ask")
        assert answer["citations"] and time.monotonic() - start < 120
        doc = (base.corpus / answer["citations"][0]["doc_id"]).read_text(encoding="utf-8")
        assert all(doc[c["start"] : c["end"]] == c["text"] for c in answer["citations"])
    finally:
        stop(server.process)
