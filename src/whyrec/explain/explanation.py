"""Explanation: one signed relevance per profile token, whatever method produced it.

A batch of explanations is stored as a CSR matrix (pairs x tokens) with the same sparsity as the
profiles; single :class:`Explanation` objects are built from it on demand, so batched methods stay
fast and everything downstream (evaluation, charts, the service) reads one shape.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as attribute
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from whyrec.explain import words as wording


class Vocabulary(Protocol):
    """What explanations need to name tokens and targets.

    A recommender's :class:`~whyrec.data.FeatureSpace` is one (targets are its items); models
    without items (CTR rows, attribution networks' input groups) use :class:`NamedVocabulary`.
    """

    @property
    def token_names(self) -> np.ndarray: ...

    @property
    def token_kinds(self) -> np.ndarray: ...

    @property
    def token_fields(self) -> np.ndarray: ...

    @property
    def item_ids(self) -> Sequence[Any]: ...

    @property
    def item_names(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class NamedVocabulary:
    """A :class:`Vocabulary` given by its arrays (token names, kinds, fields; target IDs and names)."""

    token_names: np.ndarray
    token_kinds: np.ndarray
    token_fields: np.ndarray
    item_ids: Sequence[Any]
    item_names: Sequence[str]


@dataclass(frozen=True)
class Reason:
    """One token of a profile and its signed relevance to the target item."""

    token: int
    name: str
    kind: str  # "item", "user_attribute", "item_attribute", "context_attribute" or "group"
    field: str  # "item", "user.age", "item.genre", ...
    relevance: float
    phrases: Mapping[str, str] | None = attribute(default=None, compare=False, repr=False)  # the data's phrasing

    @property
    def label(self) -> str:
        """The token's short name, without prefixes: a title, or a field and value ("age 25–34")."""
        return wording.label(self.name, self.kind, self.field)

    def words(self) -> str:
        """The reason as a clause a person can read ("you watched Alien (1979)", "you are 25–34")."""
        return wording.phrase(self.name, self.kind, self.field, self.phrases)

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "field": self.field,
            "relevance": self.relevance,
        }


@dataclass(frozen=True)
class Explanation:
    """Why one item was scored as it was for one profile.

    `relevance` holds one signed value per profile token, sorted from most to least relevant.
    `baseline` is the part of the score no token accounts for (the output bias for RecoNet), so
    for conservative methods ``relevance.sum() + baseline == score``.
    """

    item: int
    item_id: Any
    item_name: str
    score: float
    baseline: float
    tokens: np.ndarray
    relevance: np.ndarray
    method: str
    vocabulary: Vocabulary
    details: Mapping[str, Any] | None = None  # what a method reports beyond relevance (a counterfactual set)

    def __len__(self) -> int:
        return len(self.tokens)

    def reason(self, position: int) -> Reason:
        """The reason at `position` in the sorted order (0 = most relevant)."""
        fs = self.vocabulary
        token = int(self.tokens[position])
        return Reason(
            token,
            str(fs.token_names[token]),
            str(fs.token_kinds[token]),
            str(fs.token_fields[token]),
            float(self.relevance[position]),
            getattr(fs, "phrases", None),
        )

    @property
    def reasons(self) -> list[Reason]:
        return [self.reason(i) for i in range(len(self.tokens))]

    def top(self, n: int = 5, *, positive: bool = False) -> list[Reason]:
        """The n most relevant reasons (only those with positive relevance if `positive`)."""
        count = min(n, len(self.tokens))
        if positive:
            count = min(count, int(np.sum(self.relevance > 0)))
        return [self.reason(i) for i in range(count)]

    def bottom(self, n: int = 5) -> list[Reason]:
        """The n most negative reasons (evidence against the item), most negative first."""
        count = min(n, int(np.sum(self.relevance < 0)))
        return [self.reason(len(self.tokens) - 1 - i) for i in range(count)]

    def relevance_by_token(self, tokens: np.ndarray) -> np.ndarray:
        """The relevance of each of `tokens` (0 for a token not in the profile)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        order = np.argsort(self.tokens, kind="stable")
        position = np.searchsorted(self.tokens[order], tokens)
        position = np.clip(position, 0, max(len(order) - 1, 0))
        found = len(order) > 0 and self.tokens[order][position] == tokens
        return np.where(found, self.relevance[order][position], 0.0) if len(order) else np.zeros(len(tokens))

    @property
    def conservation_gap(self) -> float:
        """score - baseline - sum(relevance): zero for conservative methods."""
        return float(self.score - self.baseline - self.relevance.sum())

    def sentence(self, n: int = 3) -> str:
        """The top `n` positive reasons in one sentence, with the share of the score they carry
        (see :mod:`whyrec.explain.words`); the same template for every method."""
        top = self.top(n, positive=True)
        items = [r for r in top if r.kind == "item"]
        clauses: list[str] = []
        for reason in top:  # history items are named together, where the first of them ranks
            if reason.kind != "item":
                clauses.append(reason.words())
            elif reason is items[0]:
                clauses.append(wording.items_clause([r.label for r in items], reason.phrases))
        named = float(sum(r.relevance for r in top))
        return wording.sentence(self.item_name, clauses, named, float(self.relevance.sum()))

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        reasons = self.reasons if top is None else self.reasons[:top]
        return {
            "item_id": self.item_id,
            "item": self.item_name,
            "score": self.score,
            "baseline": self.baseline,
            "method": self.method,
            "conservation_gap": self.conservation_gap,
            "reasons": [r.to_dict() for r in reasons],
            **({"details": dict(self.details)} if self.details is not None else {}),
        }


@dataclass(frozen=True)
class Explanations:
    """A batch of explanations: relevance as CSR (pairs x tokens), one target per pair."""

    relevance: sp.csr_matrix
    targets: np.ndarray
    scores: np.ndarray
    baselines: np.ndarray
    method: str
    vocabulary: Vocabulary
    details: Sequence[Mapping[str, Any]] | None = None  # one per pair, for methods that report more

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> Explanation:
        if not -len(self) <= index < len(self):
            raise IndexError(f"explanation {index} out of range ({len(self)})")
        index %= len(self)
        start, end = self.relevance.indptr[index], self.relevance.indptr[index + 1]
        tokens = self.relevance.indices[start:end]
        values = self.relevance.data[start:end]
        order = np.argsort(-values, kind="stable")
        fs = self.vocabulary
        item = int(self.targets[index])
        return Explanation(
            item=item,
            item_id=fs.item_ids[item],
            item_name=fs.item_names[item],
            score=float(self.scores[index]),
            baseline=float(self.baselines[index]),
            tokens=tokens[order].astype(np.int64),
            relevance=values[order].astype(np.float64),
            method=self.method,
            vocabulary=fs,
            details=self.details[index] if self.details is not None else None,
        )

    def __iter__(self) -> Iterator[Explanation]:
        return (self[i] for i in range(len(self)))
