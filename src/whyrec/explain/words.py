"""Reasons in a person's words: names without token prefixes, phrasing from the data, and one
sentence template for every method.

A token's phrase comes from the data's own phrasing (:attr:`whyrec.data.FeatureSpace.phrases`,
set by the loaders: "you watched {name}" for MovieLens), else from a fallback by kind. The
sentence names the strongest positive reasons and says how much of the score they carry: the
share of what the profile adds to the score above the baseline (the sum of the relevances, which
for exact methods is score - baseline). "Mostly" is said only when the named reasons carry at
least half of it; "partly" from a fifth; below that, "among other things". The share is stated,
so a reader can judge the verb (feature-importance practice, "layered explanations").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

FALLBACK = {
    "item": "you interacted with {name}",
    "user_attribute": "your {field} is {value}",
    "item_attribute": "you like items with {field} {value}",
    "context_attribute": "the {field} is {value}",
    "group": "the {field}",
}
MOSTLY, PARTLY = 0.5, 0.2
_RANGE = re.compile(r"^(-?\d[\d.]*)-(\d[\d.]*)$")


def value_words(value: str) -> str:
    """An attribute value as text: a numeric range with an en dash (25–34)."""
    return _RANGE.sub(r"\1–\2", value.strip())


def parts(name: str, kind: str, field: str) -> tuple[str, str]:
    """(field, value) of a token in words: ``item.genre=Comedy`` is ("genre", "Comedy")."""
    if kind == "item":
        return "item", name.removeprefix("item:")
    if kind == "group":
        return field.replace("_", " "), ""
    key, _, value = name.partition("=")
    return key.split(".", 1)[-1].replace("_", " "), value_words(value)


def label(name: str, kind: str, field: str) -> str:
    """A token's short name: the item's title, or the field and its value ("age 25–34")."""
    key, value = parts(name, kind, field)
    return value if kind == "item" else key if kind == "group" else f"{key} {value}"


def phrase(name: str, kind: str, field: str, phrases: Mapping[str, str] | None = None) -> str:
    """A token as a clause ("you watched Alien (1979)", "you are 25–34")."""
    key, value = parts(name, kind, field)
    template = (phrases or {}).get("item" if kind == "item" else field) or FALLBACK.get(kind, "{name}")
    return _tidy(template.format(name=value, field=key, value=value))


def items_clause(titles: Sequence[str], phrases: Mapping[str, str] | None = None) -> str:
    """History items named together in one clause ("you watched A, B and C")."""
    template = (phrases or {}).get("item") or FALLBACK["item"]
    return _tidy(template.format(name=join(titles), field="item", value=join(titles)))


def token(vocabulary: Any, index: int) -> tuple[str, str, str]:
    """The (name, kind, field) of token `index` of a vocabulary, as :func:`label` and :func:`phrase`
    take them."""
    return str(vocabulary.token_names[index]), str(vocabulary.token_kinds[index]), str(vocabulary.token_fields[index])


def join(items: Sequence[str]) -> str:
    """A, B and C."""
    items = [i for i in items if i]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def noun(n: int, phrases: Mapping[str, str] | None = None) -> str:
    """The data's noun for `n` items: "film" or "films" (phrases "an item" and "items"; without
    "an item", "items" less its final s)."""
    plural = (phrases or {}).get("items") or "items"
    return plural if n != 1 else (phrases or {}).get("an item") or plural.removesuffix("s")


def count(n: int, phrases: Mapping[str, str] | None = None) -> str:
    """`n` items in the data's noun: "1 film", "12 films"."""
    return f"{n} {noun(n, phrases)}"


def share_words(share: float) -> tuple[str, str]:
    """The verb phrase that fits a share, and the share as words."""
    if share > 1.0:
        return "mostly because", "more than all your profile adds to its score: other reasons pull it down"
    verb = (
        "mostly because"
        if share >= MOSTLY
        else "partly because"
        if share >= PARTLY
        else ", among other things, because"
    )
    return verb, f"{round(100 * share)}% of what your profile adds to its score"


def sentence(item: str, clauses: Sequence[str], named: float, total: float) -> str:
    """Why `item` is recommended: the named reasons' `clauses`, their relevance `named`, and the
    relevance of the whole profile `total`."""
    if not clauses:
        return f"{item} is recommended for its overall appeal: nothing in your profile adds to its score."
    if total <= 0:
        return (
            f"{item} is recommended for its overall appeal: {join(clauses)} add to its score, "
            "but your profile as a whole takes more away."
        )
    verb, share = share_words(named / total)
    return _tidy(f"{item} is recommended {verb} {join(clauses)} ({share}).")


def removal_sentence(found: Any, labels: Sequence[str]) -> str:
    """A counterfactual (:class:`~whyrec.explain.Counterfactual`) in words."""
    if not found.found:
        return _tidy(f"Nothing small changes it: {found.message}.")
    instead = f"; {found.replaced_by_name} would take its place" if found.replaced_by_name else ""
    check = "" if found.verified else " (not confirmed by re-scoring)"
    return _tidy(
        f"Without {join(list(labels))}, it would drop from rank {found.rank} to {found.new_rank}, "
        f"out of the top {found.n}{instead}{check}."
    )


def _tidy(text: str) -> str:
    """One space between words, none before punctuation."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([,.;:)])", r"\1", text).replace("( ", "(")
