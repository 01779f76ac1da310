"""Plausibility measures: co-occurrence neighbours, shared attributes, series hits and their chance
levels, on hand-made cases whose answers are known; film series from MovieLens-style titles."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from benchmarks.plausibility.franchise import full_title, series, series_key

from whyrec.errors import ParameterError
from whyrec.evaluate.plausibility import (
    cooccurrence_neighbours,
    group_hits,
    neighbour_agreement,
    paired_difference,
    reason_popularity,
    shared_attribute,
)
from whyrec.explain.explanation import Explanations, NamedVocabulary

N_ITEMS = 6


def _explanations(rows: list[dict[int, float]], targets: list[int]) -> tuple[Explanations, sp.csr_matrix]:
    """Explanations over items 0..5 with the given relevances, and the bags holding those items."""
    indptr, indices, data = [0], [], []
    for row in rows:
        indices += list(row)
        data += list(row.values())
        indptr.append(len(indices))
    relevance = sp.csr_matrix((data, indices, indptr), shape=(len(rows), N_ITEMS))
    names = np.array([f"item:film {i}" for i in range(N_ITEMS)], dtype=object)
    vocabulary = NamedVocabulary(names, np.array(["item"] * N_ITEMS, dtype=object), names, list(range(N_ITEMS)), names)
    n = len(rows)
    bags = sp.csr_matrix((np.ones(len(data)), indices, indptr), shape=(n, N_ITEMS))
    return Explanations(relevance, np.array(targets), np.zeros(n), np.zeros(n), "test", vocabulary), bags


def test_cooccurrence_neighbours_are_the_cosine_ranking():
    # users: {0,1}, {0,1}, {0,2}, {3,4}: item 0's nearest is 1 (cosine 2/sqrt(6)), then 2; 5 never co-occurs
    matrix = sp.csr_matrix(
        ([1] * 8, ([0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 0, 2, 3, 4])),
        shape=(4, N_ITEMS),
    )
    near = cooccurrence_neighbours(matrix, k=2)
    assert near[0].tolist() == [1, 2]
    assert near[3].tolist() == [4, -1] and near[5].tolist() == [-1, -1]  # no invented neighbours
    with pytest.raises(ParameterError):
        cooccurrence_neighbours(matrix, k=0)


def test_agreement_counts_the_top_reasons_and_states_chance():
    neighbours = np.full((N_ITEMS, 2), -1)
    neighbours[5] = [1, 2]
    # pair 0: top 3 of {0: .1, 1: .9, 2: .5, 3: .3} are 1, 2, 3: two of three are neighbours of 5
    # pair 1: top 3 of {0: .9, 3: .5, 4: .4, 1: -.2} are 0, 3, 4: none
    e, bags = _explanations([{0: 0.1, 1: 0.9, 2: 0.5, 3: 0.3}, {0: 0.9, 3: 0.5, 4: 0.4, 1: -0.2}], [5, 5])
    result = neighbour_agreement(e, bags, neighbours, top=3)
    assert result["share"] == pytest.approx((2 / 3 + 0) / 2)
    assert result["chance"] == pytest.approx((2 / 4 + 1 / 4) / 2) and result["pairs"] == 2


def test_shared_attribute_and_group_hits():
    genres = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 1], [0, 0], [0, 1], [1, 0]]))
    e, bags = _explanations([{0: 0.1, 1: 0.9, 2: 0.5, 3: 0.3}], [5])  # top 3: 1, 2, 3; item 5 is genre 0
    assert shared_attribute(e, bags, genres, top=3) == {
        "share": pytest.approx(1 / 3),
        "chance": 0.5,
        "pairs": 1,
        "se": None,  # one pair has no spread to estimate
    }
    group = np.array([-1, 7, -1, 7, -1, 7])  # items 1, 3 and the target 5 are one series
    hit = group_hits(e, bags, group, top=1)  # the top reason, 1, is of the series
    assert hit["share"] == 1.0 and hit["chance"] == pytest.approx(2 / 4)
    other, other_bags = _explanations([{0: 0.9, 1: 0.1}], [5])  # the top reason, 0, is not
    assert group_hits(other, other_bags, group, top=1) == {"share": 0.0, "chance": 0.5, "pairs": 1, "se": None}
    alone, alone_bags = _explanations([{0: 0.3, 2: 0.1}], [5])  # no member in the history: not asked
    assert group_hits(alone, alone_bags, group)["pairs"] == 0
    shares = reason_popularity(e, bags, np.array([10, 1, 5, 3, 0, 0]), top=1)
    assert shares["share"] == pytest.approx(3 / 6)  # item 1 is the 3rd least popular of 6
    assert shares["chance"] == pytest.approx((6 + 3 + 5 + 4) / 6 / 4)


def test_standard_errors_and_the_paired_difference_on_shared_pairs():
    group = np.array([-1, 7, -1, 7, -1, 7])
    # pairs 0, 1: a member (1 or 3) in the history; pair 2: none, not asked
    e, bags = _explanations([{1: 0.9, 0: 0.1}, {0: 0.9, 3: 0.1}, {0: 0.5, 2: 0.4}], [5, 5, 5])
    first = group_hits(e, bags, group, top=1, per_pair=True)
    assert first["values"][:2] == [1.0, 0.0] and np.isnan(first["values"][2])
    assert first["share"] == 0.5 and first["se"] == pytest.approx(np.std([1, 0], ddof=1) / np.sqrt(2))
    f, f_bags = _explanations([{1: 0.9, 0: 0.1}, {3: 0.9, 0: 0.1}, {0: 0.5, 2: 0.4}], [5, 5, 5])
    second = group_hits(f, f_bags, group, top=1, per_pair=True)  # the second model hits both
    gap = paired_difference(first["values"], second["values"])
    assert gap == {"difference": -0.5, "se": pytest.approx(0.5), "pairs": 2}  # differences 0 and -1
    neighbours = np.full((N_ITEMS, 2), -1)
    neighbours[5] = [1, 2]
    shares = neighbour_agreement(e, bags, neighbours, top=1, per_pair=True)["values"]
    assert shares == [1.0, 0.0, 0.0]
    with pytest.raises(ParameterError, match="differ in length"):
        paired_difference([1.0], [1.0, 0.0])


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Godfather: Part II, The (1974)", "godfather"),
        ("Godfather, The (1972)", "godfather"),
        ("Star Trek IV: The Voyage Home (1986)", "star trek"),
        ("Star Wars: Episode V - The Empire Strikes Back (1980)", "star wars"),
        ("Jaws 3-D (1983)", "jaws"),
        ("Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)", "shanghai triad"),
    ],
)
def test_series_keys_from_titles(title, key):
    assert series_key(title) == key


def test_series_group_sequels_not_remakes_or_extensions():
    titles = [
        "Toy Story (1995)",
        "Toy Story 2 (1999)",
        "Star Wars (1977)",
        "Return of the Jedi (1983)",
        "Sabrina (1954)",
        "Sabrina (1995)",
        "Dead Man (1995)",
        "Dead Man Walking (1995)",
    ]
    group = series(titles)
    assert group[0] == group[1] >= 0 and group[2] == group[3] >= 0 and group[0] != group[2]
    assert (group[4:] == -1).all()  # a remake of one title, and a title that extends another, are not series
    assert full_title("Little Princess, The (1939)") == "the little princess"
