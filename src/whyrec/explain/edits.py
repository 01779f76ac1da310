"""Exact re-scoring of edited profiles: what the model says when history items come or go.

A profile's bag is rebuilt the way the model builds it: removing a history item also removes the
item-attribute tokens that no remaining item carries, and adding one brings in its attribute tokens
that the bag lacks. :class:`ProfileEdits` scores many such edits of one bag at once.

For RecoNet (mean pooling) the edited user vector has a closed form. With n tokens pooled to x,
removing a token set R gives x₋R = (n·x − Σ_{k∈R} q_k) / (n − |R|) and adding a set A gives
x₊A = (n·x + Σ_{k∈A} q_k) / (n + |A|), so every edit is a small product with the bag's own
embeddings and one pass through the output layer. The item-item models (EASE, item-kNN, RP3beta)
score history · W, so an edit adds or subtracts rows of W. iALS adds an item to its fold-in by a
rank-one update of the history's system (:meth:`whyrec.models.ALS.added_vectors`). A blend combines its members' edited
scores as it combines their scores. Any other model that scores profiles is given the rebuilt
bags.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from whyrec.data.profiles import build_profiles
from whyrec.errors import ParameterError
from whyrec.explain.bags import is_torch_bag_model
from whyrec.models.baselines import ALS, EASE
from whyrec.models.baselines.neighbours import ItemItem
from whyrec.models.blend import Blend, combine, normalised_scores
from whyrec.models.recommender import Recommender

KINDS = ("item", "user_attribute")


class ProfileEdits:
    """Edits of one profile bag (1 x n_tokens CSR) of `model`, scored exactly.

    A removal is a boolean mask over the bag's tokens (``tokens``, sorted), marking the history
    items and user-attribute tokens taken out; an addition is one item index. Ranks leave out the
    profile's own history items (and, for an addition, the added item).
    """

    def __init__(self, model: Recommender, bag: sp.csr_matrix) -> None:
        if not isinstance(model, Recommender):
            raise ParameterError(f"profile edits need a recommender, not a {type(model).__name__}")
        if not model.supports_profiles:
            raise ParameterError(
                f"{type(model).__name__} scores known users only, so it cannot re-score an edited profile; "
                "use a model that scores profiles (RecoNet, EASE, ALS, kNN, Mult-VAE, OCuLaR)"
            )
        self.model = model
        fs = model.feature_space_
        self.n_items, self.n_tokens = fs.n_items, fs.n_tokens
        bag = sp.csr_matrix(bag)
        bag.sort_indices()
        self.tokens = np.asarray(bag.indices, dtype=np.int64)
        n_user = sum(len(f.values) for f in fs.user_fields)
        is_item = self.tokens < self.n_items
        is_user = (self.tokens >= self.n_items) & (self.tokens < self.n_items + n_user)
        self.history_positions = np.flatnonzero(is_item)
        self.user_positions = np.flatnonzero(is_user)
        self.attribute_positions = np.flatnonzero(~is_item & ~is_user)
        self.history = self.tokens[self.history_positions]
        self.user_tokens = self.tokens[self.user_positions]
        self.item_attributes = sp.csr_matrix(model.item_attributes_, dtype=np.float32)
        # which of the bag's item-attribute tokens each history item carries, and how many carry each
        self.carriers = self.item_attributes[self.history][:, self.tokens[self.attribute_positions]].toarray()
        self.support = self.carriers.sum(axis=0)
        # the closed form below is for one mean; other poolings re-score the rebuilt bags exactly
        self.fast = is_torch_bag_model(model) and model.module_.token_group is None  # type: ignore[attr-defined]
        # item-item models are linear in the history: an edit adds or takes away rows of their matrix
        self.linear = _item_item_matrix(model)
        if self.linear is not None:
            self.base = _dense(
                _rows_of(np.ones((1, len(self.history)), bool), self.history, self.n_items) @ self.linear
            )
        # iALS: one Cholesky factor of the history's system serves every addition (Sherman-Morrison)
        self.als_system = model.edit_system(self.history) if isinstance(model, ALS) else None
        # a blend edits each member's bag through the member's own exact edits, then combines them
        self.members = None
        if isinstance(model, Blend):
            member_bags = [model.member_bags(m, bag) for m in model.members_]
            self.members = [
                (ProfileEdits(m, b), np.searchsorted(self.tokens, np.sort(b.indices)))
                for m, b in zip(model.members_, member_bags, strict=True)
            ]

    def mask(self, tokens: Any) -> np.ndarray:
        """A removal mask (1 x bag size) from token indices of the bag."""
        return self.masks([tokens])

    def masks(self, sets: list[Any]) -> np.ndarray:
        """Removal masks (len(sets) x bag size), one per set of the bag's token indices."""
        out = np.zeros((len(sets), len(self.tokens)), dtype=bool)
        for row, tokens in enumerate(sets):
            out[row, np.searchsorted(self.tokens, np.asarray(tokens, dtype=np.int64))] = True
        return out

    # -- bags ---------------------------------------------------------------------------------
    def removal_bags(self, removals: np.ndarray) -> sp.csr_matrix:
        """The rebuilt bags of the profile after each row's removals."""
        history = _rows_of(~removals[:, self.history_positions], self.history, self.n_items)
        user = _rows_of(~removals[:, self.user_positions], self.user_tokens, self.n_tokens)
        return build_profiles(history, user, self.item_attributes)

    def addition_bags(self, tokens: np.ndarray) -> sp.csr_matrix:
        """The rebuilt bags of the profile with one more token per row: a history item (with its
        attribute values) or a user-attribute value."""
        return self.set_addition_bags([[int(t)] for t in np.asarray(tokens, dtype=np.int64)])

    def set_addition_bags(self, sets: list[list[int]]) -> sp.csr_matrix:
        """The rebuilt bags of the profile with each row's set of tokens added (items with their
        attribute values, and user-attribute values)."""
        rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
        tokens = np.concatenate([np.asarray(s, dtype=np.int64) for s in sets]) if sets else np.zeros(0, np.int64)
        is_item = tokens < self.n_items
        kept = np.ones((len(sets), len(self.history)), dtype=bool)
        history = _rows_of(kept, self.history, self.n_items) + sp.csr_matrix(
            (np.ones(int(is_item.sum()), np.float32), (rows[is_item], tokens[is_item])), shape=(len(sets), self.n_items)
        )
        kept = np.ones((len(sets), len(self.user_tokens)), dtype=bool)
        user = _rows_of(kept, self.user_tokens, self.n_tokens) + sp.csr_matrix(
            (np.ones(int((~is_item).sum()), np.float32), (rows[~is_item], tokens[~is_item])),
            shape=(len(sets), self.n_tokens),
        )
        return build_profiles(sp.csr_matrix(history), sp.csr_matrix(user), self.item_attributes)

    def addition_candidates(self, kinds: tuple[str, ...] = KINDS) -> np.ndarray:
        """Tokens one could add to the profile: unseen items, and values of the user's attribute
        fields that the profile leaves empty (any value of a multi-valued field it lacks)."""
        fs = self.model.feature_space_
        out = []
        if "item" in kinds:
            out.append(np.setdiff1d(np.arange(self.n_items), self.history))
        if "user_attribute" in kinds:
            have = set(self.user_tokens.tolist())
            for f in fs.user_fields:
                start = fs.field_offsets[("user", f.name)]
                values = np.arange(start, start + len(f.values))
                filled = have.intersection(values.tolist())
                if f.kind == "multi" or not filled:
                    out.append(values[~np.isin(values, list(filled))])
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)

    # -- scores -------------------------------------------------------------------------------
    def removal_scores(self, removals: np.ndarray) -> np.ndarray:
        """Scores (edits x n_items) of the profile after each row's removals."""
        removals = np.asarray(removals, dtype=bool)
        if self.members is not None:
            return self._blended([edits.removal_scores(removals[:, at]) for edits, at in self.members])
        if self.linear is not None:
            taken = removals[:, self.history_positions].astype(np.float32)
            return self.base - _dense(sp.csr_matrix(taken) @ self.linear[self.history])
        if not self.fast:
            return self.model.score(self.removal_bags(removals))
        removed = removals.copy()
        if self.attribute_positions.size:
            lost = removals[:, self.history_positions].astype(np.float32) @ self.carriers
            orphaned = (lost >= self.support[None, :]) & (self.support[None, :] > 0)
            removed[:, self.attribute_positions] |= orphaned
        pooled = self._pool(torch.from_numpy(removed.astype(np.float32)), removed.sum(axis=1), sign=-1.0)
        return self._logits(pooled)

    def addition_scores(self, tokens: np.ndarray, block: int = 512, columns: np.ndarray | None = None) -> np.ndarray:
        """Scores (len(tokens) x n_items) of the profile with each token added (an item to its
        history, or a user-attribute value); only the items `columns` where given."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if self.members is not None:
            return self._blended_added(tokens, block, columns)
        width = self.n_items if columns is None else len(columns)
        out = np.empty((len(tokens), width), dtype=np.float32)
        for start in range(0, len(tokens), block):
            chunk = tokens[start : start + block]
            out[start : start + len(chunk)] = self._added(chunk, columns)
        return out

    def addition_moments(self, tokens: np.ndarray, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """The mean and standard deviation over the catalogue (1 where a row is constant) of each
        row of :meth:`addition_scores`, as :func:`~whyrec.models.blend.normalised_scores` takes
        them, but from each family's closed form where it has one, without scoring every item."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if self.members is None and self.linear is not None:
            mean, square = self._linear_moments(tokens)
        elif self.members is None and self.als_system is not None:
            model: Any = self.model
            mean, square = model.score_moments(self._als_vectors(tokens))
        elif self.members is None and self.fast:
            mean, square = self._reconet_moments(tokens)
        else:  # no closed form: every row in full
            parts = [
                normalised_scores(self.addition_scores(tokens[at : at + block])) for at in range(0, len(tokens), block)
            ]
            return np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
        spread = np.sqrt(np.maximum(square - mean**2, 0.0))
        return mean, np.where(spread > 0, spread, 1.0)

    def _added(self, tokens: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
        if self.linear is not None:
            return self.base[:, _all(columns)] + self._rows(tokens, columns)
        if self.als_system is not None:
            return self._als_added(tokens, columns)
        if self.fast:
            return self._logits(self._added_pooled(tokens), columns)
        scores = self.model.score(self.addition_bags(tokens))
        return scores if columns is None else scores[:, columns]

    def _rows(self, tokens: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
        """The item-item matrix's row of each added item (zeros for a user-attribute value, which
        an item-item model does not read)."""
        is_item = tokens < self.n_items
        rows = np.zeros((len(tokens), self.n_items if columns is None else len(columns)), dtype=np.float32)
        added = self.linear[tokens[is_item]]
        rows[is_item] = _dense(added if columns is None else added[:, columns])
        return rows

    def _linear_moments(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and mean square of base + W_t over items: the base's, plus W's row sums, its rows'
        squares and their products with the base, each read once."""
        if not hasattr(self, "_row_moments"):
            W, base = self.linear, self.base.ravel().astype(np.float64)
            squares = W.multiply(W).sum(axis=1) if sp.issparse(W) else np.einsum("ij,ij->i", W, W)
            self._row_moments = (
                np.asarray(W.sum(axis=1), dtype=np.float64).ravel(),
                np.asarray(squares, dtype=np.float64).ravel(),
                np.asarray(W @ base, dtype=np.float64).ravel(),
                base.mean(),
                (base**2).mean(),
            )
        sums, squares, cross, mean, square = self._row_moments
        is_item = tokens < self.n_items
        at = np.where(is_item, tokens, 0)
        n = self.n_items
        return (
            mean + np.where(is_item, sums[at] / n, 0.0),
            square + np.where(is_item, (2 * cross[at] + squares[at]) / n, 0.0),
        )

    def _als_vectors(self, tokens: np.ndarray) -> np.ndarray:
        """iALS's fold-in with each token added (a user-attribute value leaves it as it is), kept
        for the last tokens asked."""
        return _last(self, "_vector_cache", tokens, self._fold_added)

    def _fold_added(self, tokens: np.ndarray) -> np.ndarray:
        model: Any = self.model
        assert self.als_system is not None
        is_item = tokens < self.n_items
        out = np.repeat(self.als_system[1][None, :], len(tokens), axis=0)
        if is_item.any():
            out[is_item] = model.added_vectors(self.als_system, tokens[is_item])
        return out

    def _als_added(self, tokens: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
        """iALS's scores with each token added."""
        model: Any = self.model
        return model.vector_scores(self._als_vectors(tokens), columns)

    def _blended_added(self, tokens: np.ndarray, block: int, columns: np.ndarray | None) -> np.ndarray:
        """The blend's scores with each token added; on `columns`, each member normalised by the
        moments of its full rows (:meth:`addition_moments`)."""
        if columns is None:
            return self._blended([edits.addition_scores(tokens, block) for edits, _ in self.members or ()])
        model: Any = self.model
        normalised = [
            (edits.addition_scores(tokens, block, columns), *edits.addition_moments(tokens, block))
            for edits, _ in self.members or ()
        ]
        return combine(normalised, model.weights_)

    def _blended(self, member_scores: list[np.ndarray]) -> np.ndarray:
        """The blend's scores of edited bags from its members' (see :class:`~whyrec.models.Blend`)."""
        model: Any = self.model
        return combine([normalised_scores(scores) for scores in member_scores], model.weights_)

    @torch.no_grad()
    def _pool(self, changed: torch.Tensor, counts: np.ndarray, *, sign: float, extra: Any = None) -> torch.Tensor:
        """RecoNet's closed form: the pooled vectors of the bag with its tokens in `changed`
        (rows x bag) taken out (-1), or the vectors `extra` (rows x d) put in (+1)."""
        module: Any = self.model.module_  # type: ignore[attr-defined]
        q = module.embedding.weight
        bag_q = q[torch.from_numpy(self.tokens).to(q.device)]
        total = bag_q.sum(dim=0, keepdim=True)
        delta = changed.to(q.device) @ bag_q if extra is None else extra
        size = torch.from_numpy(len(self.tokens) + sign * counts.astype(np.float32)).to(q.device).unsqueeze(1)
        pooled = (total + sign * delta) / size.clamp_min(1.0)
        return torch.where(size > 0, pooled, torch.zeros_like(pooled))  # an emptied bag pools to 0

    @torch.no_grad()
    def _logits(self, pooled: torch.Tensor, columns: np.ndarray | None = None) -> np.ndarray:
        """RecoNet's logits of pooled vectors, for every item or for the items `columns`."""
        module: Any = self.model.module_  # type: ignore[attr-defined]
        if columns is None:
            return module.head(pooled).cpu().numpy()
        rows, bias = module.output_layer(torch.from_numpy(np.asarray(columns, dtype=np.int64)).to(pooled.device))
        logits = module.features(pooled) @ rows.T
        return (logits if bias is None else logits + bias).cpu().numpy()

    @torch.no_grad()
    def _reconet_moments(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and mean square over items of RecoNet's logits h·w_j + b_j with each token added,
        from the output layer's column means and Gram matrix (float64)."""
        module: Any = self.model.module_  # type: ignore[attr-defined]
        if not hasattr(self, "_output_moments"):
            rows, bias = module.output_layer()
            W = rows.double().cpu().numpy()
            b = np.zeros(len(W)) if bias is None else bias.double().cpu().numpy()
            self._output_moments = (W.mean(axis=0), b.mean(), W.T @ W / len(W), W.T @ b / len(W), b @ b / len(W))
        w_mean, b_mean, gram, wb, bb = self._output_moments
        h = module.features(self._added_pooled(tokens)).double().cpu().numpy()
        return h @ w_mean + b_mean, np.einsum("md,md->m", h @ gram, h) + 2 * h @ wb + bb

    def _added_pooled(self, tokens: np.ndarray) -> torch.Tensor:
        """RecoNet's pooled vector with each token added, with the attribute values it brings
        (kept for the last tokens asked: a blend's bounds take scores and moments of each chunk)."""
        return _last(self, "_pooled_cache", tokens, self._pool_added)

    @torch.no_grad()
    def _pool_added(self, tokens: np.ndarray) -> torch.Tensor:
        n = len(tokens)
        is_item = tokens < self.n_items
        itself = sp.csr_matrix((np.ones(n, np.float32), tokens, np.arange(n + 1)), shape=(n, self.n_tokens))
        attrs = sp.diags(is_item.astype(np.float32)) @ self.item_attributes[np.where(is_item, tokens, 0)]
        inside = np.zeros(self.n_tokens, dtype=np.float32)
        inside[self.tokens] = 1.0
        attrs = attrs - attrs.multiply(inside[None, :])
        added = sp.csr_matrix(itself + attrs, dtype=np.float32)
        added.data = (added.data > 0.5).astype(np.float32)
        module: Any = self.model.module_  # type: ignore[attr-defined]
        q = module.embedding.weight
        if not hasattr(self, "_embedding"):
            self._embedding = q.detach().cpu().numpy()
        extra = torch.from_numpy(np.asarray(added @ self._embedding)).to(q.device)
        return self._pool(torch.zeros(n, 0), np.asarray(added.sum(axis=1)).ravel(), sign=1.0, extra=extra)

    # -- ranks --------------------------------------------------------------------------------
    def ranks(self, scores: np.ndarray, target: int, extra_seen: np.ndarray | None = None) -> np.ndarray:
        """Rank (1 = best) of `target` in each row, among items outside the profile's history
        (and outside ``extra_seen[row]`` where given and an item: the token added by that row)."""
        scores = np.array(scores, dtype=np.float32, copy=True)
        scores[:, self.history] = -np.inf
        if extra_seen is not None:
            rows = np.flatnonzero(np.asarray(extra_seen) < self.n_items)
            scores[rows, np.asarray(extra_seen)[rows]] = -np.inf
        own = scores[:, target][:, None]
        return 1 + (scores > own).sum(axis=1)

    def top(self, scores: np.ndarray, n: int) -> np.ndarray:
        """The top-n items of one row of scores, outside the history."""
        row = np.array(scores, dtype=np.float32, copy=True).ravel()
        row[self.history] = -np.inf
        return np.argsort(-row, kind="stable")[:n]


def _rows_of(keep: np.ndarray, tokens: np.ndarray, width: int) -> sp.csr_matrix:
    """Rows of `tokens` kept by the boolean matrix `keep` (rows x len(tokens)), as a CSR matrix."""
    rows, cols = np.nonzero(keep)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=keep.shape[0]))])
    return sp.csr_matrix((np.ones(len(rows), np.float32), tokens[cols], indptr), shape=(keep.shape[0], width))


def _item_item_matrix(model: Recommender) -> Any:
    """The matrix W of a model that scores history · W (EASE, item-kNN, RP3beta), else None."""
    if isinstance(model, EASE):
        return model.weights_
    if isinstance(model, ItemItem):
        return sp.csr_matrix(model.similarity_)
    return None


def _last(edits: ProfileEdits, name: str, tokens: np.ndarray, compute: Any) -> Any:
    """`compute(tokens)`, kept in the attribute `name` for the next call with the same tokens."""
    cached = getattr(edits, name, None)
    if cached is None or not np.array_equal(cached[0], tokens):
        cached = (tokens.copy(), compute(tokens))
        setattr(edits, name, cached)
    return cached[1]


def _all(columns: np.ndarray | None) -> Any:
    """An index over every column when `columns` is None."""
    return slice(None) if columns is None else columns


def _dense(matrix: Any) -> np.ndarray:
    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=np.float32)
