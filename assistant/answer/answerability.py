"""The answerability model: per-language logistic regression over :mod:`assistant.answer.features`.

``answerability.json`` (beside this module) holds, per language, the feature means and scales, the
weights, the bias and the abstention threshold, plus the data it was fitted on (file names and SHA-256,
counts) and its held-out evaluation. It is plain JSON (no pickle), fitted and written by
:mod:`assistant.learn.fit_answerability` (``python -m assistant train answerability``); this module only
loads it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from assistant.answer.features import NAMES
from assistant.errors import AssistantError

DEFAULT_PATH = Path(__file__).with_name("answerability.json")
LANGS = ("en", "zh")


class ModelError(AssistantError):
    """The answerability model file is missing, malformed or fitted on other features."""


@dataclass(frozen=True)
class LangModel:
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float

    def probability(self, x: np.ndarray) -> float:
        z = float(((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.weights + self.bias)
        return float(_sigmoid(np.asarray([z]))[0])


@dataclass(frozen=True)
class Model:
    features: tuple[str, ...]
    langs: dict[str, LangModel]
    embedder: str = ""  # the embedder whose scores it was fitted on; "" = any

    def probability(self, x: np.ndarray, lang: str) -> float:
        return self.langs[lang if lang in self.langs else LANGS[0]].probability(x)

    def threshold(self, lang: str) -> float:
        return self.langs[lang if lang in self.langs else LANGS[0]].threshold


def parse(obj: object, where: str = "answerability model") -> Model:
    """A ``Model`` from the parsed JSON; ``ModelError`` naming what is wrong otherwise."""
    if not isinstance(obj, dict) or not isinstance(obj.get("languages"), dict):
        raise ModelError(f"{where}: expected an object with 'features' and 'languages'")
    feats = obj.get("features")
    if not isinstance(feats, list) or tuple(feats) != NAMES:
        raise ModelError(f"{where}: its feature list does not match assistant/answer/features.py; refit it")
    langs: dict[str, LangModel] = {}
    for lang, part in obj["languages"].items():
        try:
            arrays = [np.asarray(part[k], dtype=np.float64) for k in ("mean", "scale", "weights")]
            bias, threshold = float(part["bias"]), float(part["threshold"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: language {lang!r} lacks or mangles {exc}") from exc
        if any(a.shape != (len(NAMES),) or not np.isfinite(a).all() for a in arrays) or (arrays[1] <= 0).any():
            raise ModelError(f"{where}: language {lang!r} needs {len(NAMES)} finite means, positive scales, weights")
        if not (math.isfinite(bias) and 0.0 <= threshold <= 1.0):
            raise ModelError(f"{where}: language {lang!r} needs a finite bias and a threshold in [0, 1]")
        langs[lang] = LangModel(arrays[0], arrays[1], arrays[2], bias, threshold)
    if not set(LANGS) <= set(langs):
        raise ModelError(f"{where}: needs the languages {', '.join(LANGS)}")
    data = obj.get("data")
    embedder = data.get("model", "") if isinstance(data, dict) else ""
    return Model(tuple(feats), langs, str(embedder))


def load(path: str | Path = DEFAULT_PATH) -> Model:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(
            f"answerability model {str(path)!r} is missing; run: python -m assistant train answerability"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"answerability model {str(path)!r} is not valid JSON: {exc}") from exc
    return parse(obj, str(path))


@cache
def shipped() -> Model:
    """The model shipped with the package, loaded once."""
    return load(DEFAULT_PATH)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))
