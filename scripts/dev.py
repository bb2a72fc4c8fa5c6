#!/usr/bin/env python3
"""Set up .venv and run the main job or the whole test suite. Needs only Python 3.10+.

python3 scripts/dev.py run    # set up, then start the chat app
python3 scripts/dev.py test   # set up (test extras, Chromium), then lint, tests, evaluation, benchmark
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
# every optional backend is installed and tested in CI
TEST_EXTRAS = "st,ui,eval,test,langchain,llamaindex,mcp,llm,html,pdf,docx,milvus,ray"
TORCH = "torch==2.13.0"  # the CPU build; an unpinned torch pulls a multi-GB CUDA build


def sh(*cmd: str, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, env=env)


def ensure_venv(extras: str, torch: bool) -> None:
    if not PY.exists():
        sh(sys.executable, "-m", "venv", str(VENV))
    stamp_key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode() + bytes([torch])).hexdigest()
    stamp = VENV / f".installed-{stamp_key[:16]}"
    if stamp.exists():
        return
    sh(str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    if torch:
        sh(str(PY), "-m", "pip", "install", "--quiet", TORCH)
    sh(str(PY), "-m", "pip", "install", "--quiet", "-e", f".[{extras}]")
    stamp.touch()


def ensure_chromium() -> None:
    """Debian's Chromium for the browser tests, and a CJK font so that screenshots show Chinese."""
    have_font = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").exists()
    if (shutil.which("chromium") or Path("/usr/bin/chromium").exists()) and have_font:
        return
    if os.geteuid() != 0:
        sys.exit("Chromium is needed for the browser tests: run 'sudo apt-get install -y chromium' first.")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sh("apt-get", "update", "-q", env=env)
    sh("apt-get", "install", "-y", "-q", "chromium", "fonts-wqy-microhei", env=env)


def run() -> None:
    ensure_venv("ui", torch=False)
    app = ROOT / "app.py"
    args = sys.argv[2:]
    if app.exists():
        os.execv(str(PY), [str(PY), str(app), *args])
    os.execv(str(PY), [str(PY), "-m", "assistant", "ask", "What is Kaos's D3OS?"])


def test() -> None:
    ensure_venv(TEST_EXTRAS, torch=True)
    ensure_chromium()
    steps = [
        [str(PY), "-m", "ruff", "check", "."],
        [str(PY), "-m", "mypy"],  # strict on the package; settings in pyproject.toml
        [str(PY), "-m", "pytest", "-q", "-p", "no:cacheprovider", *sys.argv[2:]],
    ]
    for extra in ("ci_eval.sh",):
        script = ROOT / "scripts" / extra
        if script.exists():
            steps.append(["bash", str(script)])
    for step in steps:
        sh(*step)


if __name__ == "__main__":
    commands = {"run": run, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python3 scripts/dev.py {{{'|'.join(commands)}}} [args...]")
    try:
        commands[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
