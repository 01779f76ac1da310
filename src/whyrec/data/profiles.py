"""Profiles are bags of tokens: FS_u = V(u) ∪ Φ^U(u) ∪ Φ^V(V(u)) (RecoNet, section 4.1).

A batch of profiles is a binary CSR matrix of shape (n_profiles, n_tokens). Items occupy token
indices [0, n_items), so a history matrix (n_profiles x n_items) is already a bag of item tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.data.sparse import binarize
from whyrec.errors import EmptyProfileError, shown


def build_profiles(
    history: sp.csr_matrix,
    user_attributes: sp.csr_matrix | None,
    item_attributes: sp.csr_matrix | None,
) -> sp.csr_matrix:
    """Bags of tokens from item histories, users' attribute tokens and their items' attributes.

    `history` is (n x n_items); both attribute matrices are over the whole token space
    (n x n_tokens and n_items x n_tokens). Without attribute matrices the bag is the history.
    """
    n_tokens = (
        item_attributes.shape[1]
        if item_attributes is not None
        else user_attributes.shape[1]
        if user_attributes is not None
        else history.shape[1]
    )
    history = sp.csr_matrix(history, dtype=np.float32)
    bag = sp.csr_matrix((history.data, history.indices, history.indptr), shape=(history.shape[0], n_tokens))
    if item_attributes is not None:
        bag = bag + history @ item_attributes  # counts of history items carrying each attribute
    if user_attributes is not None:
        bag = bag + user_attributes
    return binarize(bag)


def check_nonempty(bags: sp.csr_matrix, labels: list | None = None) -> None:
    """Raise EmptyProfileError naming the first empty bag."""
    lengths = np.diff(bags.indptr)
    if (lengths == 0).any():
        first = int(np.flatnonzero(lengths == 0)[0])
        who = f" ({shown(labels[first])})" if labels is not None else ""
        raise EmptyProfileError(
            f"profile {first}{who} is empty: it has no history item and no attribute the model knows"
        )


@dataclass(frozen=True)
class Profile:
    """A user described by what they did and who they are; they need not exist in training.

    Parameters
    ----------
    items : sequence
        External IDs of items the user interacted with.
    attributes : mapping
        Raw user attribute values, e.g. ``{"age": 27, "gender": "F"}``.
    """

    items: Sequence[Any] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
