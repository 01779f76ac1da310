"""The smallest counterfactual set: a removal set of minimum size, searched level by level.

A greedy search (by attribution, or by margin) finds a set that flips the item, pruned to a
1-minimal one: no member can be put back. A 1-minimal set need not be the smallest. This search
tries every set of 1, 2, ... tokens, each re-scored exactly and many at once
(:class:`~whyrec.explain.edits.ProfileEdits`), until one flips the item or the greedy set's size
is reached. While the sets of a size are few enough it enumerates them all, and a set it returns
is then the proven minimum. Past that it keeps a beam of the sets that leave the item the
smallest margin over the N-th competitor, and says that the size was searched, not proven.
Among the flipping sets of the smallest size it prefers one without a token whose removal alone
lifts the item (evidence against it), then the one that drops the item furthest. The work is
bounded by a budget of sets re-scored, not by a clock, so the same question gets the same
answer on any machine; past the budget the greedy set stands.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from whyrec.explain.edits import ProfileEdits

BEAM = 256  # sets kept per size once a size has too many to try all
BUDGET = 2000  # sets re-scored per question by default
EXHAUSTIVE = 20_000  # sets of one size tried all at once
BLOCK = 256  # sets re-scored per product


class Smallest(NamedTuple):
    """The chosen set and whether its size is proven to be the minimum."""

    tokens: list[int]
    proven: bool


def smallest_set(
    edits: ProfileEdits, candidates: np.ndarray, target: int, n: int, upper: list[int], budget: int = BUDGET
) -> Smallest:
    """A removal set of minimum size (at most ``len(upper)``, the greedy set) that drops `target`
    out of the top `n` (see the module docstring)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(upper) == 1 and len(candidates) == 1:
        return Smallest(list(upper), True)
    base = margins(edits, edits.removal_scores(np.zeros((1, len(edits.tokens)), bool)), target, n)[0]
    lifts = np.zeros(len(candidates), dtype=bool)  # removing it alone lifts the item
    frontier: list[tuple[int, ...]] = [()]
    complete = True  # every set of the sizes so far was tried
    for size in range(1, len(upper) + 1):  # the greedy set's own size too: a cleaner set may match it
        if complete and math.comb(len(candidates), size) <= EXHAUSTIVE:
            sets = list(itertools.combinations(range(len(candidates)), size))
        else:
            complete = False
            sets = sorted({tuple(sorted((*s, c))) for s in frontier for c in range(len(candidates)) if c not in s})
        budget -= len(sets)
        if budget < 0:  # past the budget: the greedy set stands
            return Smallest(list(upper), False)
        left = _score_sets(edits, candidates, sets, target, n)
        if size == 1:
            lifts = left > base
        flips = np.flatnonzero(left < 0)
        if len(flips):
            clean = np.array([not lifts[list(sets[i])].any() for i in flips])
            choice = int(flips[np.lexsort((left[flips], ~clean))[0]])
            return Smallest([int(t) for t in candidates[list(sets[choice])]], complete)
        keep = np.argsort(left, kind="stable")[:BEAM]
        frontier = [sets[i] for i in keep]
    return Smallest(list(upper), complete)


def _score_sets(
    edits: ProfileEdits, candidates: np.ndarray, sets: list[tuple[int, ...]], target: int, n: int
) -> np.ndarray:
    """The target's margin over the n-th competitor with each set removed."""
    where = np.searchsorted(edits.tokens, candidates)
    out = np.empty(len(sets))
    for start in range(0, len(sets), BLOCK):
        chunk = sets[start : start + BLOCK]
        removals = np.zeros((len(chunk), len(edits.tokens)), dtype=bool)
        rows = np.repeat(np.arange(len(chunk)), [len(s) for s in chunk])
        removals[rows, where[np.concatenate([np.asarray(s, dtype=np.int64) for s in chunk])]] = True
        out[start : start + len(chunk)] = margins(edits, edits.removal_scores(removals), target, n)
    return out


def margins(edits: ProfileEdits, scores: np.ndarray, target: int, n: int) -> np.ndarray:
    """Each row's target score minus its n-th best competitor outside the history (negative: out)."""
    others = np.array(scores, dtype=np.float32, copy=True)
    others[:, edits.history] = -np.inf
    others[:, target] = -np.inf
    nth = -np.partition(-others, n - 1, axis=1)[:, n - 1]
    return scores[:, target] - nth
