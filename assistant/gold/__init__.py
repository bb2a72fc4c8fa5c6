"""Gold data: the question sets and SQuAD-format files the project is measured and trained on, and the
relevance test that says whether a span holds a gold answer.

The lowest layer that both the evaluation (:mod:`assistant.evaluation`) and the learning stage
(:mod:`assistant.learn`) import; it imports neither of them, nor any serving stage.
"""
