"""Explain what a model recommends, and the long table every downstream analysis reads.

:func:`explain_top_k` is "recommend, then explain each recommendation", written once for the
insights, the ground-truth checks, the reports and the service. :class:`AttributionTable` holds
every token of every explained pair with its relevance; a pair's *share* of a field is the field's
absolute relevance over the pair's total absolute relevance, so pairs with large and small scores
weigh alike, and a user's share is the mean over their pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from whyrec.errors import ParameterError
from whyrec.explain.base import explain_pairs
from whyrec.explain.explanation import Explanations
from whyrec.models.recommender import Recommender


@dataclass(frozen=True)
class TopKExplanations:
    """Each user's top-k recommendations and the explanation of every (user, item) pair."""

    users: np.ndarray  # dense user of each pair (each user repeated k times)
    items: np.ndarray  # users x k recommended items, best first
    explanations: Explanations  # one per pair, in the order of `users`

    def table(self) -> AttributionTable:
        return AttributionTable.from_explanations(self.explanations, self.users)


def explain_top_k(
    model: Recommender, users: np.ndarray, *, k: int = 5, method: str | None = None, exclude_seen: bool = True
) -> TopKExplanations:
    """Recommend `k` items to each user (dense indices) and explain every recommendation."""
    users = np.asarray(users, dtype=np.int64)
    if len(users) == 0:
        raise ParameterError("no users to explain")
    exclude = model.train_matrix_[users] if exclude_seen else None
    recs = model.top_k(model.score_users(users), k, exclude)
    pair_users = np.repeat(users, recs.items.shape[1])
    result = explain_pairs(model, model.user_profiles(pair_users), recs.items.ravel(), method=method)
    return TopKExplanations(pair_users, recs.items, result)


@dataclass(frozen=True)
class AttributionTable:
    """Long table of explained pairs: one row per (pair, token)."""

    rows: pd.DataFrame  # pair, user, item, token, name, field, kind, relevance
    users: np.ndarray  # user of each pair
    items: np.ndarray  # target item of each pair

    @classmethod
    def from_explanations(cls, result: Explanations, users: Any) -> AttributionTable:
        vocabulary = result.vocabulary
        rel = result.relevance
        pair = np.repeat(np.arange(len(result)), np.diff(rel.indptr))
        rows = pd.DataFrame(
            {
                "pair": pair,
                "user": np.asarray(users)[pair],
                "item": result.targets[pair],
                "token": rel.indices,
                "name": vocabulary.token_names[rel.indices],
                "field": vocabulary.token_fields[rel.indices],
                "kind": vocabulary.token_kinds[rel.indices],
                "relevance": rel.data.astype(np.float64),
            }
        )
        return cls(rows, np.asarray(users), result.targets)

    def pair_shares(self, by: str = "field") -> pd.DataFrame:
        """pairs x groups: each pair's share of |relevance| per field (or kind, or token name)."""
        rows = self.rows.assign(abs=self.rows["relevance"].abs())
        per_pair = rows.groupby(["pair", by])["abs"].sum().unstack(fill_value=0)
        return per_pair.div(per_pair.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)

    def user_shares(self, by: str = "field") -> pd.DataFrame:
        """users x groups: each user's mean pair share per field (or kind, or token name)."""
        per_pair = self.pair_shares(by)
        return per_pair.groupby(self.users[per_pair.index.to_numpy()]).mean()

    def field_shares(self) -> pd.Series:
        """Mean share of |relevance| per field over users, largest first (the global drivers)."""
        return self.user_shares("field").mean().sort_values(ascending=False).rename("share")

    def global_importance(self, by: str = "field") -> pd.DataFrame:
        """Mean absolute share, mean signed relevance and presence of each group, largest share first."""
        shares = self.user_shares(by).mean().rename("share")
        signed = self.rows.groupby(["pair", by])["relevance"].sum().groupby(level=by).mean().rename("mean_relevance")
        present = (self.rows.groupby(by)["pair"].nunique() / len(self.items)).rename("presence")
        table = pd.concat([shares, signed, present], axis=1).fillna(0.0)
        return table.sort_values("share", ascending=False)
