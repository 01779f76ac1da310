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
POOL = 16  # the single additions that are combined into sets of two and three
TOLERANCE = 1e-5  # relative: far above float32 rounding of a score, far below any gap that matters


class Addition(NamedTuple):
    """The best addition: its position among the candidates, the rank it gives the target, and
    the target's score with it."""

    position: int
    rank: int
    score: float
    pool: list[int]  # the POOL candidate tokens with the best bounds, for sets (:func:`best_set`)


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
    pool = [int(t) for t in candidates[order[:POOL]]]
    return Addition(position=best[2], rank=int(best[0]), score=-best[1], pool=pool)


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


class Together(NamedTuple):
    """A set of additions, the rank it gives the target through the model's public scorer, and
    the target's score then."""

    tokens: list[int]
    rank: int
    score: float


def best_set(edits: ProfileEdits, pool: list[int], target: int, n: int, most: int = 3) -> Together | None:
    """The set of two to `most` additions that ranks `target` best, scored through the model's
    public scorer on the rebuilt bags; the search stops at the first size that brings it into the
    top `n`. At most POOL·(POOL-1)/2 pairs and POOL² triples are tried, so the work is bounded.

    Sets are built from the `pool` of single additions that rank it best (their bound order, see
    :func:`best_addition`): every pair of them, then each of the best pairs with one more. This is
    a beam, not every set: "no set of three" means none among those tried.
    """
    best: Together | None = None
    frontier: list[tuple[int, ...]] = [(t,) for t in pool]
    for _ in range(2, most + 1):
        sets = sorted({tuple(sorted({*s, t})) for s in frontier for t in pool if t not in s})
        if not sets:
            break
        found = _rank_sets(edits, [list(s) for s in sets], target)
        order = np.lexsort((-found[1], found[0]))
        top = Together(list(sets[order[0]]), int(found[0][order[0]]), float(found[1][order[0]]))
        best = top if best is None or (top.rank, -top.score) < (best.rank, -best.score) else best
        if best.rank <= n:
            break
        frontier = [sets[i] for i in order[:POOL]]
    return best


def _rank_sets(edits: ProfileEdits, sets: list[list[int]], target: int) -> tuple[np.ndarray, np.ndarray]:
    """The target's rank and score with each set added, by the model's public scorer."""
    scores = np.array(edits.model.score(edits.set_addition_bags(sets)), dtype=np.float32)
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    added = np.concatenate([np.asarray(s) for s in sets])
    inside = added < edits.n_items
    scores[rows[inside], added[inside]] = -np.inf  # an added item is seen, as the history is
    return edits.ranks(scores, target), scores[:, target]
