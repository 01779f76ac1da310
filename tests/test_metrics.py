"""Ranking metrics against hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from whyrec.data import Dataset
from whyrec.errors import ParameterError
from whyrec.evaluate import evaluate, summarise


class FixedScores:
    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=np.float32)

    def score_users(self, users):
        return self.scores[users]


def _heldout(pairs, n_users=2, n_items=5):
    frame = pd.DataFrame(pairs, columns=["user", "item"])
    users = pd.DataFrame({"user": range(n_users)})
    items = pd.DataFrame({"item": range(n_items)})
    return Dataset.from_frames(frame, users, items)


def test_hand_computed_recall_precision_ndcg():
    heldout = _heldout([(0, 1), (0, 3), (1, 4)])
    scores = [[0.9, 0.8, 0.1, 0.7, 0.0], [0.5, 0.4, 0.3, 0.2, 0.1]]
    result = evaluate(FixedScores(scores), heldout, k=(2, 3), per_user=True)
    # user 0: ranking 0,1,3 -> hits at ranks 2 and 3 (k=3); user 1: item 4 last -> no hit
    assert result["recall@2"] == pytest.approx((0.5 + 0.0) / 2)
    assert result["recall@3"] == pytest.approx((1.0 + 0.0) / 2)
    assert result["precision@3"] == pytest.approx((2 / 3) / 2)
    ndcg_u0 = (1 / np.log2(3) + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    assert result["ndcg@3"] == pytest.approx(ndcg_u0 / 2)
    assert result["hit_rate@3"] == pytest.approx(0.5)
    assert list(result["per_user"]["user"]) == [0, 1]


def test_known_positives_are_excluded():
    heldout = _heldout([(0, 1)])
    scores = [[0.9, 0.8, 0.1, 0.7, 0.0], [0, 0, 0, 0, 0]]
    exclude = sp.csr_matrix(([1.0], ([0], [0])), shape=(2, 5))
    assert evaluate(FixedScores(scores), heldout, k=1, exclude=exclude)["recall@1"] == 1.0
    assert evaluate(FixedScores(scores), heldout, k=1)["recall@1"] == 0.0


def test_bad_cutoffs():
    heldout = _heldout([(0, 1)])
    with pytest.raises(ParameterError, match="every k"):
        evaluate(FixedScores(np.zeros((2, 5))), heldout, k=6)
    with pytest.raises(ParameterError, match="no user"):
        evaluate(FixedScores(np.zeros((2, 5))), heldout, k=1, users=[1])


def test_summarise_coverage():
    hits = np.array([[1, 0], [0, 0]], dtype=bool)
    out = summarise(hits, np.array([1, 2]), np.array([[0, 1], [0, 2]]), [2], 4, np.array([0, 1]))
    assert out["coverage@2"] == pytest.approx(3 / 4)
