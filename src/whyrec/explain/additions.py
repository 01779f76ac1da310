"""The single addition that lifts an item highest, found exactly without scoring every addition in full.

"Why not item t?" asks which one token, added to the profile, brings t to its best rank (ties
broken by the larger score of t, then by the first candidate). Re-scoring every catalogue item
for every candidate costs candidates x items; on a catalogue of ten thousand items that is
10⁸ scores a question. The ranks that matter are few, so the search bounds before it scores:

1. Every candidate is scored exactly on a few columns only: t and the W items that outrank t
   before the edit (W at least twice t's rank). The items of that set still above t after the
   edit give a lower bound on t's rank: the rank counts them and perhaps more.
2. Candidates are taken in order of that bound, scored on every item, and ranked exactly. Once
   the best rank found is below the next candidate's bound, no later candidate can reach it,
   and the search stops.

The answer is the one a full search gives. A tolerance on the bound's comparisons keeps it
valid when the columns' and the full rows' products round differently.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from whyrec.explain.edits import ProfileEdits

MIN_COLUMNS = 256
TOLERANCE = 1e-5  # relative: far above float32 rounding of a score, far below any gap that matters


class Addition(NamedTuple):
    """The best addition: its position among the candidates, the rank it gives the target, and
    the target's score with it."""

    position: int
    rank: int
    score: float


def best_addition(edits: ProfileEdits, candidates: np.ndarray, target: int, block: int = 256) -> Addition:
    """The candidate token whose addition ranks `target` best (see the module docstring)."""
    # many small products: BLAS threads then cost more than they give, and contend with torch's
    with threadpool_limits(1, user_api="blas"):
        return _search(edits, np.asarray(candidates, dtype=np.int64), target, block)


def _search(edits: ProfileEdits, candidates: np.ndarray, target: int, block: int) -> Addition:
    bound, score = rank_bounds(edits, candidates, target)
    order = np.lexsort((-score, bound))  # stable: the first candidate wins a full tie, as in a full search
    best: tuple[int, float, int] | None = None  # (rank, -score, position)
    start = 0
    while start < len(order):
        chunk = order[start : start + block]
        if best is not None:
            # the bound order makes the candidates that cannot win a suffix of it
            hopeless = (bound[chunk] > best[0]) | (
                (bound[chunk] == best[0]) & (score[chunk] < -best[1] - _slack(score[chunk]))
            )
            if hopeless.any():
                chunk = chunk[: int(np.argmax(hopeless))]
                start = len(order)
        if len(chunk):
            scores = edits.addition_scores(candidates[chunk])
            ranks = edits.ranks(scores, target, extra_seen=candidates[chunk])
            found = min(zip(ranks.tolist(), (-scores[:, target]).tolist(), chunk.tolist(), strict=True))
            best = found if best is None else min(best, found)
        start += block
    assert best is not None, "best_addition needs at least one candidate"
    return Addition(position=best[2], rank=int(best[0]), score=-best[1])


def rank_bounds(
    edits: ProfileEdits, candidates: np.ndarray, target: int, block: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """A lower bound on `target`'s rank with each candidate added, and its score then."""
    base = edits.removal_scores(np.zeros((1, len(edits.tokens)), dtype=bool))[0]
    eligible = np.ones(edits.n_items, dtype=bool)
    eligible[edits.history] = False
    eligible[target] = False
    pool = np.flatnonzero(eligible)
    above = int((base[pool] > base[target]).sum())
    width = min(len(pool), max(MIN_COLUMNS, 2 * (above + 1)))
    columns = pool[np.argsort(-base[pool], kind="stable")[:width]]
    where = np.full(edits.n_tokens, -1, dtype=np.int64)  # each column's place, to leave out the added item
    where[columns] = np.arange(width)
    bound = np.empty(len(candidates), dtype=np.int64)
    score = np.empty(len(candidates), dtype=np.float32)
    for at in range(0, len(candidates), block):
        chunk = candidates[at : at + block]
        scores = edits.addition_scores(chunk, columns=np.append(columns, target))
        own, others = scores[:, -1], scores[:, :-1]
        rows = np.flatnonzero(where[chunk] >= 0)
        others[rows, where[chunk][rows]] = -np.inf
        bound[at : at + len(chunk)] = 1 + (others > (own + _slack(own))[:, None]).sum(axis=1)
        score[at : at + len(chunk)] = own
    return bound, score


def _slack(scores: np.ndarray) -> np.ndarray:
    return TOLERANCE * (1.0 + np.abs(scores))
