"""The MCP server end to end over stdio with the SDK's own client, and the lazy-import guarantee."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mcp  # noqa: E402,F401 - installed by the test command; a missing extra fails, never skips
import pytest
from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

from assistant import Assistant  # noqa: E402
from tests.conftest import ARTICLE, ROOT  # noqa: E402

DOC = ARTICLE.name
QUESTION = "卡奥斯 D3OS 排产引擎"


def _server(corpus_dir: Path, index_dir: Path) -> StdioServerParameters:
    args = ["-m", "assistant", "--corpus", str(corpus_dir), "--index", str(index_dir)]
    return StdioServerParameters(
        command=sys.executable,
        args=[*args, "--embedder", "hashing-64", "-q", "mcp"],
        cwd=str(ROOT),
        env={"PYTHONPATH": str(ROOT)},
    )


@pytest.mark.anyio
async def test_stdio_tools_and_resources(corpus_dir: Path, tmp_path: Path) -> None:
    with open(tmp_path / "server.log", "w") as errlog:
        async with (
            stdio_client(_server(corpus_dir, tmp_path / "index"), errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert {"retrieve", "ask"} <= set(tools)
            assert tools["ask"].output_schema and "citations" in tools["ask"].output_schema["properties"]

            got = await session.call_tool("retrieve", {"question": QUESTION, "k": 3})
            assert not got.is_error
            passages = got.structured_content["passages"]
            text = ARTICLE.read_text(encoding="utf-8")
            assert len(passages) == 3
            for p in passages:
                assert p["doc_id"] == DOC
                for span in p["citations"]:
                    assert p["start"] <= span["start"] < span["end"] <= p["end"]

            got = await session.call_tool("ask", {"question": QUESTION})
            assert not got.is_error
            answer = got.structured_content
            assert not answer["abstained"] and answer["citations"]
            doc = (await session.read_resource(f"doc://{DOC}")).contents[0].text
            assert doc == text
            for c in answer["citations"]:
                assert doc[c["start"] : c["end"]] == c["text"]
                assert f"[{c['label']}]" in answer["answer"]
            assert json.loads(got.content[0].text) == answer  # the same result as text, for older clients

            for bad in (
                {"question": "   "},
                {"question": QUESTION, "k": 0},
                {"question": QUESTION, "k": 1000},
                {"question": QUESTION, "doc_ids": ["missing.txt"]},
            ):
                for tool in ("retrieve", "ask"):
                    got = await session.call_tool(tool, bad)
                    assert got.is_error, (tool, bad)
                    assert got.content[0].text  # a message the agent can act on
            got = await session.call_tool("retrieve", {"question": QUESTION, "k": 0})
            assert "k must be from 1 to" in got.content[0].text  # the library's own message, not a traceback
            assert not (await session.call_tool("ask", {"question": QUESTION})).is_error  # still serving

            listed = [r.uri for r in (await session.list_resources()).resources]
            assert f"doc://{DOC}" in [str(u) for u in listed]
            templates = (await session.list_resource_templates()).resource_templates
            assert "doc://{doc_id}" in [t.uri_template for t in templates]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_default_path_imports_no_integration_framework(corpus_dir: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    Assistant.open(corpus_dir, index_dir, "hashing-64", progress=False)  # build here: chunking uses langchain
    script = (
        "import sys\n"
        "from assistant import Assistant\n"
        f"bot = Assistant.open({str(corpus_dir)!r}, {str(index_dir)!r}, 'hashing-64', progress=False)\n"
        f"assert bot.ask({QUESTION!r}).citations\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'langchain', 'langchain_core', 'langchain_tests', 'llama_index', 'mcp'})\n"
        "print(bad)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cli_parses_mcp_options() -> None:
    from assistant.cli import build_parser

    args = build_parser().parse_args(["--embedder", "hashing-64", "mcp", "--transport", "http", "--port", "9"])
    assert (args.command, args.transport, args.port, args.embedder) == ("mcp", "http", 9, "hashing-64")
    assert build_parser().parse_args(["mcp"]).transport == "stdio"
