"""The learning stage: everything that runs once, offline, to make the weights the serving stages load.

``python -m assistant train {reader,choice,answerability,all}`` (:mod:`assistant.learn.train`) rebuilds the
shipped artefacts from the shipped data: ``assistant/answer/reader.npz`` (+ ``reader.json``),
``choice.json`` and ``answerability.json``. Nothing on the question path imports this package; it imports
the serving stages (to run the real pipeline over training corpora) and :mod:`assistant.gold` (the data and
the relevance test), never :mod:`assistant.evaluation`'s runner.

| module | what |
|---|---|
| ``cache`` | an embedder that remembers vectors by text on disk (folds and sets share most texts) |
| ``leaveout`` | leave-paragraph-out / leave-passage-out corpora: answerable and unanswerable questions |
| ``rows`` | the answerability rows (features per question and fold) and the reader's texts of them |
| ``choice_rows`` | the sentence-choice rows: every candidate sentence of every answerable question |
| ``fit_answerability`` | the per-language logistic regression, thresholds chosen out of fold by group |
| ``fit_choice`` | the listwise sentence-choice model over features and the reader's columns |
| ``reader_model``, ``reader_train`` | the reader's torch modules and its training (torch: the ``test`` extra) |
| ``experiment`` | measured-not-shipped variants |
| ``train`` | the command |
"""
