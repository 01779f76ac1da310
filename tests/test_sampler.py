"""The removal sampler: count distribution 1/(k!)^β, labels leave the bag, attributes follow items;
the masking sampler: masked items are its bag's labels and leave it with their attributes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from whyrec.errors import ParameterError
from whyrec.models.sampler import MaskingSampler, RemovalSampler, removal_counts


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_removal_count_distribution_matches_the_paper(beta):
    rng = np.random.default_rng(0)
    n = 200_000
    counts = removal_counts(rng, n, beta)
    assert counts.min() >= 1
    # P(K >= k) = 1 / (k!)^β, so P(K = k) = 1/(k!)^β - 1/((k+1)!)^β
    ks = np.arange(1, 7)
    expected = np.array([math.factorial(k) ** -beta - math.factorial(k + 1) ** -beta for k in ks])
    observed = np.array([(counts == k).sum() for k in ks])
    tail_expected = n * (1 - expected.sum())
    chi = stats.chisquare(np.append(observed, n - observed.sum()), np.append(n * expected, tail_expected), ddof=0)
    assert chi.pvalue > 1e-3, (observed, n * expected)


def test_beta_zero_removes_everything_it_can():
    assert (removal_counts(np.random.default_rng(0), 100, 0.0) == 64).all()


def _toy():
    # 3 users x 4 items; tokens: 4 items, 2 user attributes (4, 5), 2 item attributes (6, 7)
    history = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 1, 0, 1], [1, 0, 0, 1]], dtype=np.float32))
    user_attr = sp.csr_matrix(np.array([[0, 0, 0, 0, 1, 0, 0, 0]] * 3, dtype=np.float32))
    item_attr = np.zeros((4, 8), np.float32)
    item_attr[0, 6] = item_attr[1, 6] = item_attr[2, 7] = item_attr[3, 7] = (
        1  # item 2's attribute 7 is unique in user 0
    )
    return history, user_attr, sp.csr_matrix(item_attr)


def test_batch_removes_label_and_its_exclusive_attributes():
    history, user_attr, item_attr = _toy()
    sampler = RemovalSampler(history, user_attr, item_attr, beta=50.0)  # β large: only the label goes
    batch = sampler.batch(np.random.default_rng(0), np.arange(history.nnz))
    bags = np.split(batch.indices, batch.offsets[1:])
    for bag, label, user in zip(bags, batch.labels, sampler.row_of, strict=True):
        assert label not in bag
        expected_items = set(history[user].indices) - {label}
        assert set(bag[bag < 4]) == expected_items
        expected_attrs = {4} | {t for i in expected_items for t in item_attr[i].indices}
        assert set(bag[bag >= 4]) == expected_attrs


def test_extra_removals_hit_attributes_when_asked():
    history, user_attr, item_attr = _toy()
    rng = np.random.default_rng(1)
    with_attr = RemovalSampler(history, user_attr, item_attr, beta=0.3, remove_attributes=True)
    without = RemovalSampler(history, user_attr, item_attr, beta=0.3, remove_attributes=False)
    positions = np.tile(np.arange(history.nnz), 300)
    dropped_user_attr = sum(4 not in bag for bag in _bags(with_attr.batch(rng, positions)))
    kept_user_attr = all(4 in bag for bag in _bags(without.batch(rng, positions)))
    assert dropped_user_attr > 0 and kept_user_attr


def test_sampling_is_deterministic_under_a_seed():
    history, user_attr, item_attr = _toy()
    sampler = RemovalSampler(history, user_attr, item_attr, beta=1.0)
    a = sampler.batch(np.random.default_rng(7), np.arange(history.nnz))
    b = sampler.batch(np.random.default_rng(7), np.arange(history.nnz))
    assert (a.indices == b.indices).all() and (a.offsets == b.offsets).all()


def _bags(batch):
    return np.split(batch.indices, batch.offsets[1:])


def test_cold_rate_turns_that_share_of_examples_into_attribute_only_bags():
    history, user_attr, item_attr = _toy()
    sampler = RemovalSampler(history, user_attr, item_attr, beta=50.0, cold_rate=0.3)
    positions = np.tile(np.arange(history.nnz), 2000)
    bags = _bags(sampler.batch(np.random.default_rng(3), positions))
    cold = [list(bag) == [4] for bag in bags]  # only the user's attribute token is left
    assert all(list(bag) == [4] or (bag < 4).any() for bag in bags)
    assert np.mean(cold) == pytest.approx(0.3, abs=0.02)


def test_masking_removes_masked_items_and_their_exclusive_attributes():
    history, user_attr, item_attr = _toy()
    sampler = MaskingSampler(history, user_attr, item_attr, rate=0.5)
    users = np.tile(np.arange(3), 200)
    batch = sampler.batch(np.random.default_rng(0), users)
    bags = _bags(batch)
    assert len(bags) == len(users)  # every toy user keeps a bag (the user attribute stays)
    labels_of = [batch.labels[batch.rows == b] for b in range(len(bags))]
    for bag, labels, user in zip(bags, labels_of, users, strict=True):
        items = set(history[user].indices)
        assert len(labels) >= 1 and set(labels) <= items  # at least one masked item, all the user's
        kept = items - set(labels)
        assert set(bag[bag < 4]) == kept
        assert set(bag[bag >= 4]) == {4} | {t for i in kept for t in item_attr[i].indices}


def test_masking_rate_and_determinism():
    history = sp.random(200, 50, density=0.3, format="csr", random_state=0, dtype=np.float32)
    history.data[:] = 1
    no_attributes = sp.csr_matrix((200, 50), dtype=np.float32)
    sampler = MaskingSampler(history, no_attributes, sp.csr_matrix((50, 50), dtype=np.float32), rate=0.2)
    a = sampler.batch(np.random.default_rng(5), sampler.users)
    b = sampler.batch(np.random.default_rng(5), sampler.users)
    assert all((x == y).all() for x, y in zip(a.arrays(), b.arrays(), strict=True)) and (a.rows == b.rows).all()
    assert len(a.labels) / history.nnz == pytest.approx(0.2, abs=0.02)  # at least one each adds little here
    # a user with a single item and no attributes has nothing left once it is masked: no bag, no label
    lone = sp.csr_matrix(([1.0], ([0], [3])), shape=(1, 50), dtype=np.float32)
    single = MaskingSampler(
        lone, sp.csr_matrix((1, 50), dtype=np.float32), sp.csr_matrix((50, 50), dtype=np.float32), rate=0.1
    )
    empty = single.batch(np.random.default_rng(0), single.users)
    assert len(empty.offsets) == 0 and len(empty.labels) == 0


def test_masking_rate_is_checked():
    history, user_attr, item_attr = _toy()
    with pytest.raises(ParameterError, match=r"rate=0.0 must be in \(0, 1\]"):
        MaskingSampler(history, user_attr, item_attr, rate=0.0)
