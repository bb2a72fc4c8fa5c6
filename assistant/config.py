"""Every setting of the pipeline, as small immutable records in one place (see docs/configuration.md).

Each stage takes its own record; ``Assistant.open`` takes them all. Weights were chosen on the dev split of
``eval/questions.jsonl`` only; the test split is held out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

FAISS_FACTORY_ENV = "ASSISTANT_FAISS_FACTORY"  # read by the command line and the app only, as their default
STORE_ENV = "ASSISTANT_STORE"  # the default of --store (a Milvus URI; docs/milvus.md)



def cache_dir() -> Path:
    """The user's cache folder for files derived from shipped data (parsed dictionaries, the ONNX graph):
    ``$XDG_CACHE_HOME/assistant``, else ``~/.cache/assistant``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "assistant"

class ChunkingParams(NamedTuple):
    """How documents are cut: chunks (retrieval units) and sentences (citation units), in characters."""

    chunk_size: int = 240
    chunk_overlap: int = 60
    max_sentence: int = 120


class RetrievalConfig(NamedTuple):
    """How the dense and lexical channels are fused."""

    mode: str = "fused"  # "fused" (shipped), "dense" or "lexical" (baselines for the evaluation)
    candidates: int = 40  # chunks taken from each channel before fusion
    w_chunk: float = 0.5  # weight of the chunk's own cosine similarity
    w_sentence: float = 0.5  # weight of its best sentence's cosine similarity
    w_lexical: float = 0.06  # weight of BM25 (normalised to the best chunk) times vocabulary coverage
    history_weight: float = 2.0  # how much the previous turn pulls the query vector
    history_answer_chars: int = 120  # how much of the previous answer joins the context


class AnswerConfig(NamedTuple):
    """Sentence selection; weights chosen on the dev split of eval/questions.jsonl only."""

    passages: int = 8  # sentences are drawn from this many top passages
    # these passages are then re-ordered by retrieval score + w_evidence × their best sentence's score
    w_evidence: float = 0.5
    max_citations: int = 2
    second_margin: float = 0.02  # a second sentence must score within this of the first
    w_similarity: float = 0.03  # per standard deviation of cosine similarity within the pool
    # scores this close are a tie, ordered by the part of the score read from the text alone (docs/evaluation.md
    # "Ties"): the model's own numeric noise across engines and CPUs is up to ~2e-3 (p99 1.75e-3) and must not
    # decide which sentence is cited first. 0: order by the score alone.
    score_band: float = 0.002
    w_overlap: float = 0.2  # IDF-weighted share of the question's words found in the sentence
    w_context: float = 0.5  # question words found only in the previous sentence count this much
    # answer types: a "how many / 多少" question prefers sentences that state a quantity, a "who is /
    # 是谁" question sentences that give someone's position (three times that right before the name)
    w_answer_type: float = 0.03
    w_history: float = 0.05  # IDF-weighted share of the previous question's words (conversations)
    w_novelty: float = 0.02  # share of the sentence that is not the question's own words
    min_chars: int = 6
    # penalty for what is not a statement: a short line that does not end a sentence (heading, photo
    # caption, by-line, stub cut by a page break) or a question the text asks itself
    w_heading: float = 0.1
    heading_chars: int = 30
    # re-order the best candidates with the trained reader and the learned sentence choice
    # (assistant/answer/{reader,choice}.py, docs/abstention.md): better first citations on held-out Wikipedia
    # articles, the same on the Qingdao news set but worse conversations there (.808 -> .769), ~100 ms more per
    # question on 2 cores (onnxruntime; loaded on the first question). Used only with the embedder the choice
    # was fitted on (the bundled model). Off by default: the hand-weighted order keeps the Qingdao gate.
    reader: bool = False


class AbstentionConfig(NamedTuple):
    """When the extractive answerer declines to answer."""

    # Abstain when the best sentence matches the question no better than off-topic background
    # sentences do (cosine margin).
    margin: float = -0.015
    # In a conversation the question is also judged alone, more leniently: a follow-up such as
    # "And how much did it cost?" is vague alone, but an off-topic question stays off-topic.
    own_margin: float = -0.045
    # Also abstain when the answerability model's confidence is below its per-language threshold
    # (assistant/answer/answerability.json, docs/abstention.md). Off: it lowered Qingdao metrics.
    learned: bool = False
    # An answer whose confidence (the answerability model's probability that the documents answer the
    # question) is below this is worded as the closest the documents come (text/messages.py HEDGED),
    # not as an answer; it keeps its citations and is not an abstention. 0 turns the wording off.
    hedge_below: float = 0.5


class StoreConfig(NamedTuple):
    """The on-disk index. ``faiss_factory``: any FAISS factory string (``Flat``, ``HNSW32``, ``HNSW32,SQ8``,
    ``IVF1024,SQ8``); ``None`` chooses by corpus size. Changing it rebuilds the index on the next open."""

    faiss_factory: str | None = None
    # where chunk vectors and BM25 weights are served from: None = the local FAISS + bm25s files;
    # ``milvus://PATH`` (embedded Milvus Lite) or ``http(s)://HOST:PORT`` (server); see docs/milvus.md
    uri: str | None = None

    @classmethod
    def from_env(cls) -> StoreConfig:
        """The command line's default: ``$ASSISTANT_FAISS_FACTORY`` and ``$ASSISTANT_STORE`` when set and not blank."""
        return cls(
            faiss_factory=os.environ.get(FAISS_FACTORY_ENV, "").strip() or None,
            uri=os.environ.get(STORE_ENV, "").strip() or None,
        )


LLM_URL_ENV = "ASSISTANT_LLM_URL"  # read by the app only, as the defaults of --llm, --model, --api-key-env
LLM_MODEL_ENV = "ASSISTANT_LLM_MODEL"
LLM_KEY_ENV_ENV = "ASSISTANT_LLM_KEY_ENV"


class GeneratorConfig(NamedTuple):
    """An optional LLM behind an OpenAI-compatible endpoint that writes the answer (see docs/generation.md).

    ``api_key_env`` is the *name* of the environment variable holding the key; the key itself is never stored.
    """

    base_url: str  # e.g. http://127.0.0.1:11434/v1 (Ollama)
    model: str
    api_key_env: str | None = None  # None: a local server that needs no key
    timeout: float = 30.0  # seconds per request (connect, each read, and the whole streamed answer)
    max_retries: int = 2  # extra attempts after 429 / 5xx / refused connection; bounded to 0..5
    backoff: float = 0.5  # first retry waits this long, doubling each time
    retry_after_cap: float = 10.0  # a server's Retry-After is honoured up to this many seconds
    temperature: float = 0.0
    max_tokens: int = 400
    evidence_sentences: int = 4  # best pool sentences given to the model, each with its neighbouring sentences
    neighbours: int = 1  # sentences before and after each one
    # when the model declines, the quoted answer is shown (with a note) if its confidence is at least this;
    # None: the answerability model's threshold for the question's language; 0: always (docs/generation.md)
    quote_on_decline: float | None = None
