"""Sum/min trees and proportional prioritized replay: values by hand, retrieval against cumsum, sampling frequencies."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats

from hrlkit.buffers import ReplayBuffer
from hrlkit.buffers.prioritized import PrioritizedSampler
from hrlkit.buffers.segment_tree import MinTree, SumTree
from hrlkit.errors import HrlkitError


# ------------------------------------------------------------------------------------------------------ trees
def test_sum_tree_nodes_by_hand():
    tree = SumTree(4)
    tree.update(np.array([0, 1, 2, 3]), np.array([1.0, 0.0, 3.0, 2.0]))
    # nodes 4..7 = leaves, node 2 = 1 + 0, node 3 = 3 + 2, root = 6
    assert tree.nodes[1:].tolist() == [6.0, 1.0, 5.0, 1.0, 0.0, 3.0, 2.0]
    tree.update(np.array([3]), np.array([0.5]))
    assert tree.total == 4.5 and tree.nodes[3] == 3.5


def test_sum_tree_non_power_of_two_and_repeated_leaves():
    tree = SumTree(5)  # size 8, depth 3
    assert tree.size == 8 and tree.depth == 3
    tree.update(np.array([4, 0, 4, 2]), np.array([7.0, 1.0, 2.0, 0.5]))  # leaf 4 twice: the later value (2) wins
    assert tree[np.array([0, 1, 2, 3, 4])].tolist() == [1.0, 0.0, 0.5, 0.0, 2.0]
    assert tree.total == 3.5
    with pytest.raises(IndexError):
        tree.update(np.array([5]), np.array([1.0]))
    with pytest.raises(HrlkitError):
        tree.update(np.array([0]), np.array([-1.0]))


def test_prefix_sum_worked_example_and_zero_leaves_skipped():
    tree = SumTree(4)
    tree.update(np.arange(4), np.array([1.0, 0.0, 3.0, 2.0]))  # cumsum [1, 1, 4, 6]
    found = tree.find_prefix_sum(np.array([0.0, 0.99, 1.0, 3.5, 3.99, 4.0, 5.99]))
    assert found.tolist() == [0, 0, 2, 2, 2, 3, 3]


def test_prefix_sum_matches_cumsum_search_on_random_leaves():
    rng = np.random.default_rng(0)
    values = rng.exponential(size=1000) * (rng.random(1000) > 0.2)  # a fifth are zero
    tree = SumTree(1000)
    tree.update(np.arange(1000), values)
    assert tree.total == pytest.approx(values.sum())
    prefixes = rng.uniform(0, values.sum(), size=5000)
    expected = np.searchsorted(np.cumsum(values), prefixes, side="right")
    assert np.array_equal(tree.find_prefix_sum(prefixes), expected)
    assert np.all(values[tree.find_prefix_sum(prefixes)] > 0)


def test_min_tree():
    tree = MinTree(6)
    assert tree.min == np.inf
    tree.update(np.array([0, 3, 5]), np.array([4.0, 2.0, 9.0]))
    assert tree.min == 2.0
    tree.update(np.array([3]), np.array([8.0]))
    assert tree.min == 4.0


# -------------------------------------------------------------------------------------------------- sampler
def test_new_entries_get_the_largest_priority_seen():
    s = PrioritizedSampler(8, priority_exponent=0.5, priority_epsilon=1e-6)
    s.on_write(np.array([0, 1]))
    assert s.sum_tree[np.array([0, 1])].tolist() == [1.0, 1.0]  # max priority starts at 1
    s.update_priorities(np.array([0, 1]), np.array([3.0, -0.5]))  # |delta| counts
    assert s.max_priority == pytest.approx(3.0 + 1e-6)
    s.on_write(np.array([2]))
    assert s.sum_tree[2] == pytest.approx((3.0 + 1e-6) ** 0.5)
    assert s.sum_tree[1] == pytest.approx((0.5 + 1e-6) ** 0.5)


def test_importance_weights_by_hand():
    alpha, beta, eps = 0.5, 0.4, 1e-6
    s = PrioritizedSampler(
        4, priority_exponent=alpha, is_weight_exponent=beta, anneal_entries=10**12, priority_epsilon=eps
    )  # beta stays 0.4
    s.on_write(np.arange(3))
    s.update_priorities(np.arange(3), np.array([1.0, 3.0, 0.0]))
    p = (np.array([1.0, 3.0, 0.0]) + eps) ** alpha  # stored priorities
    prob = p / p.sum()
    n = 3
    full = (n * prob) ** -beta
    expected = full / full.max()  # the paper's w_i / max_j w_j
    idx, w = s.sample(64, np.random.default_rng(0))
    assert set(idx.tolist()) <= {0, 1, 2}
    np.testing.assert_allclose(w, expected[idx], rtol=1e-5)
    # by hand for entry 1: (p_min / p_1)^beta with p_min = eps^0.5
    assert expected[1] == pytest.approx((eps**0.5 / 3.0**0.5) ** 0.4, rel=1e-4)


def test_sampling_frequencies_are_proportional_chi_square():
    s = PrioritizedSampler(16, priority_exponent=1.0)
    s.on_write(np.arange(10))
    td = np.linspace(0.1, 2.0, 10)
    s.update_priorities(np.arange(10), td)
    rng = np.random.default_rng(123)
    counts = np.zeros(10)
    for _ in range(500):
        idx, _ = s.sample(32, rng)
        counts += np.bincount(idx, minlength=16)[:10]
    expected = (td + 1e-6) / (td + 1e-6).sum() * counts.sum()
    assert stats.chisquare(counts, expected).pvalue > 0.01
    # and the test has power: the same counts are far from uniform
    assert stats.chisquare(counts, np.full(10, counts.sum() / 10)).pvalue < 1e-6


def test_priority_exponent_zero_is_uniform_and_beta_anneals():
    s = PrioritizedSampler(4, priority_exponent=0.0, is_weight_exponent=0.4, anneal_entries=10)
    s.on_write(np.arange(4))
    s.update_priorities(np.arange(4), np.array([0.1, 1.0, 10.0, 100.0]))
    assert np.allclose(s.sum_tree[np.arange(4)], 1.0)
    assert s.written == 4 and s.is_weight_exponent == pytest.approx(0.4 + 0.4 * 0.6)
    s.on_write(np.arange(4))
    s.on_write(np.arange(4))
    assert s.is_weight_exponent == 1.0


def test_bad_settings_and_nan_td_errors_are_refused():
    with pytest.raises(HrlkitError, match="priority_exponent"):
        PrioritizedSampler(4, priority_exponent=1.5)
    s = PrioritizedSampler(4)
    with pytest.raises(HrlkitError, match="empty"):
        s.sample(2, np.random.default_rng(0))
    s.on_write(np.arange(2))
    with pytest.raises(HrlkitError, match="NaN"):
        s.update_priorities(np.arange(2), np.array([1.0, np.nan]))


# ----------------------------------------------------------------------------------------- in the replay buffer
def _per_buffer(capacity=5, n_envs=2):
    obs_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    act_space = gym.spaces.Discrete(2)
    sampler = PrioritizedSampler(capacity * n_envs, priority_exponent=1.0)
    return ReplayBuffer(capacity, obs_space, act_space, n_envs, sampler=sampler)


def _fill(buf, rows, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(rows):
        buf.add(
            rng.normal(size=(2, 3)).astype(np.float32), rng.integers(0, 2, 2), rng.normal(size=2),
            rng.normal(size=(2, 3)).astype(np.float32), np.zeros(2, bool),
        )  # fmt: skip


def test_replay_buffer_samples_only_stored_entries_and_follows_priorities():
    buf = _per_buffer()
    _fill(buf, 2)  # flat entries 0..3 stored
    batch = buf.sample(64, np.random.default_rng(0))
    assert set(batch.indices.tolist()) <= {0, 1, 2, 3}
    assert batch.weights.shape == (64,)
    # entry 2 gets nearly all the mass
    buf.update_priorities(np.arange(4), np.array([1e-3, 1e-3, 100.0, 1e-3]))
    batch = buf.sample(64, np.random.default_rng(1))
    assert (batch.indices == 2).float().mean() > 0.9
    # its weight is the smallest: (p_min / p_2)^beta < 1, the others' are 1
    w = dict(zip(batch.indices.tolist(), batch.weights.tolist(), strict=True))
    assert w[2] < 0.1 and all(v == pytest.approx(1.0) for k, v in w.items() if k != 2)


def test_replay_buffer_priorities_survive_a_state_dict_round_trip():
    buf = _per_buffer()
    _fill(buf, 3)
    buf.update_priorities(np.arange(6), np.arange(6.0))
    state = {k: np.array(v) for k, v in buf.state_dict().items()}
    other = _per_buffer()
    other.load_state_dict(state)
    a = buf.sample(16, np.random.default_rng(5))
    b = other.sample(16, np.random.default_rng(5))
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.weights, b.weights)
    uniform = ReplayBuffer(5, buf.obs_space, buf.action_space, 2)
    with pytest.raises(HrlkitError, match="no priorities.*--prioritized-replay false"):
        other.load_state_dict(uniform.state_dict())


def test_incremental_priority_updates_match_trees_rebuilt_from_the_leaves():
    """Many batched updates (with repeated indices) leave both trees as if built at once from the final leaves."""
    s = PrioritizedSampler(1000)
    rng = np.random.default_rng(1)
    s.on_write(np.arange(1000))
    for _ in range(200):
        idx, _ = s.sample(64, rng)
        s.update_priorities(idx, rng.exponential(size=64))
    s.on_write(np.array([7]))  # the one-env path
    leaves = s.sum_tree[np.arange(1000)]
    sums, mins = SumTree(1000), MinTree(1000)
    sums.update(np.arange(1000), leaves)
    mins.update(np.arange(1000), leaves)
    np.testing.assert_allclose(s.sum_tree.nodes, sums.nodes, rtol=1e-12)
    assert np.array_equal(s.min_tree.nodes, mins.nodes)
    with pytest.raises(IndexError):
        s.update_priorities(np.array([1000]), np.array([1.0]))
