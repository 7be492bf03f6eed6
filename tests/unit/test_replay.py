"""ReplayBuffer: ring wrap-around, (row, env) indexing, Dict observations, memory, save/load and uniform sampling."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from hrlkit.buffers import ReplayBuffer
from hrlkit.errors import HrlkitError

PENDULUM_OBS = gym.spaces.Box(-8.0, 8.0, (3,), np.float32)
PENDULUM_ACT = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
GOAL_OBS = gym.spaces.Dict(
    {
        "observation": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
        "desired_goal": gym.spaces.Box(-np.inf, np.inf, (2,), np.float64),
    }
)


def add_row(buf: ReplayBuffer, value: float) -> None:
    """One row whose every field encodes `value` and the env index: obs = 10 * value + env."""
    n = buf.n_envs
    code = 10.0 * value + np.arange(n)

    def obs(offset: float):
        if isinstance(buf.obs, dict):
            return {k: np.repeat((code + offset)[:, None], v.shape[-1], axis=1) for k, v in buf.obs.items()}
        return np.repeat((code + offset)[:, None], buf.obs.shape[-1], axis=1)

    buf.add(obs(0.0), code[:, None].astype(np.float32), code, obs(0.5), (np.arange(n) + value) % 2)


def test_ring_wraps_around():
    buf = ReplayBuffer(3, PENDULUM_OBS, PENDULUM_ACT)
    assert (len(buf), buf.pos, buf.full) == (0, 0, False)
    add_row(buf, 0)
    add_row(buf, 1)
    assert (len(buf), buf.pos, buf.full) == (2, 2, False)
    add_row(buf, 2)
    assert (len(buf), buf.pos, buf.full) == (3, 0, True)
    add_row(buf, 3)
    add_row(buf, 4)
    # rows 0 and 1 were overwritten by the 4th and 5th adds; row 2 still holds the 3rd
    assert (len(buf), buf.pos, buf.full) == (3, 2, True)
    np.testing.assert_array_equal(buf.rewards[:, 0], [30.0, 40.0, 20.0])
    np.testing.assert_array_equal(buf.obs[:, 0, 0], [30.0, 40.0, 20.0])
    np.testing.assert_array_equal(buf.next_obs[:, 0, 0], [30.5, 40.5, 20.5])
    batch = buf.gather(np.array([0, 1, 2]))
    torch.testing.assert_close(batch.rewards, torch.tensor([30.0, 40.0, 20.0]))
    torch.testing.assert_close(batch.terminated, torch.tensor([1.0, 0.0, 0.0]))  # (0 + value) % 2


def test_flat_index_maps_to_row_and_env():
    buf = ReplayBuffer(4, PENDULUM_OBS, PENDULUM_ACT, n_envs=2)
    for r in range(4):
        add_row(buf, r)
    assert len(buf) == 8
    # flat = row * 2 + env: 7 -> (3, 1), 0 -> (0, 0), 3 -> (1, 1), 4 -> (2, 0)
    batch = buf.gather(np.array([7, 0, 3, 4]))
    expected = torch.tensor([31.0, 0.0, 11.0, 20.0])
    torch.testing.assert_close(batch.rewards, expected)
    torch.testing.assert_close(batch.obs, expected[:, None].expand(4, 3))
    torch.testing.assert_close(batch.next_obs, expected[:, None].expand(4, 3) + 0.5)
    torch.testing.assert_close(batch.actions, expected[:, None])
    torch.testing.assert_close(batch.terminated, torch.tensor([0.0, 0.0, 0.0, 0.0]))  # (env + row) % 2
    torch.testing.assert_close(batch.weights, torch.ones(4))
    assert batch.indices.tolist() == [7, 0, 3, 4]
    assert batch.rewards.dtype == batch.terminated.dtype == torch.float32


def test_dict_observations_get_one_array_per_key():
    buf = ReplayBuffer(5, GOAL_OBS, PENDULUM_ACT, n_envs=2)
    assert buf.obs["observation"].shape == (5, 2, 4) and buf.obs["observation"].dtype == np.float32
    # float64 observations are stored as float32 (half the memory; the networks compute in float32)
    assert buf.obs["desired_goal"].shape == (5, 2, 2) and buf.obs["desired_goal"].dtype == np.float32
    for r in range(3):
        add_row(buf, r)
    batch = buf.gather(np.array([5, 2]))  # (2, 1) and (1, 0)
    assert set(batch.obs) == {"observation", "desired_goal"}
    torch.testing.assert_close(batch.obs["observation"], torch.tensor([[21.0] * 4, [10.0] * 4]))
    # float64 arrays come back as float32 tensors
    torch.testing.assert_close(batch.next_obs["desired_goal"], torch.tensor([[21.5] * 2, [10.5] * 2]))


def test_bytes_per_transition_pendulum():
    # obs and next_obs: 2 x 3 x 4 bytes, action 4, reward 4, terminated 1, episode start and end 2 x 8
    buf = ReplayBuffer(10, PENDULUM_OBS, PENDULUM_ACT)
    assert buf.bytes_per_transition == 49
    assert ReplayBuffer(10, PENDULUM_OBS, PENDULUM_ACT, n_envs=4).bytes_per_transition == 49
    assert buf.nbytes == 490


def test_bytes_per_transition_dict():
    # obs: 4 x 4 (float32) + 2 x 4 (float64 stored as float32) = 24, twice = 48; action Box(2,) float64 stored as
    # float32 = 8; reward 4, terminated 1, episode start and end 16: 77
    act = gym.spaces.Box(-1.0, 1.0, (2,), np.float64)
    assert ReplayBuffer(10, GOAL_OBS, act, n_envs=3).bytes_per_transition == 77


@pytest.mark.parametrize(("obs_space", "n_envs"), [(PENDULUM_OBS, 1), (GOAL_OBS, 2)])
def test_state_dict_round_trip_through_npz(tmp_path, obs_space, n_envs):
    buf = ReplayBuffer(4, obs_space, PENDULUM_ACT, n_envs=n_envs)
    for r in range(6):  # wraps: pos = 2, full
        add_row(buf, r)
    np.savez(tmp_path / "replay.npz", **buf.state_dict())
    restored = ReplayBuffer(4, obs_space, PENDULUM_ACT, n_envs=n_envs)
    with np.load(tmp_path / "replay.npz", allow_pickle=False) as data:
        restored.load_state_dict({k: data[k] for k in data.files})
    assert (restored.pos, restored.full, len(restored)) == (2, True, 4 * n_envs)
    flat = np.arange(4 * n_envs)
    a, b = buf.gather(flat), restored.gather(flat)
    for name in ("actions", "rewards", "terminated"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    if isinstance(a.obs, dict):
        assert all(torch.equal(a.obs[k], b.obs[k]) and torch.equal(a.next_obs[k], b.next_obs[k]) for k in a.obs)
    else:
        assert torch.equal(a.obs, b.obs) and torch.equal(a.next_obs, b.next_obs)
    # the restored buffer keeps writing where the saved one would have
    add_row(buf, 9)
    add_row(restored, 9)
    assert np.array_equal(buf.rewards, restored.rewards) and restored.pos == 3


def test_partly_filled_round_trip(tmp_path):
    """Only written rows are saved (1 of 4 here), and they load back; a save that holds every row (checkpoints
    before trimmed saves) loads the same."""
    buf = ReplayBuffer(4, PENDULUM_OBS, PENDULUM_ACT)
    add_row(buf, 1)
    state = buf.state_dict()
    assert state["obs"].shape == (1, 1, 3) and state["ep_end"].shape == (1, 1)
    np.savez(tmp_path / "r.npz", **state)
    restored = ReplayBuffer(4, PENDULUM_OBS, PENDULUM_ACT)
    with np.load(tmp_path / "r.npz", allow_pickle=False) as data:
        restored.load_state_dict(dict(data))
    assert (restored.pos, restored.full, len(restored)) == (1, False, 1)
    old = ReplayBuffer(4, PENDULUM_OBS, PENDULUM_ACT)
    old.load_state_dict({**state, **{k: getattr(buf, k) for k in ("obs", "next_obs", "actions", "rewards", "terminated",
                                                                  "ep_start", "ep_end")}})  # fmt: skip
    for name in ("obs", "next_obs", "actions", "rewards", "terminated", "ep_start", "ep_end"):
        np.testing.assert_array_equal(getattr(old, name), getattr(restored, name))


def test_load_with_another_shape_is_refused():
    buf = ReplayBuffer(4, PENDULUM_OBS, PENDULUM_ACT)
    for r in range(4):  # full: its ring has wrapped into place, so only a buffer of 4 rows can take it
        add_row(buf, r)
    with pytest.raises(HrlkitError, match="'obs' has shape.*buffer_size and n_envs"):
        ReplayBuffer(5, PENDULUM_OBS, PENDULUM_ACT).load_state_dict(buf.state_dict())
    buf = ReplayBuffer(4, PENDULUM_OBS, PENDULUM_ACT)
    add_row(buf, 1)
    state = buf.state_dict()
    with pytest.raises(HrlkitError, match="shape"):
        ReplayBuffer(4, PENDULUM_OBS, PENDULUM_ACT, n_envs=2).load_state_dict(state)
    with pytest.raises(HrlkitError, match="no array 'obs.desired_goal'"):
        ReplayBuffer(4, GOAL_OBS, PENDULUM_ACT).load_state_dict(state)


def test_sampling_is_uniform_over_stored_transitions():
    buf = ReplayBuffer(10, PENDULUM_OBS, PENDULUM_ACT, n_envs=2)
    for r in range(13):  # wrapped: all 20 transitions are live
        add_row(buf, r)
    rng = np.random.default_rng(0)
    n = 20_000
    batch = buf.sample(n, rng)
    counts = np.bincount(batch.indices.numpy(), minlength=20)
    assert counts.shape == (20,)  # no index beyond the 20 stored
    expected = n / 20
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 43.8  # chi-square, 19 degrees of freedom, p = 0.001
    # the sampled rewards are the stored ones at those indices
    rows, envs = np.divmod(batch.indices.numpy(), 2)
    np.testing.assert_array_equal(batch.rewards.numpy(), buf.rewards[rows, envs])


def test_sampling_a_partly_filled_buffer_stays_in_the_filled_rows():
    buf = ReplayBuffer(10, PENDULUM_OBS, PENDULUM_ACT, n_envs=2)
    for r in range(3):
        add_row(buf, r)
    idx = buf.sample_indices(5_000, np.random.default_rng(1))
    assert idx.min() == 0 and idx.max() == 5  # rows 0..2 x envs 0..1


def test_same_generator_state_gives_the_same_batch():
    buf = ReplayBuffer(10, PENDULUM_OBS, PENDULUM_ACT)
    for r in range(10):
        add_row(buf, r)
    a = buf.sample(32, np.random.default_rng(7))
    b = buf.sample(32, np.random.default_rng(7))
    assert torch.equal(a.indices, b.indices) and torch.equal(a.obs, b.obs)


def test_empty_buffer_refuses_to_sample():
    buf = ReplayBuffer(10, PENDULUM_OBS, PENDULUM_ACT)
    with pytest.raises(HrlkitError, match="empty replay buffer"):
        buf.sample(4, np.random.default_rng(0))


def test_capacity_must_be_positive():
    with pytest.raises(HrlkitError, match="capacity"):
        ReplayBuffer(0, PENDULUM_OBS, PENDULUM_ACT)
