"""Film series built from MovieLens titles, for the franchise test of the plausibility study.

A title is reduced to its series key: the release year and alternative titles in parentheses go,
a trailing article comes to the front (MovieLens writes "Godfather, The"), and the title is cut at
its subtitle (":" or " - ") and at a trailing sequel number ("2", "IV", "Part II", "3-D"). Two
films are of one series when their keys agree and their titles, without articles, do not (a
remake of the same title is not a series). Titles that extend another by a word or two are not
joined: that finds "Batman Returns", but as many unrelated pairs ("Dead Man Walking" and "Dead
Man"). The few links that no rule over titles finds are written by hand in :data:`ALIASES`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# the films of a series whose titles share no words with it (ML-100K's Star Wars trilogy)
ALIASES = (
    ("empire strikes back", "star wars"),
    ("return of the jedi", "star wars"),
    ("raiders of the lost ark", "indiana jones"),
    ("indiana jones", "indiana jones"),
    ("batman", "batman"),
    ("aliens", "alien"),
)
_PARENTHESES = re.compile(r"\s*\([^)]*\)\s*$")
_ARTICLE = re.compile(r"^(.*), (the|a|an|les|la|le|il|el|das|der|die|l')$", re.IGNORECASE)
_SEQUEL = re.compile(r"(\s+(part\s+)?([0-9]+|[ivx]+|3-d))+$")
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def full_title(name: str) -> str:
    """The title in reading order, lower case, without years or alternative titles."""
    title = name.strip()
    while _PARENTHESES.search(title):
        title = _PARENTHESES.sub("", title)
    cut = re.split(r":| - ", title, maxsplit=1)
    head, tail = cut[0], (":" + cut[1] if len(cut) > 1 else "")
    # "Godfather: Part II, The": the article belongs to the whole title
    match = _ARTICLE.match(head + tail) or _ARTICLE.match(head)
    if match and match.group(0) == head + tail:
        title = f"{match.group(2)} {match.group(1)}"
    elif match:
        title = f"{match.group(2)} {match.group(1)}{tail}"
    return re.sub(r"\s+", " ", title.lower().replace("&", "and")).strip()


def series_key(name: str) -> str:
    """The key of the series a title belongs to (before joining extensions and aliases)."""
    title = full_title(name)
    head = re.split(r":| - ", title, maxsplit=1)[0]
    head = _SEQUEL.sub("", head).strip()
    head = re.sub(r"^(the|a|an) ", "", head)
    return re.sub(r"[^a-z0-9 ]", "", head).strip()


def release_year(name: str) -> float:
    match = _YEAR.search(name.strip())
    return float(match.group(1)) if match else np.nan


def series(names: Sequence[str]) -> np.ndarray:
    """The series of every title: an index shared by the films of one series, -1 for films alone."""
    keys = [series_key(n) for n in names]
    for i, key in enumerate(keys):
        for prefix, alias in ALIASES:
            if key.startswith(prefix):
                keys[i] = alias
    titles = [re.sub(r"^(the|a|an) ", "", full_title(n)) for n in names]
    out = np.full(len(names), -1, dtype=np.int64)
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        if key:
            groups.setdefault(key, []).append(i)
    for number, members in enumerate(m for m in groups.values() if len({titles[i] for i in m}) > 1):
        out[members] = number
    return out
