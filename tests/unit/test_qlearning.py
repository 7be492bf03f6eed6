"""Tabular Q-learning: updates worked by hand, the batched update against a loop, bin indices by hand, tie-breaking."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from hrlkit.errors import HrlkitError
from hrlkit.learners.qlearning import Discretiser, QLearningConfig, QLearningLearner
from hrlkit.types import ReplayBatch


def batch(obs, actions, rewards, next_obs, terminated) -> ReplayBatch:
    n = len(actions)
    return ReplayBatch(
        obs=torch.as_tensor(obs),
        actions=torch.as_tensor(actions, dtype=torch.int64),
        rewards=torch.as_tensor(rewards, dtype=torch.float32),
        next_obs=torch.as_tensor(next_obs),
        terminated=torch.as_tensor(terminated, dtype=torch.float32),
        weights=torch.ones(n),
        indices=torch.arange(n),
    )


def tiny_learner(lr: float = 0.5, gamma: float = 0.9) -> QLearningLearner:
    """Discrete(3) states x Discrete(2) actions with the table Q = [[1, 2], [3, -1], [0.5, 4]]."""
    learner = QLearningLearner(gym.spaces.Discrete(3), gym.spaces.Discrete(2), QLearningConfig(lr=lr, gamma=gamma))
    learner.q_table[:] = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 4.0]], dtype=torch.float64)
    return learner


def test_update_by_hand() -> None:
    """Two transitions in one batch, lr 0.5, gamma 0.9:
    (s0, a1, r 1, s' 1, not terminated): y = 1 + 0.9 * max(3, -1) = 3.7, delta = 3.7 - 2 = 1.7, Q(0, 1) = 2.85;
    (s2, a0, r -1, s' 0, terminated):    y = -1 (no bootstrap),        delta = -1 - 0.5 = -1.5, Q(2, 0) = -0.25."""
    learner = tiny_learner()
    b = batch([0, 2], [1, 0], [1.0, -1.0], [1, 0], [0.0, 1.0])
    np.testing.assert_allclose(learner.target(b), [3.7, -1.0])
    np.testing.assert_allclose(learner.td_error(b), [1.7, -1.5])
    stats, td_errors = learner.update(b)
    np.testing.assert_allclose(learner.table, [[1.0, 2.85], [3.0, -1.0], [-0.25, 4.0]])
    assert stats["td_error"] == pytest.approx((1.7 + 1.5) / 2)
    assert stats["q_mean"] == pytest.approx((2.0 + 0.5) / 2)
    np.testing.assert_allclose(td_errors.numpy(), [1.7, 1.5])
    # The next transition bootstraps from the updated row: (s1, a0, r 0, s' 0): y = 0.9 * 2.85, Q(1, 0) = 3 + 0.5 (y - 3).
    learner.update(batch([1], [0], [0.0], [0], [0.0]))
    assert learner.table[1, 0] == pytest.approx(3.0 + 0.5 * (0.9 * 2.85 - 3.0))
    assert learner.n_updates == 2


def test_same_entry_twice_moves_by_the_mean_td_error() -> None:
    """Two envs in (s0, a1) in one step, rewards 1 and 3, both terminated: deltas -1 and 1 around Q = 2 -> mean 0;
    a third env's target reads the table before the step (s' = 0 sees max Q(0, .) = 2, not an updated value)."""
    learner = tiny_learner()
    b = batch([0, 0, 1], [1, 1, 1], [1.0, 3.0, 0.0], [1, 1, 0], [1.0, 1.0, 0.0])
    learner.update(b)
    assert learner.table[0, 1] == pytest.approx(2.0)  # 2 + 0.5 * mean(-1, +1)
    assert learner.table[1, 1] == pytest.approx(-1.0 + 0.5 * (0.9 * 2.0 + 1.0))


def test_batched_update_matches_a_loop_without_repeats() -> None:
    """Distinct (s, a) entries: the batched update equals applying them one by one against the starting table."""
    rng = np.random.default_rng(0)
    space = gym.spaces.Discrete(50)
    learner = QLearningLearner(space, gym.spaces.Discrete(4), QLearningConfig(lr=0.3, gamma=0.95))
    learner.q_table[:] = torch.from_numpy(rng.normal(size=(50, 4)))
    start = learner.table.copy()
    flat = rng.choice(200, size=20, replace=False)
    s, a = flat // 4, flat % 4
    s2, r, term = rng.integers(0, 50, 20), rng.normal(size=20), rng.random(20) < 0.3
    learner.update(batch(s, a, r, s2, term.astype(np.float32)))
    expected = start.copy()
    for i in range(20):
        y = np.float32(r[i]) + 0.95 * (1 - term[i]) * start[s2[i]].max()
        expected[s[i], a[i]] += 0.3 * (y - start[s[i], a[i]])
    np.testing.assert_allclose(learner.table, expected, rtol=1e-12)


def test_discretiser_by_hand() -> None:
    """bins (3, 4) over [0, 1] x [0, 1]: bin widths 1/3 and 1/4, closed on the left; index = 4 * b0 + b1."""
    d = Discretiser(gym.spaces.Box(0.0, 1.0, (2,), np.float32), bins=(3, 4))
    assert d.n_states == 12
    cases = {
        (0.7, 0.3): 2 * 4 + 1,  # the worked example of the docstring
        (0.0, 0.0): 0,  # lower edge
        (1.0, 1.0): 2 * 4 + 3,  # upper edge: the last bin, not one past it
        (0.5, 0.25): 1 * 4 + 1,  # 0.25 is the left edge of the second bin
        (0.3, 0.2499): 0 * 4 + 0,
        (-5.0, 7.0): 0 * 4 + 3,  # outside the range: the edge bins
    }
    obs = np.array(list(cases), np.float32)
    np.testing.assert_array_equal(d(obs), list(cases.values()))
    # Against numpy's ravel_multi_index on random points, including points outside the range.
    x = np.random.default_rng(1).uniform(-0.5, 1.5, (100, 2)).astype(np.float32)
    per_dim = np.clip(np.floor(x.astype(np.float64) * [3, 4]).astype(int), 0, [2, 3])
    np.testing.assert_array_equal(d(x), np.ravel_multi_index(per_dim.T, (3, 4)))


def test_discretiser_ranges_and_errors() -> None:
    cartpole = gym.make("CartPole-v1").observation_space  # dims 1 and 3 are unbounded
    with pytest.raises(HrlkitError, match="dimension 1 is unbounded"):
        Discretiser(cartpole, bins=(6,))
    d = Discretiser(cartpole, bins=(1, 1, 6, 12), low=(-2.4, -3.0, -0.21, -2.0), high=(2.4, 3.0, 0.21, 2.0))
    assert d.n_states == 72
    # theta 0.0 -> bin 3 of 6 over [-0.21, 0.21]; omega -2.5 (clipped) -> bin 0; x and x_dot: the single bin.
    assert d(np.array([[1.0, 9.0, 0.0, -2.5]], np.float32)).tolist() == [3 * 12 + 0]
    with pytest.raises(HrlkitError, match="one per observation dimension"):
        Discretiser(cartpole, bins=(1, 2))
    with pytest.raises(HrlkitError, match="below obs_high"):
        Discretiser(gym.spaces.Box(0.0, 1.0, (1,)), low=(1.0,), high=(0.0,))
    # Discrete observations are their own index, minus the space's start.
    assert Discretiser(gym.spaces.Discrete(4, start=2))(np.array([2, 5])).tolist() == [0, 3]
    with pytest.raises(HrlkitError, match="too large"):
        QLearningLearner(gym.spaces.Box(0.0, 1.0, (8,)), gym.spaces.Discrete(2), QLearningConfig(bins=(10,)))


def test_ties_break_uniformly_when_exploring() -> None:
    learner = tiny_learner()
    learner.q_table[1] = torch.tensor([5.0, 5.0], dtype=torch.float64)
    obs = torch.tensor([1] * 400 + [2])
    assert learner.act(obs, deterministic=True)[:400].unique().tolist() == [0]  # the first of the tied actions
    torch.manual_seed(0)
    actions = learner.act(obs, deterministic=False)
    assert 150 < int(actions[:400].sum()) < 250  # both tied actions, about half each
    assert int(actions[400]) == 1  # no tie: the greedy action


def test_observations_the_table_cannot_hold_are_refused():
    discrete = Discretiser(gym.spaces.Discrete(4, start=2))
    assert discrete(np.array([2, 5])).tolist() == [0, 3]
    with pytest.raises(HrlkitError, match="outside Discrete"):
        discrete(np.array([0]))  # row -2 would wrap around to row 2
    box = Discretiser(gym.spaces.Box(-1.0, 1.0, (2,)), bins=(4,))
    with pytest.raises(HrlkitError, match="non-finite"):
        box(np.array([[0.0, np.nan]]))  # NaN would be cast into bin 0
