"""ActionScaler: the map between a learner's [-1, 1] actions and an env's Box bounds, worked by hand."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from hrlkit.envs.spaces import ActionScaler
from hrlkit.errors import HrlkitError


def box(low, high, dtype=np.float32) -> gym.spaces.Box:
    return gym.spaces.Box(np.array(low, dtype), np.array(high, dtype), dtype=dtype)


def test_symmetric_bounds():
    scaler = ActionScaler(box([-2.0], [2.0]))
    a = np.array([[-1.0], [-0.5], [0.0], [0.5], [1.0]])
    np.testing.assert_allclose(scaler.to_env(a), [[-2.0], [-1.0], [0.0], [1.0], [2.0]])
    np.testing.assert_allclose(scaler.to_normalised(np.array([[-2.0], [1.0], [2.0]])), [[-1.0], [0.5], [1.0]])


def test_asymmetric_bounds():
    # a_env = 0 + (a + 1) / 2 * 10
    scaler = ActionScaler(box([0.0], [10.0]))
    a = np.array([[-1.0], [-0.5], [0.0], [0.5], [1.0]])
    np.testing.assert_allclose(scaler.to_env(a), [[0.0], [2.5], [5.0], [7.5], [10.0]])
    np.testing.assert_allclose(
        scaler.to_normalised(np.array([[0.0], [2.5], [7.5], [10.0]])), [[-1.0], [-0.5], [0.5], [1.0]]
    )


def test_per_dimension_bounds():
    scaler = ActionScaler(box([-2.0, 0.0], [2.0, 10.0]))
    np.testing.assert_allclose(scaler.to_env(np.array([[0.5, 0.5], [-1.0, 0.0]])), [[1.0, 7.5], [-2.0, 5.0]])


def test_round_trip_and_dtypes():
    scaler = ActionScaler(box([-2.0, 0.0, -0.1], [2.0, 10.0, 0.3]))
    a = np.random.default_rng(0).uniform(-1, 1, (100, 3)).astype(np.float32)
    env_a = scaler.to_env(a)
    assert env_a.dtype == np.float32  # the env's dtype
    back = scaler.to_normalised(env_a)
    assert back.dtype == np.float32  # what the replay stores
    np.testing.assert_allclose(back, a, atol=1e-5)
    assert ActionScaler(box([-1.0], [3.0], np.float64)).to_env(np.zeros((1, 1), np.float32)).dtype == np.float64


def test_out_of_range_actions_are_clipped_to_the_bounds():
    scaler = ActionScaler(box([0.0], [10.0]))
    np.testing.assert_allclose(scaler.to_env(np.array([[1.5], [-3.0], [1.0 + 1e-3]])), [[10.0], [0.0], [10.0]])


@pytest.mark.parametrize(
    ("low", "high"), [([-np.inf], [np.inf]), ([0.0, -1.0], [np.inf, 1.0]), ([-np.inf, 0.0], [1.0, 1.0])]
)
def test_infinite_bounds_are_refused(low, high):
    with pytest.raises(HrlkitError, match="infinite bounds.*give the env finite bounds"):
        ActionScaler(box(low, high))
