"""Bit flipping (Andrychowicz et al. 2017, arXiv:1707.01495, sec. 3.1): spaces, flips by hand, the goal-env functions
against `step`, vectorised rewards, seeding, registration and the time limit."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hrlkit.envs.toy  # noqa: F401  (registers the ids)
from hrlkit.envs.make import check_env_id
from hrlkit.envs.toy import BitFlippingEnv


def bits(s: str) -> np.ndarray:
    return np.array([float(c) for c in s], np.float32)


# ---- spaces and the Gymnasium checker ----


def test_spaces_are_float32_bit_boxes_and_discrete_flips():
    env = BitFlippingEnv(n_bits=7)
    assert env.action_space == gym.spaces.Discrete(7)
    assert set(env.observation_space.spaces) == {"observation", "achieved_goal", "desired_goal"}
    for space in env.observation_space.spaces.values():
        assert space == gym.spaces.Box(0.0, 1.0, (7,), np.float32)
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space and info == {"is_success": False}
    assert all(v.dtype == np.float32 for v in obs.values())
    np.testing.assert_array_equal(obs["observation"], obs["achieved_goal"])
    assert env.max_steps == 7


def test_check_env_passes_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports most problems as warnings
        check_env(gym.make("hrlkit/BitFlipping-v0", n_bits=5).unwrapped)  # made by id: the checker needs a spec


# ---- step semantics ----


def test_each_action_flips_its_bit_and_the_goal_ends_the_episode():
    env = BitFlippingEnv(n_bits=4)
    obs, _ = env.reset(seed=0, options={"state": bits("0110"), "goal": bits("1111")})
    np.testing.assert_array_equal(obs["observation"], bits("0110"))
    np.testing.assert_array_equal(obs["desired_goal"], bits("1111"))

    obs, reward, terminated, truncated, info = env.step(0)  # 0110 -> 1110
    np.testing.assert_array_equal(obs["observation"], bits("1110"))
    np.testing.assert_array_equal(obs["achieved_goal"], bits("1110"))
    assert (reward, terminated, truncated, info["is_success"]) == (-1.0, False, False, False)

    obs, reward, terminated, truncated, info = env.step(1)  # flipping a 1 back: 1110 -> 1010
    np.testing.assert_array_equal(obs["observation"], bits("1010"))
    assert (reward, terminated) == (-1.0, False)

    env.step(1)  # 1010 -> 1110
    obs, reward, terminated, truncated, info = env.step(3)  # 1110 -> 1111 = goal
    np.testing.assert_array_equal(obs["observation"], bits("1111"))
    assert (reward, terminated, truncated, info["is_success"]) == (0.0, True, True, True)  # 4th step: also the limit


def test_returned_observations_are_copies():
    env = BitFlippingEnv(n_bits=3)
    obs, _ = env.reset(seed=0, options={"state": bits("000"), "goal": bits("111")})
    env.step(0)
    np.testing.assert_array_equal(obs["observation"], bits("000"))  # a stored obs is not changed by later flips


def test_out_of_range_action_and_bad_options_are_refused():
    env = BitFlippingEnv(n_bits=3)
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(3)
    with pytest.raises(ValueError):
        env.reset(options={"state": bits("101"), "goal": bits("101")})
    with pytest.raises(ValueError):
        env.reset(options={"state": bits("10")})
    with pytest.raises(ValueError):
        BitFlippingEnv(n_bits=0)


# ---- goal-env functions ----


def test_step_reward_and_terminated_equal_the_goal_env_functions():
    env = BitFlippingEnv(n_bits=3)
    rng = np.random.default_rng(0)
    successes = 0
    for episode in range(200):
        obs, _ = env.reset(seed=episode)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(int(rng.integers(3)))
            achieved, desired = obs["achieved_goal"], obs["desired_goal"]
            assert reward == env.compute_reward(achieved, desired, info)
            assert terminated == env.compute_terminated(achieved, desired, info) == info["is_success"]
            assert not env.compute_truncated(achieved, desired, info)
            successes += terminated
            done = terminated or truncated
    assert successes > 0  # 3 bits: random flips reach the goal often, so both branches were checked


def test_compute_reward_is_vectorised_over_leading_axes():
    env = BitFlippingEnv(n_bits=4)
    achieved = np.stack([bits("0000"), bits("1010"), bits("1111")])  # (3, 4)
    desired = np.stack([bits("0000"), bits("1011"), bits("0111")])
    reward = env.compute_reward(achieved, desired, [{}, {}, {}])  # a list of infos, as HER passes: ignored
    np.testing.assert_array_equal(reward, np.array([0.0, -1.0, -1.0], np.float32))
    assert reward.dtype == np.float32
    np.testing.assert_array_equal(env.compute_terminated(achieved, desired, None), [True, False, False])
    np.testing.assert_array_equal(env.compute_truncated(achieved, desired, {}), [False, False, False])

    rng = np.random.default_rng(1)
    a = rng.integers(0, 2, (5, 6, 4)).astype(np.float32)  # (B, T, n)
    d = a.copy()
    flip = rng.random((5, 6)) < 0.5  # (B, T): rows whose bit 0 differs
    d[flip, 0] = 1.0 - d[flip, 0]
    expected = np.array([[0.0 if np.array_equal(a[i, j], d[i, j]) else -1.0 for j in range(6)] for i in range(5)])
    assert 0 < (expected == 0).sum() < 30  # both outcomes present
    np.testing.assert_array_equal(env.compute_reward(a, d, None), expected)
    assert env.compute_reward(a, d, None).shape == (5, 6)
    assert env.compute_truncated(a, d, None).shape == (5, 6)


# ---- seeding and start states ----


def test_same_seed_same_episodes_and_start_differs_from_goal():
    def rollout(seed: int) -> list[np.ndarray]:
        env = BitFlippingEnv(n_bits=6)
        obs, _ = env.reset(seed=seed)
        out = [obs["observation"], obs["desired_goal"]]
        for _ in range(3):  # later resets continue the seeded stream
            obs, _ = env.reset()
            out += [obs["observation"], obs["desired_goal"]]
        return out

    a, b, c = rollout(7), rollout(7), rollout(8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))

    env = BitFlippingEnv(n_bits=1)  # one bit: a random goal equals the start half the time and must be redrawn
    for seed in range(50):
        obs, _ = env.reset(seed=seed)
        assert obs["observation"][0] != obs["desired_goal"][0]


def test_goal_is_random_not_all_ones():
    env = BitFlippingEnv(n_bits=8)
    goals = np.stack([env.reset(seed=s)[0]["desired_goal"] for s in range(100)])
    assert 0.3 < goals.mean() < 0.7 and len({g.tobytes() for g in goals}) > 50


# ---- registration and the time limit ----


def test_registered_id_takes_n_bits_and_truncates_after_n_steps():
    env = gym.make("hrlkit/BitFlipping-v0", n_bits=15)
    assert env.action_space == gym.spaces.Discrete(15)
    assert env.observation_space["desired_goal"].shape == (15,)
    obs, _ = env.reset(seed=0)
    # flip a bit that already matches the goal, back and forth: the state alternates between the start (!= goal) and
    # the start with that bit wrong (!= goal), so the episode can only end by the time limit
    action = int(np.flatnonzero(obs["observation"] == obs["desired_goal"])[0])
    for step in range(1, 16):
        _, reward, terminated, truncated, _ = env.step(action)
        assert reward == -1.0 and not terminated
        assert truncated == (step == 15)


def test_max_steps_keyword_and_default_id():
    assert gym.make("hrlkit/BitFlipping-v0").unwrapped.n_bits == 10
    env = gym.make("hrlkit/BitFlipping-v0", n_bits=4, max_steps=6)
    assert env.unwrapped.max_steps == 6
    check_env_id("hrlkit/BitFlipping-v0")  # hrlkit's own id check finds it


def test_ansi_render_shows_state_and_goal():
    env = BitFlippingEnv(n_bits=4, render_mode="ansi")
    env.reset(options={"state": bits("0110"), "goal": bits("1111")})
    assert env.render() == "0110 -> 1111"
    assert BitFlippingEnv(n_bits=4).render() is None
