"""Candidate order: scores within a band are a tie broken by the text-only part of the score."""

from __future__ import annotations

from assistant.config import AnswerConfig
from assistant.retrieve.evidence import PARTS, Candidate, rank_key


def cand(row: int, score: float, overlap: float, sim_z: float = 0.0) -> Candidate:
    parts = dict.fromkeys(PARTS, 0.0) | {"overlap": overlap, "sim_z": sim_z}
    return Candidate(row, score, 0.5, tuple(parts[name] for name in PARTS))


def order(cands: list[Candidate], cfg: AnswerConfig) -> list[int]:
    return [c.row for c in sorted(cands, key=lambda c: rank_key(c, cfg))]


def test_a_near_tie_goes_to_the_sentence_with_more_of_the_question() -> None:
    noisy_first = cand(1, 0.215943, overlap=0.2, sim_z=1.5)  # ahead by 3e-4, all of it similarity
    more_words = cand(2, 0.215648, overlap=0.6, sim_z=0.1)
    assert order([noisy_first, more_words], AnswerConfig()) == [2, 1]
    assert order([noisy_first, more_words], AnswerConfig(score_band=0.0)) == [1, 2]  # by the score alone


def test_scores_further_apart_than_the_band_keep_their_order() -> None:
    ahead = cand(1, 0.30, overlap=0.0, sim_z=3.0)
    behind = cand(2, 0.25, overlap=0.9)
    assert order([behind, ahead], AnswerConfig()) == [1, 2]


def test_the_order_does_not_depend_on_noise_inside_a_band() -> None:
    cfg = AnswerConfig()
    a, b = cand(1, 0.2101, overlap=0.1), cand(2, 0.2112, overlap=0.4)
    a_noisy, b_noisy = a._replace(score=a.score + 4e-4), b._replace(score=b.score - 4e-4)
    assert order([a, b], cfg) == order([a_noisy, b_noisy], cfg) == [2, 1]
