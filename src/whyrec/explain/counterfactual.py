"""What would change a recommendation: verified counterfactuals and "why not item X?".

**Counterfactual** (the question of PRINCE, ACCENT, CountER and LXR, answered live): for a
recommended item, a small set of profile tokens (history items by default) whose removal drops the
item out of the top N. History items are removed greedily in the order of their attribution (the
model's exact method), every step re-scored exactly (:class:`~whyrec.explain.edits.ProfileEdits`:
RecoNet's closed form, the rebuilt bag otherwise). Attribution speaks about the item alone, and a
token can lift the competitors more than the item; when the attribution order does not flip it
within the budget, a second greedy search removes, at each step, the token whose removal leaves the
item the smallest margin over the N-th competitor, every candidate re-scored exactly. The first set
that flips the item is pruned to a 1-minimal one (putting back any single member loses the flip),
then shrunk to the smallest set that flips it (:mod:`whyrec.explain.smallest`), and the result is
checked once more through the model's public ``score`` before it is called verified.

**Why not** X: where X ranks, how far its score is from the N-th item's, which tokens hold it back
(its most negative relevances), and the single token (a history item or a user-attribute value)
whose addition would bring it into the top N, found exactly over every candidate at once (for
RecoNet x' = (n·x + q_t)/(n + 1): one matrix product) and verified by re-scoring.

Rankings leave out the profile's history items, as recommendations do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.data.profiles import Profile, check_nonempty
from whyrec.errors import ConflictError, ParameterError
from whyrec.explain import words as wording
from whyrec.explain.additions import best_addition, best_set
from whyrec.explain.base import Explainer, default_method, explain_pairs
from whyrec.explain.edits import KINDS, ProfileEdits
from whyrec.explain.explanation import Explanations, Reason
from whyrec.explain.smallest import BUDGET, margins, smallest_set
from whyrec.models.recommender import Recommender, check_k


@dataclass(frozen=True)
class Counterfactual:
    """The outcome of a counterfactual search for one (profile, item) pair."""

    item_id: Any
    item_name: str
    n: int
    rank: int  # the item's rank before any change
    found: bool
    verified: bool
    removed: list[str] = field(default_factory=list)  # token names, most relevant first
    removed_labels: list[str] = field(default_factory=list)  # the same, in words (titles, "age 25–34")
    removed_tokens: list[int] = field(default_factory=list)
    removed_items: list[Any] = field(default_factory=list)  # external IDs of the removed history items
    new_rank: int | None = None
    replaced_by: Any = None  # the item that enters the top n
    replaced_by_name: str | None = None
    steps: int = 0  # greedy removals tried before the flip (or the budget)
    search: str = ""  # "attribution" or "margin": which greedy order found the set
    minimum: bool = False  # no smaller set flips it: every smaller set was tried (whyrec.explain.smallest)
    message: str = ""
    rank_without_all: int | None = None  # when none was found: its rank with every candidate removed

    @property
    def sentence(self) -> str:
        """The counterfactual in words ("Without Alien (1979), it would drop from rank 2 to 14, ...")."""
        return wording.removal_sentence(self, self.removed_labels)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sentence": self.sentence}


def counterfactual(
    model: Recommender,
    bag: sp.csr_matrix,
    target: int,
    *,
    n: int = 10,
    relevance: np.ndarray | None = None,
    kinds: tuple[str, ...] = ("item",),
    max_steps: int = 30,
    budget: int = BUDGET,
) -> Counterfactual:
    """Search the counterfactual of one (bag, target item) pair (see the module docstring).

    `relevance` (one value per bag token, in the bag's token order) orders the candidates; by
    default the model's exact explanation of the pair. `kinds` are the token kinds that may be
    removed: ``"item"`` (history items) and ``"user_attribute"``. The greedy set is then shrunk to
    the smallest that flips the item (:func:`~whyrec.explain.smallest.smallest_set`), trying at
    most `budget` sets.
    """
    fs = model.feature_space_
    n = _check_n(n, fs.n_items)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise ParameterError(f"counterfactual kinds are {', '.join(KINDS)}, not {', '.join(unknown) or 'none'}")
    check_nonempty(sp.csr_matrix(bag))
    edits = ProfileEdits(model, bag)
    if relevance is None:
        relevance = explain_pairs(model, bag, np.array([target]), method=default_method(model))[0].relevance_by_token(
            edits.tokens
        )
    base_scores = edits.removal_scores(np.zeros((1, len(edits.tokens)), dtype=bool))
    rank = int(edits.ranks(base_scores, target)[0])
    base = dict(item_id=fs.item_ids[target], item_name=fs.item_names[target], n=n, rank=rank)
    if rank > n:
        return Counterfactual(
            **base, found=False, verified=False, message=f"the item is not in the top {n} (rank {rank})"
        )
    allowed = np.zeros(fs.n_tokens, dtype=bool)
    allowed[edits.history] = "item" in kinds
    allowed[edits.user_tokens] = "user_attribute" in kinds
    candidates = edits.tokens[allowed[edits.tokens]]
    if not len(candidates):
        return Counterfactual(**base, found=False, verified=False, message="the profile has no token of those kinds")
    chosen, steps = _attribution_greedy(edits, relevance, allowed, target, n, max_steps)
    search = "attribution"
    if chosen is None:
        chosen, search = _margin_greedy(edits, candidates, target, n, max_steps), "margin"
        steps = len(chosen) if chosen is not None else min(max_steps, len(candidates))
    if chosen is None:
        return _not_found(edits, candidates, target, base, kinds, steps, search, max_steps)
    found = smallest_set(edits, candidates, target, n, _one_minimal(edits, chosen, target, n), budget)
    order = {int(t): -float(r) for t, r in zip(edits.tokens, relevance, strict=True)}  # most relevant first
    found = found._replace(tokens=sorted(found.tokens, key=lambda t: order[t]))
    return _verified(model, edits, found.tokens, target, base, base_scores, steps, search, found.proven)


def _attribution_greedy(
    edits: ProfileEdits, relevance: np.ndarray, allowed: np.ndarray, target: int, n: int, max_steps: int
) -> tuple[list[int] | None, int]:
    """The shortest prefix of the allowed tokens, most relevant first, whose removal drops the target
    out of the top `n` (every prefix re-scored at once), and the steps searched; None if none does."""
    positive = (relevance > 0) & allowed[edits.tokens]
    order = edits.tokens[positive][np.argsort(-relevance[positive], kind="stable")][:max_steps]
    steps = len(order)
    if not steps:
        return None, 0
    removals = np.zeros((steps, len(edits.tokens)), dtype=bool)  # row s removes the first s+1
    removals[:, np.searchsorted(edits.tokens, order)] = np.tril(np.ones((steps, steps), dtype=bool))
    flipped = np.flatnonzero(edits.ranks(edits.removal_scores(removals), target) > n)
    if not len(flipped):
        return None, steps
    return [int(t) for t in order[: flipped[0] + 1]], int(flipped[0]) + 1


def _not_found(
    edits: ProfileEdits,
    candidates: np.ndarray,
    target: int,
    base: dict[str, Any],
    kinds: tuple[str, ...],
    steps: int,
    search: str,
    max_steps: int,
) -> Counterfactual:
    """No set within the budget: said as such, with the rank the item keeps without every candidate."""
    # when even removing every candidate keeps the item in, no removal of these kinds is likely to
    # flip it (a subset can, in principle, where removals interact)
    rank_all = int(edits.ranks(edits.removal_scores(edits.mask(candidates)), target)[0])
    what = "history items" if kinds == ("item",) else "removable tokens"
    n = base["n"]
    if rank_all <= n:
        message = f"no set found: even without all {len(candidates)} {what} it stays in the top {n} (rank {rank_all})"
    else:
        message = f"no set of at most {max_steps} tokens found drops it out of the top {n}"
    return Counterfactual(
        **base, found=False, verified=False, steps=steps, search=search, message=message, rank_without_all=rank_all
    )


def _verified(
    model: Recommender,
    edits: ProfileEdits,
    chosen: list[int],
    target: int,
    base: dict[str, Any],
    base_scores: np.ndarray,
    steps: int,
    search: str,
    minimum: bool,
) -> Counterfactual:
    """The found set, re-scored through the model's public scorer on the rebuilt bag: the verification."""
    fs = model.feature_space_
    n = base["n"]
    scores_after = model.score(edits.removal_bags(edits.mask(chosen)))
    new_rank = int(edits.ranks(scores_after, target)[0])
    before, after = edits.top(base_scores, n), edits.top(scores_after, n)
    entering = [int(i) for i in after if i not in set(before.tolist())]
    replaced = entering[0] if entering else None
    return Counterfactual(
        **base,
        found=True,
        verified=new_rank > n,
        removed=[str(fs.token_names[t]) for t in chosen],
        removed_labels=[wording.label(*wording.token(fs, t)) for t in chosen],
        removed_tokens=[int(t) for t in chosen],
        new_rank=new_rank,
        steps=steps,
        search=search,
        minimum=minimum,
        removed_items=[fs.item_ids[t] for t in chosen if t < fs.n_items],
        replaced_by=fs.item_ids[replaced] if replaced is not None else None,
        replaced_by_name=fs.item_names[replaced] if replaced is not None else None,
    )


def _margin_greedy(
    edits: ProfileEdits, candidates: np.ndarray, target: int, n: int, max_steps: int
) -> list[int] | None:
    """Remove, step by step, the candidate that leaves the target the smallest margin over the n-th
    competitor (every candidate re-scored exactly); the set once the margin is negative, or None."""
    chosen: list[int] = []
    remaining = [int(t) for t in candidates]
    current = np.zeros(len(edits.tokens), dtype=bool)
    for _ in range(min(max_steps, len(remaining))):
        trials = np.repeat(current[None, :], len(remaining), axis=0)
        trials[np.arange(len(remaining)), np.searchsorted(edits.tokens, remaining)] = True
        left = margins(edits, edits.removal_scores(trials), target, n)
        best = int(np.argmin(left))
        chosen.append(remaining.pop(best))
        current = trials[best]
        if left[best] < 0:
            return chosen
    return None


def _one_minimal(edits: ProfileEdits, chosen: list[int], target: int, n: int) -> list[int]:
    """Drop members (least relevant first) while the rest still flips, until every member is needed."""
    while len(chosen) > 1:
        without = [[t for t in chosen if t != m] for m in chosen]
        still = edits.ranks(edits.removal_scores(edits.masks(without)), target) > n
        if not still.any():
            return chosen
        drop = int(np.flatnonzero(still)[-1])  # the least relevant member that is not needed
        chosen = without[drop]
    return chosen


class CounterfactualExplainer(Explainer):
    """Verified counterfactual sets (see the module docstring).

    The relevance of each pair is the ordering attribution on the members of its set and zero
    elsewhere; the set itself, the new rank and the replacing item are in ``details``.
    """

    name = "counterfactual"
    batched = False
    summary = "the smallest set of history items whose removal drops the item out of the top 10, verified"

    def __init__(self, n: int = 10, kinds: tuple[str, ...] = ("item",), max_steps: int = 30) -> None:
        self.n = n
        self.kinds = tuple(kinds)
        self.max_steps = max_steps

    def supports(self, model: Any) -> bool:
        return isinstance(model, Recommender) and model.supports_profiles

    def attribute(self, model: Any, bags: Any, targets: np.ndarray) -> Explanations:
        bags = sp.csr_matrix(bags, dtype=np.float32)
        ordering = explain_pairs(model, bags, targets, method=default_method(model))
        details, data = [], np.zeros(bags.nnz, dtype=np.float32)
        for p, target in enumerate(targets):
            start, end = bags.indptr[p], bags.indptr[p + 1]
            relevance = ordering.relevance[p].toarray().ravel()[bags.indices[start:end]]
            found = counterfactual(
                model, bags[p], int(target), n=self.n, relevance=relevance, kinds=self.kinds, max_steps=self.max_steps
            )
            details.append(found.to_dict())
            members = np.isin(bags.indices[start:end], found.removed_tokens)
            data[start:end] = np.where(members, relevance, 0.0)
        relevance_matrix = sp.csr_matrix((data, bags.indices, bags.indptr), shape=bags.shape)
        result = self._result(model, relevance_matrix, targets, ordering.scores, ordering.baselines)
        return Explanations(
            result.relevance, result.targets, result.scores, result.baselines, result.method, result.vocabulary, details
        )


@dataclass(frozen=True)
class WhyNot:
    """Why an item is not recommended, and the one history item that would change that."""

    item_id: Any
    item_name: str
    n: int
    rank: int
    score: float
    nth_score: float  # the score of the item at rank n
    recommended: bool  # already in the top n: nothing to explain away
    holding_back: list[Reason] = field(default_factory=list)
    addition: dict[str, Any] | None = None  # item_id, name, new_rank, verified
    together: dict[str, Any] | None = None  # when no single addition suffices: the best set of 2-3 tried
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["holding_back"] = [r.to_dict() for r in self.holding_back]
        out["gap"] = self.nth_score - self.score
        return out


def why_not(
    model: Recommender,
    who: Any,
    item: Any,
    *,
    n: int = 10,
    top: int = 5,
    method: str | None = None,
    kinds: tuple[str, ...] = KINDS,
) -> WhyNot:
    """Why `item` (an external ID) is not in the top `n` for `who` (a user ID, a Profile or a bag).

    The addition is searched over every token of `kinds` at once: each unseen history item (with
    its attribute values) and each value of a user-attribute field the profile leaves empty.
    """
    model._check_fitted()
    fs = model.feature_space_
    n = _check_n(n, fs.n_items)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise ParameterError(f"'why not' addition kinds are {', '.join(KINDS)}, not {', '.join(unknown) or 'none'}")
    bag = _bag_of(model, who)
    target = why_not_target(model, bag, item)
    edits = ProfileEdits(model, bag)
    scores = edits.removal_scores(np.zeros((1, len(edits.tokens)), dtype=bool))
    rank = int(edits.ranks(scores, target)[0])
    ranked = edits.top(scores, n)
    base = dict(
        item_id=fs.item_ids[target],
        item_name=fs.item_names[target],
        n=n,
        rank=rank,
        score=float(scores[0, target]),
        nth_score=float(scores[0, ranked[-1]]),
    )
    if rank <= n:
        return WhyNot(**base, recommended=True, message=f"it is already recommended, at rank {rank}")
    holding = explain_pairs(model, bag, np.array([target]), method=method)[0].bottom(top)
    candidates = edits.addition_candidates(tuple(kinds))
    candidates = candidates[candidates != target]
    if not len(candidates):
        return WhyNot(**base, recommended=False, holding_back=holding, message="there is no token left to add")
    # the smallest addition: the best rank, ties broken by the larger margin
    best = best_addition(edits, candidates, target)
    addition = _verified_addition(model, edits, int(candidates[best.position]), target, n)
    if addition["verified"]:
        message = f"if {addition['words']}, it would rise to rank {addition['new_rank']}"
        return WhyNot(**base, recommended=False, holding_back=holding, addition=addition, message=message)
    # named all the same: the best single addition and how far it gets, then sets of two or three
    message = (
        f"no single addition brings it into the top {n}; the best, if {addition['words']}, "
        f"reaches rank {addition['new_rank']}"
    )
    found = best_set(edits, best.pool, target, n)
    together = _together(model, found, n) if found is not None else None
    if together is not None and together["verified"]:
        message += f"; if {together['words']}, it would rise to rank {together['new_rank']}"
    elif together is not None:
        message += f"; of the sets of up to {len(together['tokens'])} tried, none brings it in"
    return WhyNot(
        **base, recommended=False, holding_back=holding, addition=addition, together=together, message=message
    )


def _together(model: Recommender, found: Any, n: int) -> dict[str, Any]:
    """A set of additions (:func:`~whyrec.explain.additions.best_set`, already ranked by the public
    scorer) as a response: its tokens, their names, the clause, and the rank it reaches."""
    fs = model.feature_space_
    named = [wording.token(fs, t) for t in found.tokens]
    clauses = [wording.phrase(*token, fs.phrases) for token in named]
    return {
        "tokens": [name for name, _, _ in named],
        "names": [wording.label(*token) for token in named],
        "words": wording.join(clauses),
        "new_rank": int(found.rank),
        "verified": bool(found.rank <= n),
    }


def why_not_target(model: Recommender, bag: sp.csr_matrix, item: Any) -> int:
    """The dense index of `item`, which "why not" may ask about: known (else 404), and not already in
    the bag's history (else a conflict, 409: seen items are not recommended again)."""
    fs = model.feature_space_
    target = int(fs.item_index([item])[0])
    if sp.csr_matrix(bag)[0, target] != 0:  # items are the bag's first tokens: its history
        raise ConflictError(f"item {item!r} is already in the user's history; 'why not' asks about new items")
    return target


def _bag_of(model: Recommender, who: Any) -> sp.csr_matrix:
    """The bag of `who`: a Profile, a bag already built (a served user with new events), or a user ID."""
    fs = model.feature_space_
    if isinstance(who, Profile):
        return model.profile(who.items, who.attributes)
    if sp.issparse(who):
        bag = sp.csr_matrix(who, dtype=np.float32)
        check_nonempty(bag)
        return bag
    bag = model.user_profiles(fs.user_index([who]))
    check_nonempty(bag, [who])
    return bag


def _verified_addition(model: Recommender, edits: ProfileEdits, chosen: int, target: int, n: int) -> dict[str, Any]:
    """The chosen token, its kind and name, and the target's rank once it is added, re-scored through
    the model's public scorer on the rebuilt bag."""
    fs = model.feature_space_
    verify = edits.ranks(model.score(edits.addition_bags(np.array([chosen]))), target, np.array([chosen]))[0]
    token, kind, field_name = wording.token(fs, chosen)
    return {
        "token": token,
        "kind": kind,
        "item_id": fs.item_ids[chosen] if chosen < fs.n_items else None,
        "name": wording.label(token, kind, field_name),
        "words": wording.phrase(token, kind, field_name, fs.phrases),
        "new_rank": int(verify),
        "verified": bool(verify <= n),
    }


def _check_n(n: Any, n_items: int) -> int:
    """The list length N a counterfactual speaks about, checked like any list length."""
    try:
        return check_k(n, n_items)
    except ParameterError as exc:
        raise ParameterError(str(exc).replace("k must", "n must").replace("k=", "n=", 1)) from None
