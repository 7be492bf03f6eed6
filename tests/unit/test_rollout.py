"""GAE by hand and against a loop, the rollout buffer (order, spaces, save/load), and the running normalisers."""

from __future__ import annotations

import io

import gymnasium as gym
import numpy as np
import pytest
import torch

from hrlkit.buffers import ObsNormalizer, RewardNormalizer, RolloutBuffer, RunningMeanStd, gae
from hrlkit.errors import HrlkitError

PENDULUM_OBS = gym.spaces.Box(-8.0, 8.0, (3,), np.float32)
PENDULUM_ACT = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
GAMMA, LAMBDA = 0.9, 0.5  # gamma * lambda = 0.45

# ------------------------------------------------------------------------------------------------ a hand-built rollout
# T = 4, 2 envs.
# env 0: an episode terminates at t = 1 (no bootstrap); the next one starts at t = 2 and runs past the rollout's end,
#        so t = 3 bootstraps from last_values[0] = 0.7.
# env 1: an episode is truncated at t = 2; its final observation is worth 0.8, while the reset observation stored at
#        t = 3 is worth -0.6 (a bootstrap from values[3] would be wrong). The new episode runs past the end: 0.1.
REWARDS = np.array([[1.0, 0.5], [2.0, -1.0], [0.0, 2.0], [1.0, 3.0]], np.float32)
VALUES = np.array([[0.5, 0.2], [0.4, 0.1], [0.3, 0.6], [0.2, -0.6]], np.float32)
TERMINATED = np.array([[0, 0], [1, 0], [0, 0], [0, 0]], bool)
TRUNCATED = np.array([[0, 0], [0, 0], [0, 1], [0, 0]], bool)
FINAL_VALUE_ENV1_T2 = 0.8
LAST_VALUES = np.array([0.7, 0.1], np.float32)


def expected_advantages() -> np.ndarray:
    a = np.zeros((4, 2))
    # env 0, backwards: t = 3 bootstraps from the last value; t = 1 terminated (no bootstrap, chain cut)
    a[3, 0] = 1 + 0.9 * 0.7 - 0.2
    a[2, 0] = (0 + 0.9 * 0.2 - 0.3) + 0.45 * a[3, 0]
    a[1, 0] = 2 - 0.4
    a[0, 0] = (1 + 0.9 * 0.4 - 0.5) + 0.45 * a[1, 0]
    # env 1: t = 2 truncated bootstraps from its final observation (0.8), and its chain is cut there too
    a[3, 1] = 3 + 0.9 * 0.1 - (-0.6)
    a[2, 1] = 2 + 0.9 * 0.8 - 0.6
    a[1, 1] = (-1 + 0.9 * 0.6 - 0.1) + 0.45 * a[2, 1]
    a[0, 1] = (0.5 + 0.9 * 0.1 - 0.2) + 0.45 * a[1, 1]
    return a


def test_gae_by_hand():
    next_values = np.array([[0.4, 0.1], [0.3, 0.6], [0.2, FINAL_VALUE_ENV1_T2], [0.7, 0.1]], np.float32)
    adv, ret = gae(REWARDS, VALUES, next_values, TERMINATED, TRUNCATED, GAMMA, LAMBDA)
    assert adv.dtype == ret.dtype == np.float32 and adv.shape == (4, 2)
    np.testing.assert_allclose(adv, expected_advantages(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ret, expected_advantages() + VALUES, rtol=1e-6, atol=1e-6)


def fill_hand_rollout(buf: RolloutBuffer) -> None:
    for t in range(4):
        final = np.array([0.0, FINAL_VALUE_ENV1_T2]) if TRUNCATED[t].any() else None
        obs = np.full((2, 3), t, np.float32)
        buf.add(obs, np.zeros((2, 1)), REWARDS[t], VALUES[t], np.zeros(2), TERMINATED[t], TRUNCATED[t], final)


def test_buffer_fills_next_values_and_matches_hand_gae():
    buf = RolloutBuffer(4, 2, PENDULUM_OBS, PENDULUM_ACT)
    fill_hand_rollout(buf)
    assert buf.full
    buf.finish(LAST_VALUES, GAMMA, LAMBDA)
    # values[t+1] inside, V(final obs) where truncated, last_values at the end; [1, 0] is terminated (not read)
    np.testing.assert_allclose(buf.next_values[[0, 2, 3], 0], [0.4, 0.2, 0.7])
    np.testing.assert_allclose(buf.next_values[:, 1], [0.1, 0.6, 0.8, 0.1])
    np.testing.assert_allclose(buf.advantages, expected_advantages(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(buf.returns, expected_advantages() + VALUES, rtol=1e-6, atol=1e-6)


def test_truncation_at_the_last_step_keeps_the_final_value():
    buf = RolloutBuffer(2, 1, PENDULUM_OBS, PENDULUM_ACT)
    buf.add(np.zeros((1, 3)), np.zeros((1, 1)), [1.0], [0.5], [0.0], [False], [False])
    buf.add(np.zeros((1, 3)), np.zeros((1, 1)), [2.0], [0.3], [0.0], [False], [True], final_values=np.array([0.8]))
    buf.finish(np.array([-0.6]), GAMMA, LAMBDA)  # V(reset obs): must not be used for the truncated step
    a1 = 2 + 0.9 * 0.8 - 0.3
    a0 = (1 + 0.9 * 0.3 - 0.5) + 0.45 * a1
    np.testing.assert_allclose(buf.advantages[:, 0], [a0, a1], rtol=1e-6)


def test_truncated_without_final_values_is_refused_but_terminated_and_truncated_is_not():
    buf = RolloutBuffer(2, 2, PENDULUM_OBS, PENDULUM_ACT)
    with pytest.raises(HrlkitError, match="final_values"):
        buf.add(
            np.zeros((2, 3)), np.zeros((2, 1)), np.zeros(2), np.zeros(2), np.zeros(2), [False, False], [False, True]
        )
    assert buf.pos == 0
    # both flags: terminated wins, nothing to bootstrap
    buf.add(np.zeros((2, 3)), np.zeros((2, 1)), [1.0, 1.0], [0.5, 0.5], np.zeros(2), [True, False], [True, False])
    buf.finish(np.array([9.0, 0.0]), GAMMA, LAMBDA)
    assert buf.advantages[0, 0] == pytest.approx(1 - 0.5)


def gae_loop(rewards, values, next_values, terminated, truncated, gamma, lam):
    T, n = rewards.shape
    adv = np.zeros((T, n))
    for e in range(n):
        last = 0.0
        for t in reversed(range(T)):
            bootstrap = 0.0 if terminated[t, e] else next_values[t, e]
            if terminated[t, e] or truncated[t, e]:
                last = 0.0
            delta = rewards[t, e] + gamma * bootstrap - values[t, e]
            last = delta + gamma * lam * last
            adv[t, e] = last
    return adv


def test_gae_matches_a_loop_on_random_data():
    rng = np.random.default_rng(0)
    T, n = 37, 5
    rewards, values, next_values = (rng.normal(size=(T, n)).astype(np.float32) for _ in range(3))
    terminated = rng.random((T, n)) < 0.1
    truncated = rng.random((T, n)) < 0.1
    terminated[5, 2] = truncated[5, 2] = True  # Gymnasium allows both at once
    assert (terminated & truncated).any() and (truncated & ~terminated).any()  # every case occurs
    adv, ret = gae(rewards, values, next_values, terminated, truncated, 0.97, 0.9)
    expected = gae_loop(rewards, values, next_values, terminated, truncated, 0.97, 0.9)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, expected + values, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------------------- buffer
def coded_step(buf: RolloutBuffer, t: int) -> None:
    """Step t with every per-env field set to 10 * t + env, so a row of the flat batch names its (t, env)."""
    n = buf.n_envs
    code = (10.0 * t + np.arange(n)).astype(np.float32)  # (n,)

    def fill(arr: np.ndarray) -> np.ndarray:  # (n, *arr.shape[2:]) holding code[env] throughout env's slice
        return np.broadcast_to(code.reshape(n, *[1] * (arr.ndim - 2)), (n, *arr.shape[2:]))

    obs = {k: fill(v) for k, v in buf.obs.items()} if isinstance(buf.obs, dict) else fill(buf.obs)
    actions = fill(buf.actions)  # cast on write: int64 for Discrete actions
    buf.add(obs, actions, code, code, -code, np.zeros(n, bool), np.zeros(n, bool))


def test_get_is_flattened_step_major():
    buf = RolloutBuffer(3, 2, PENDULUM_OBS, gym.spaces.Box(-1, 1, (2,), np.float32))
    for t in range(3):
        coded_step(buf, t)
    buf.finish(np.zeros(2), GAMMA, LAMBDA)
    batch = buf.get()
    assert batch.size == 6 and batch.obs.shape == (6, 3) and batch.actions.shape == (6, 2)
    # row t * n_envs + env: row 3 -> t = 1, env 1 -> code 11
    expected = torch.tensor([0.0, 1.0, 10.0, 11.0, 20.0, 21.0])
    torch.testing.assert_close(batch.obs[:, 0], expected)
    torch.testing.assert_close(batch.actions[:, 1], expected)
    torch.testing.assert_close(batch.values, expected)
    torch.testing.assert_close(batch.log_probs, -expected)
    torch.testing.assert_close(batch.advantages, torch.from_numpy(buf.advantages.reshape(-1)))
    torch.testing.assert_close(batch.returns, batch.advantages + batch.values)
    # the batch is a copy: the next rollout does not change it under the learner
    buf.reset()
    coded_step(buf, 7)
    assert batch.values[0] == 0.0


def test_dict_obs_and_discrete_actions():
    space = gym.spaces.Dict(
        {
            "state": gym.spaces.Box(-1, 1, (2,), np.float64),
            "image": gym.spaces.Box(0, 255, (1, 2, 2), np.uint8),
            "cell": gym.spaces.Discrete(30),
        }
    )
    buf = RolloutBuffer(2, 3, space, gym.spaces.Discrete(40))
    assert buf.obs["state"].dtype == np.float32  # float64 halved
    assert buf.obs["image"].dtype == np.uint8 and buf.obs["cell"].dtype == np.int64
    for t in range(2):
        coded_step(buf, t)
    buf.finish(np.zeros(3), GAMMA, LAMBDA)
    batch = buf.get()
    assert batch.obs["image"].dtype == torch.uint8 and batch.obs["image"].shape == (6, 1, 2, 2)
    assert batch.obs["state"].dtype == torch.float32 and batch.obs["cell"].dtype == torch.int64
    assert batch.actions.dtype == torch.int64 and batch.actions.shape == (6,)
    torch.testing.assert_close(batch.obs["cell"], torch.tensor([0, 1, 2, 10, 11, 12]))
    torch.testing.assert_close(batch.obs["image"][:, 0, 1, 1], torch.tensor([0, 1, 2, 10, 11, 12], dtype=torch.uint8))
    torch.testing.assert_close(batch.actions, torch.tensor([0, 1, 2, 10, 11, 12]))


def test_discrete_obs_memory_full_and_reset():
    buf = RolloutBuffer(2, 2, gym.spaces.Discrete(5), PENDULUM_ACT)
    assert buf.obs.shape == (2, 2) and buf.obs.dtype == np.int64
    assert RolloutBuffer(4, 2, PENDULUM_OBS, PENDULUM_ACT).bytes_per_step == 12 + 4 + 6 * 4 + 2
    with pytest.raises(HrlkitError, match="finish"):
        buf.get()
    coded_step(buf, 0)
    assert (buf.pos, buf.full, len(buf)) == (1, False, 2)
    coded_step(buf, 1)
    assert buf.full
    with pytest.raises(HrlkitError, match="full"):
        coded_step(buf, 2)
    buf.finish(np.zeros(2), GAMMA, LAMBDA)
    torch.testing.assert_close(buf.get().obs, torch.tensor([0, 1, 10, 11]))
    buf.reset()
    assert (buf.pos, buf.full, buf.finished) == (0, False, False)
    with pytest.raises(HrlkitError):
        buf.finish(np.zeros(2), GAMMA, LAMBDA)


def savez_roundtrip(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    f = io.BytesIO()
    np.savez(f, **state)
    f.seek(0)
    with np.load(f, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_state_dict_round_trip_of_a_half_filled_rollout():
    a = RolloutBuffer(4, 2, PENDULUM_OBS, PENDULUM_ACT)
    for t in range(2):
        a.add(np.full((2, 3), t), np.zeros((2, 1)), REWARDS[t], VALUES[t], np.zeros(2), TERMINATED[t], TRUNCATED[t])
    b = RolloutBuffer(4, 2, PENDULUM_OBS, PENDULUM_ACT)
    b.load_state_dict(savez_roundtrip(a.state_dict()))
    assert b.pos == 2 and not b.full
    for buf in (a, b):  # both continue the same rollout, including the truncation with its final value
        for t in range(2, 4):
            final = np.array([0.0, FINAL_VALUE_ENV1_T2]) if TRUNCATED[t].any() else None
            obs = np.full((2, 3), t)
            buf.add(obs, np.zeros((2, 1)), REWARDS[t], VALUES[t], np.zeros(2), TERMINATED[t], TRUNCATED[t], final)
        buf.finish(LAST_VALUES, GAMMA, LAMBDA)
    np.testing.assert_allclose(b.advantages, expected_advantages(), rtol=1e-6, atol=1e-6)
    for x, y in zip(a.get(), b.get(), strict=True):
        torch.testing.assert_close(x, y)
    # a finished rollout restores finished
    c = RolloutBuffer(4, 2, PENDULUM_OBS, PENDULUM_ACT)
    c.load_state_dict(a.state_dict())
    torch.testing.assert_close(c.get().advantages, a.get().advantages)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda s: s.pop("rewards"), "no array 'rewards'"),
        (lambda s: s.update(actions=s["actions"].astype(np.float64)), "'actions' is float64"),
        (lambda s: s.update(values=s["values"][:, :1]), r"'values' is float32\(4, 1\)"),
        (lambda s: s.update(pos=np.array(5)), "position"),
        (lambda s: s.update(pos=np.array([1, 2])), "position"),
        (lambda s: s.update(pos=np.array(1.5)), "position"),
        (lambda s: s.update({"obs.state": s["obs"]}), "obs.state"),
        (lambda s: s.update(finished=np.array("yes")), "finished"),
    ],
)
def test_corrupt_state_is_refused_and_changes_nothing(corrupt, message):
    good = RolloutBuffer(4, 2, PENDULUM_OBS, PENDULUM_ACT)
    coded_step(good, 0)
    state = good.state_dict()
    corrupt(state)
    target = RolloutBuffer(4, 2, PENDULUM_OBS, PENDULUM_ACT)
    with pytest.raises(HrlkitError, match=message) as info:
        target.load_state_dict(state)
    assert "\n" not in str(info.value)
    assert target.pos == 0 and not target.rewards.any()


def test_state_of_another_n_envs_or_space_is_refused():
    state = RolloutBuffer(4, 2, PENDULUM_OBS, PENDULUM_ACT).state_dict()
    with pytest.raises(HrlkitError, match="n_envs"):
        RolloutBuffer(4, 3, PENDULUM_OBS, PENDULUM_ACT).load_state_dict(state)
    dict_space = gym.spaces.Dict({"state": PENDULUM_OBS})
    with pytest.raises(HrlkitError, match="observation space"):
        RolloutBuffer(4, 2, dict_space, PENDULUM_ACT).load_state_dict(state)


# -------------------------------------------------------------------------------------------------------- normalisers
def test_running_mean_std_equals_numpy_over_batches():
    rng = np.random.default_rng(1)
    data = rng.normal(3.0, 2.0, size=(30, 4))
    exact, default = RunningMeanStd((4,), epsilon=0.0), RunningMeanStd((4,))
    for lo, hi in [(0, 7), (7, 8), (8, 8), (8, 20), (20, 30)]:  # uneven batches, one of size 1, one empty
        exact.update(data[lo:hi])
        default.update(data[lo:hi])
    np.testing.assert_allclose(exact.mean, data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(exact.var, data.var(0), rtol=1e-12)
    assert exact.count == 30
    # the default prior (count 1e-4 at mean 0, var 1) barely moves the result
    np.testing.assert_allclose(default.mean, data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(default.var, data.var(0), rtol=1e-3)
    restored = RunningMeanStd((4,))
    restored.load_state_dict(savez_roundtrip(exact.state_dict()))
    np.testing.assert_array_equal(restored.var, exact.var)
    assert restored.count == 30
    with pytest.raises(HrlkitError, match="shape"):
        RunningMeanStd((3,)).load_state_dict(exact.state_dict())
    with pytest.raises(HrlkitError, match="batch"):
        exact.update(np.zeros((2, 3)))


def test_obs_normalizer_by_hand():
    norm = ObsNormalizer(gym.spaces.Box(-np.inf, np.inf, (2,), np.float32), clip=5.0)
    norm.update(np.array([[1.0, 10.0], [3.0, 10.0]]))
    norm.update(np.array([[2.0, 10.0]]))
    np.testing.assert_allclose(norm.rms[""].mean, [2.0, 10.0], rtol=1e-3)
    np.testing.assert_allclose(norm.rms[""].var[0], 2 / 3, rtol=1e-3)  # ((-1)^2 + 1^2 + 0^2) / 3
    # with known statistics: mean (2, 10), var (4, 0)
    norm.load_state_dict({"mean": np.array([2.0, 10.0]), "var": np.array([4.0, 0.0]), "count": np.array(3.0)})
    out = norm.normalize(np.array([[4.0, 10.0], [-4.0, 10.00001], [2.0, 9.0]]))
    assert out.dtype == np.float32
    # (4 - 2) / 2 = 1; (-4 - 2) / 2 = -3; 1e-5 / sqrt(1e-8) = 0.1; a constant feature off by 1 is clipped to -5
    np.testing.assert_allclose(out, [[1.0, 0.0], [-3.0, 0.1], [0.0, -5.0]], rtol=1e-3, atol=1e-6)


def test_obs_normalizer_dict_passes_images_and_indices_through():
    space = gym.spaces.Dict(
        {
            "state": gym.spaces.Box(-1, 1, (2,), np.float64),
            "image": gym.spaces.Box(0, 255, (1, 2, 2), np.uint8),
            "cell": gym.spaces.Discrete(4),
        }
    )
    norm = ObsNormalizer(space)
    assert norm.keys == ["state"]
    obs = {"state": np.array([[1.0, 2.0], [3.0, 2.0]]), "image": np.ones((2, 1, 2, 2), np.uint8), "cell": np.arange(2)}
    norm.update(obs)
    out = norm.normalize(obs)
    assert out["image"] is obs["image"] and out["cell"] is obs["cell"]
    assert out["state"].dtype == np.float32
    np.testing.assert_allclose(out["state"][:, 0], [-1.0, 1.0], rtol=1e-3)  # mean 2, std 1
    assert set(norm.state_dict()) == {"state.mean", "state.var", "state.count"}
    fresh = ObsNormalizer(space)
    fresh.load_state_dict(savez_roundtrip(norm.state_dict()))
    np.testing.assert_array_equal(fresh.normalize(obs)["state"], out["state"])
    with pytest.raises(HrlkitError, match="'state'"):
        fresh.load_state_dict(ObsNormalizer(gym.spaces.Box(-1, 1, (2,))).state_dict())
    with pytest.raises(HrlkitError, match="shape"):
        ObsNormalizer(gym.spaces.Box(-1, 1, (3,))).load_state_dict(
            ObsNormalizer(gym.spaces.Box(-1, 1, (2,))).state_dict()
        )


def test_obs_normalizer_goals_share_one_set_of_statistics():
    box = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    space = gym.spaces.Dict({"observation": box, "achieved_goal": box, "desired_goal": box})
    norm = ObsNormalizer(space, clip=5.0, shared={"desired_goal": "achieved_goal"})
    assert sorted(norm.keys) == ["achieved_goal", "desired_goal", "observation"]
    assert sorted(norm.rms) == ["achieved_goal", "observation"]  # desired_goal has no statistics of its own
    obs = {"observation": np.array([[1.0], [1.0]]), "achieved_goal": np.array([[0.0], [2.0]]),
           "desired_goal": np.array([[4.0], [6.0]])}  # fmt: skip
    norm.update(obs)
    # achieved and desired goals together: 0, 2, 4, 6 -> mean 3, variance (9 + 1 + 1 + 9) / 4 = 5 (the prior's 1e-4
    # count weighs next to nothing)
    np.testing.assert_allclose(norm.stats_of("desired_goal").mean, [3.0], rtol=1e-4)
    np.testing.assert_allclose(norm.stats_of("desired_goal").var, [5.0], rtol=1e-4)
    out = norm.normalize(obs)
    np.testing.assert_allclose(out["desired_goal"][:, 0], np.array([1.0, 3.0]) / np.sqrt(5.0), rtol=1e-4)
    np.testing.assert_allclose(out["achieved_goal"][:, 0], np.array([-3.0, -1.0]) / np.sqrt(5.0), rtol=1e-4)
    assert set(norm.state_dict()) == {
        f"{k}.{n}" for k in ("observation", "achieved_goal") for n in ("mean", "var", "count")
    }
    with pytest.raises(HrlkitError, match="cannot share"):
        ObsNormalizer(space, shared={"desired_goal": "missing"})


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Discrete(3),
        gym.spaces.Box(0, 255, (4, 8, 8), np.uint8),
        gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (1, 2, 2), np.uint8)}),
    ],
)
def test_obs_normalizer_refuses_spaces_with_nothing_to_normalise(space):
    with pytest.raises(HrlkitError, match="normalis"):
        ObsNormalizer(space)


def test_reward_normalizer_by_hand_with_the_return_reset_at_episode_end():
    norm = RewardNormalizer(n_envs=2, gamma=0.9)
    # step 1: running returns (1, 2); their std is 0.5, so the rewards are scaled by 2. Env 1's episode ends.
    np.testing.assert_allclose(
        norm.update_and_scale(np.array([1.0, 2.0]), np.array([False, True])), [2.0, 4.0], rtol=1e-3
    )
    np.testing.assert_allclose(norm.returns, [1.0, 0.0])
    # step 2: env 0 continues (0.9 * 1 + 1), env 1 starts over (0.9 * 0 + 1)
    scaled = norm.update_and_scale(np.array([1.0, 1.0]), np.array([False, False]))
    np.testing.assert_allclose(norm.returns, [0.9 * 1 + 1, 0.9 * 0 + 1])
    var = np.var([1.0, 2.0, 0.9 * 1 + 1, 0.9 * 0 + 1])  # 0.226875, all returns seen so far
    np.testing.assert_allclose(norm.rms.var, var, rtol=1e-3)
    np.testing.assert_allclose(scaled, [1 / np.sqrt(var)] * 2, rtol=1e-3)
    assert scaled.dtype == np.float32
    # scale() reads the statistics without moving them, and clips
    before = norm.state_dict()
    np.testing.assert_allclose(norm.scale(np.array([100.0, -0.5])), [10.0, -0.5 / np.sqrt(var)], rtol=1e-3)
    for k, v in norm.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    # state round trip keeps the per-env running returns
    fresh = RewardNormalizer(2, 0.9)
    fresh.load_state_dict(savez_roundtrip(norm.state_dict()))
    np.testing.assert_array_equal(fresh.returns, norm.returns)
    r, d = np.array([0.5, -2.0]), np.array([True, False])
    np.testing.assert_array_equal(fresh.update_and_scale(r, d), norm.update_and_scale(r, d))
    with pytest.raises(HrlkitError, match="'returns'"):
        RewardNormalizer(3, 0.9).load_state_dict(norm.state_dict())
