"""HIROAgent driven by hand-made observations, no env loop: what `observe` stores in each level's buffer (intrinsic
reward, carried goal, whole segments, short final segments), when the high level updates, pretraining goals, what the
high learner sees with and without relabeling, `predict`'s carried state, config errors, and the state round trip.

The goal functions themselves (h, the intrinsic reward, the batched correction) are tested in test_hiro_goals.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from hrlkit.agents.base import Transition
from hrlkit.agents.hiro import HIROAgent, HIROConfig
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.errors import HrlkitError
from hrlkit.goals.relabel import hiro_relabel_goals
from hrlkit.learners import DQNConfig, SACConfig, TD3Config
from hrlkit.training.checkpoint import load_checkpoint, save_checkpoint

S = 4
GOAL_IDX = [0, 2]  # the state dims the goals live in
GOAL_LOW, GOAL_HIGH = np.array([-2.0, -1.0], np.float32), np.array([2.0, 3.0], np.float32)
OBS_SPACE = gym.spaces.Box(-10.0, 10.0, (S,), np.float32)
# Asymmetric bounds, so a stored action that was not normalised would show.
ACT_SPACE = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32), dtype=np.float32)
TINY_LEVEL = TD3Config(hidden=(16, 16), batch_size=16)

HIRO_META = {
    "algo": "hiro",
    "env": "hrlkit/PointUMaze-v0",
    "env_steps": 0,
    "config": {"algo": "hiro", "run": {}, "algo_config": {}},
}
"""the least meta.json a checkpoint must hold (`hrlkit.training.checkpoint.META_SCHEMA`)"""


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_agent(n_envs: int = 1, seed: int = 0, obs_space: gym.Space = OBS_SPACE, **changes: Any) -> HIROAgent:
    cfg = HIROConfig(
        high=TINY_LEVEL, low=replace(TINY_LEVEL), high_level_interval=3, goal_indices=tuple(GOAL_IDX),
        goal_low=tuple(GOAL_LOW.tolist()), goal_high=tuple(GOAL_HIGH.tolist()), high_buffer_size=64,
    )  # fmt: skip
    for k, v in changes.items():
        setattr(cfg, k, v)
    torch.manual_seed(seed)
    return HIROAgent(
        obs_space, ACT_SPACE, cfg, n_envs, RunConfig(seed=seed, torch_threads=1), ReplayConfig(buffer_size=256)
    )


def walk(n_steps: int, n_envs: int = 1, seed: int = 0) -> np.ndarray:
    """(n_steps + 1, n_envs, S) states of a random walk."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(-1.0, 1.0, (1, n_envs, S))
    return np.concatenate([start, start + np.cumsum(0.3 * rng.standard_normal((n_steps, n_envs, S)), 0)]).astype(
        np.float32
    )


def normalised(env_actions: np.ndarray) -> np.ndarray:
    """The low learner's action space, by hand: 2 (a - low) / (high - low) - 1."""
    return 2.0 * (env_actions - ACT_SPACE.low) / (ACT_SPACE.high - ACT_SPACE.low) - 1.0


def observe(
    agent: HIROAgent,
    obs: np.ndarray,
    actions: np.ndarray,
    next_obs: np.ndarray,
    rewards: Any = 0.0,
    terminated: Any = False,
    truncated: Any = False,
) -> None:
    n = agent.n_envs
    agent.observe(Transition(
        obs, actions, np.broadcast_to(np.asarray(rewards, np.float64), (n,)).copy(), next_obs,
        np.broadcast_to(np.asarray(terminated), (n,)).copy(), np.broadcast_to(np.asarray(truncated), (n,)).copy(), {},
    ))  # fmt: skip


def run_steps(agent: HIROAgent, states: np.ndarray, update: bool = False) -> list[dict[str, float]]:
    """act + observe through `states` (T+1, n, S), optionally one `update(1)` after each step."""
    stats = []
    for t in range(len(states) - 1):
        actions = agent.act(states[t])
        observe(agent, states[t], actions, states[t + 1], rewards=-1.0)
        if update:
            stats.append(agent.update(1))
    return stats


# --------------------------------------------------------------------------------------------- the low level
def test_low_buffer_holds_the_intrinsic_reward_and_the_carried_goal() -> None:
    agent = make_agent(low_reward_scale=1.0, high_level_interval=5)
    s = walk(3)[:, 0]  # (4, S)
    for t in range(3):
        actions = agent.act(s[t][None])
        if t == 0:
            goal = agent.goals[0].copy()  # the goal picked for the new segment
        np.testing.assert_array_equal(agent.goals[0], goal)  # inside a segment `act` keeps the carried goal
        observe(agent, s[t][None], actions, s[t + 1][None])
        target = s[t][GOAL_IDX] + goal  # the absolute target, by hand
        next_goal = target - s[t + 1][GOAL_IDX]
        row = agent.low_buffer
        assert row.pos == t + 1
        np.testing.assert_allclose(row.obs[t, 0], np.concatenate([s[t], goal]), rtol=1e-6)
        np.testing.assert_allclose(row.rewards[t, 0], -np.sqrt(np.sum(next_goal**2)), rtol=1e-5)
        np.testing.assert_allclose(row.next_obs[t, 0], np.concatenate([s[t + 1], next_goal]), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(row.actions[t, 0], normalised(actions[0]), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(agent.goals[0], next_goal, rtol=1e-5, atol=1e-6)  # g advances by h
        goal = next_goal
    assert agent.seg_t[0] == 3 and len(agent.high_buffer) == 0


def test_low_hidden_indices_keep_those_dims_from_the_low_level() -> None:
    """With dims 0 and 2 hidden (the goal dims, as x-y in a maze) the low level's buffer rows, its actions and the
    correction's scores depend on dims 1 and 3 and the goal only; the reward and h still use the full state."""
    agent = make_agent(low_hidden_indices=(0, 2))
    assert agent.low.flatten.dim == (S - 2) + len(GOAL_IDX)
    s = walk(1)[:, 0]
    actions = agent.act(s[0][None], deterministic=True)
    goal = agent.goals[0].copy()
    observe(agent, s[0][None], actions, s[1][None])
    next_goal = s[0][GOAL_IDX] + goal - s[1][GOAL_IDX]
    np.testing.assert_allclose(agent.low_buffer.obs[0, 0], np.concatenate([s[0][[1, 3]], goal]), rtol=1e-6)
    np.testing.assert_allclose(agent.low_buffer.next_obs[0, 0], np.concatenate([s[1][[1, 3]], next_goal]), rtol=1e-5)
    np.testing.assert_allclose(agent.low_buffer.rewards[0, 0], -np.linalg.norm(next_goal), rtol=1e-5)
    # The low policy ignores the hidden dims: moving them changes nothing, moving a seen dim does.
    states = torch.as_tensor(np.repeat(s[:1], 3, axis=0))
    states[1, [0, 2]] += 5.0
    states[2, 1] += 5.0
    out = agent.low_policy(states, torch.as_tensor(np.repeat(goal[None], 3, axis=0)))
    torch.testing.assert_close(out[1], out[0], rtol=0, atol=0)
    assert not torch.equal(out[2], out[0])


@pytest.mark.parametrize("hidden", [(4,), (-1,), (1, 1)])
def test_bad_low_hidden_indices_are_refused(hidden: tuple[int, ...]) -> None:
    with pytest.raises(HrlkitError, match="low_hidden_indices .* must be distinct indices of the 4-dim state"):
        make_agent(low_hidden_indices=hidden)


def test_low_reward_scale() -> None:
    agent = make_agent(low_reward_scale=0.5)
    s = walk(1)[:, 0]
    actions = agent.act(s[0][None])
    goal = agent.goals[0].copy()
    observe(agent, s[0][None], actions, s[1][None])
    expected = -0.5 * np.linalg.norm(s[0][GOAL_IDX] + goal - s[1][GOAL_IDX])
    np.testing.assert_allclose(agent.low_buffer.rewards[0, 0], expected, rtol=1e-5)


# ---------------------------------------------------------------------------------------------- the segments
def test_segment_of_c_steps() -> None:
    """c = 3: after 3 observes one segment lands in the high buffer, with s_0..s_3, the normalised low actions, the goal
    of the segment's start, scale x the sum of env rewards, and the env's `terminated` at its last step."""
    agent = make_agent(high_reward_scale=0.1)
    s = walk(6)[:, 0]
    rewards = [-1.0, 0.5, -2.25, 3.0, 1.0, -0.5]
    terminated = [False, False, False, False, False, True]
    actions = np.array([[1.0, 0.25], [-2.0, 1.0], [0.0, 0.5], [0.5, 0.0], [-1.0, 0.75], [2.0, 0.1]], np.float32)
    goals = []
    for t in range(6):
        agent.act(s[t][None])
        if t % 3 == 0:
            goals.append(agent.goals[0].copy())
        observe(agent, s[t][None], actions[t][None], s[t + 1][None], rewards[t], terminated[t])
        assert len(agent.high_buffer) == (t + 1) // 3
    buf = agent.high_buffer
    np.testing.assert_array_equal(buf.lengths[:2], [3, 3])
    for k, first in enumerate((0, 3)):
        np.testing.assert_array_equal(buf.states[k], s[first : first + 4])
        np.testing.assert_allclose(buf.actions[k], normalised(actions[first : first + 3]), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(buf.goals[k], goals[k])
        np.testing.assert_allclose(buf.rewards[k], 0.1 * sum(rewards[first : first + 3]), rtol=1e-6)
    np.testing.assert_array_equal(buf.terminated[:2], [False, True])
    assert agent.seg_t[0] == 0


@pytest.mark.parametrize("end", ["terminated", "truncated"])
def test_episode_end_closes_a_short_segment(end: str) -> None:
    """c = 5, the episode ends after 2 steps: a segment of length 2 (padded with its last state), and the next `act`
    opens a new segment at the reset observation with a fresh goal instead of the carried one."""
    agent = make_agent(high_level_interval=5)
    s = walk(2)[:, 0]
    for t in range(2):
        actions = agent.act(s[t][None])
        if t == 0:
            first_goal = agent.goals[0].copy()
        observe(
            agent,
            s[t][None],
            actions,
            s[t + 1][None],
            1.0,
            end == "terminated" and t == 1,
            end == "truncated" and t == 1,
        )
    buf = agent.high_buffer
    assert len(buf) == 1 and buf.lengths[0] == 2 and agent.seg_t[0] == 0
    np.testing.assert_array_equal(buf.states[0, :3], s)
    np.testing.assert_array_equal(buf.states[0, 3:], np.repeat(s[2][None], 3, axis=0))
    np.testing.assert_array_equal(buf.actions[0, 2:], 0.0)
    np.testing.assert_array_equal(buf.goals[0], first_goal)
    np.testing.assert_allclose(buf.rewards[0], 0.1 * 2.0)
    assert buf.terminated[0] == (end == "terminated")  # a time limit still bootstraps

    carried = agent.goals[0].copy()
    reset_obs = np.full((1, S), 0.5, np.float32)
    agent.act(reset_obs)
    assert not np.allclose(agent.goals[0], carried)
    np.testing.assert_array_equal(agent.goals[0], agent.seg_goal[0])
    np.testing.assert_array_equal(agent.seg_states[0, 0], reset_obs[0])
    assert agent.seg_reward[0] == 0.0


def test_with_two_envs_only_the_finished_env_closes_its_segment() -> None:
    agent = make_agent(n_envs=2, high_level_interval=5)
    s = walk(5, n_envs=2)
    for t in range(2):
        actions = agent.act(s[t])
        if t == 0:
            start_goals = agent.goals.copy()
        observe(agent, s[t], actions, s[t + 1], [1.0, 2.0], truncated=[t == 1, False])
    assert len(agent.high_buffer) == 1 and agent.high_buffer.lengths[0] == 2
    np.testing.assert_array_equal(agent.high_buffer.states[0, :3], s[:3, 0])
    np.testing.assert_array_equal(agent.seg_t, [0, 2])
    carried = agent.goals.copy()
    agent.act(s[2])  # env 0 starts a new segment (here not a reset obs, which does not matter to the agent)
    assert not np.allclose(agent.goals[0], carried[0])
    np.testing.assert_array_equal(agent.goals[1], carried[1])  # env 1 keeps pursuing its goal
    np.testing.assert_array_equal(agent.seg_goal[1], start_goals[1])
    for t in range(2, 5):
        actions = agent.act(s[t])
        observe(agent, s[t], actions, s[t + 1], [1.0, 2.0])
    # env 1's full segment closes at its 5th step; env 0's second segment (3 steps so far) stays open.
    assert len(agent.high_buffer) == 2
    np.testing.assert_array_equal(agent.high_buffer.lengths[:2], [2, 5])
    np.testing.assert_array_equal(agent.high_buffer.states[1], s[:, 1])
    np.testing.assert_array_equal(agent.high_buffer.goals[1], start_goals[1])
    np.testing.assert_allclose(agent.high_buffer.rewards[:2], [0.1 * 2.0, 0.1 * 10.0])
    np.testing.assert_array_equal(agent.seg_t, [3, 0])


# ------------------------------------------------------------------------------------------- the update clock
def test_high_level_updates_every_c_env_steps_after_pretraining() -> None:
    agent = make_agent(low_pretrain_env_steps=30)
    stats = run_steps(agent, walk(40), update=True)
    high_updates_at = [i + 1 for i, st in enumerate(stats) if "high/train/critic_loss" in st]
    assert high_updates_at == [30, 33, 36, 39]  # at every multiple of c = 3 env steps, from env step 30 on
    assert agent.high.n_updates == agent.n_high_updates == 4
    assert agent.low.n_updates == agent.n_low_updates == 40
    assert all("low/train/critic_loss" in st and "hiro/intrinsic_reward" in st for st in stats)
    assert "hiro/relabel_kept_original" in stats[29] and "hiro/relabel_kept_original" not in stats[30]


def test_update_with_zero_gradient_steps() -> None:
    """gradient_steps 0 (as FlatAgent allows): no low-level update, but the high level's clock reads the env steps."""
    agent = make_agent()
    run_steps(agent, walk(3))
    assert "low/train/critic_loss" not in agent.update(0)
    assert agent.low.n_updates == 0 and agent.high_clock == 3


@pytest.mark.parametrize("n_envs", [1, 2])
def test_high_level_rate_does_not_depend_on_train_freq(n_envs: int) -> None:
    """`update` every 5 vector steps (train_freq 5), c = 3: the high level still learns once per 3 env steps. With one
    env: the first call (env step 5) starts the clock; then 10 -> 2 updates (multiples 6 and 9), 15 -> 2, 20 -> 1,
    25 -> 2, 30 -> 2: 9 in all. With two envs the calls come at 10, 20, ..., 60 env steps: 0, 3 (multiples 12, 15, 18), 4, 3, 3, 4."""
    agent = make_agent(n_envs=n_envs)
    s = walk(30, n_envs)
    counts = []
    for t in range(30):
        observe(agent, s[t], agent.act(s[t]), s[t + 1], rewards=-1.0)
        if (t + 1) % 5 == 0:
            before = agent.n_high_updates
            agent.update(1)
            counts.append(agent.n_high_updates - before)
    assert counts == ([0, 2, 2, 1, 2, 2] if n_envs == 1 else [0, 3, 4, 3, 3, 4])


def test_high_learning_starts_counts_segments() -> None:
    agent = make_agent(high_learning_starts=5)
    stats = run_steps(agent, walk(18), update=True)
    # Segments close at env steps 3, 6, ...: the 5th at step 15, the first update of the high level at call 15.
    assert [i + 1 for i, st in enumerate(stats) if "high/train/critic_loss" in st] == [15, 18]


@pytest.mark.parametrize("n_envs", [1, 2])
def test_high_gradient_steps_per_decision(n_envs: int) -> None:
    agent = make_agent(n_envs=n_envs, high_gradient_steps=3)
    stats = run_steps(agent, walk(9, n_envs), update=True)
    # c = 3: the first segments close at vector step 3 (env step 3 n_envs), and from then on the high level takes 3
    # gradient steps at every multiple of 3 env steps. One env: calls 3, 6, 9. Two envs (2 env steps per call, the
    # clock at 4 before): env steps 6, 10, 12, 16, 18, i.e. calls 3, 5, 6, 8, 9, one decision each.
    expected = [3, 6, 9] if n_envs == 1 else [3, 5, 6, 8, 9]
    assert [i + 1 for i, st in enumerate(stats) if "high/train/critic_loss" in st] == expected
    assert len(agent.high_buffer) == 3 * n_envs
    assert agent.n_high_updates == 3 * len(expected) == agent.high.n_updates
    assert agent.n_low_updates == 9


@pytest.mark.parametrize(
    ("field", "value"),
    [("high_level_interval", 0), ("high_gradient_steps", 0), ("relabel_samples", -1), ("high_buffer_size", 0),
     ("low_pretrain_env_steps", -5), ("high_level_interval", 2.5), ("high_gradient_steps", True)],
)  # fmt: skip
def test_bad_integer_fields_are_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(HrlkitError, match=rf"HIRO {field} = {value!r}: it must be an integer >= \d"):
        make_agent(**{field: value})


def test_pretraining_goals_are_random_with_magnitudes_in_range() -> None:
    # Goal range [-2, 2] x [-1, 3]: magnitudes up to 2 and 1 keep goals of either sign inside it.
    lo, hi = (0.5, 0.25), (2.0, 1.0)
    agent = make_agent(low_pretrain_env_steps=150, pretrain_goal_low=lo, pretrain_goal_high=hi)
    s = walk(180)[:, 0]
    goals, states = [], []
    for t in range(180):
        actions = agent.act(s[t][None])  # not random_actions: the policy's goals are replaced while pretraining
        if agent.seg_t[0] == 0:
            goals.append(agent.goals[0].copy())
            states.append(s[t])
        observe(agent, s[t][None], actions, s[t + 1][None])
    pretrain = np.array(goals[:50])  # 50 segments of 3 steps in 150 env steps
    assert np.all(np.abs(pretrain) >= lo) and np.all(np.abs(pretrain) <= hi)
    assert np.all((pretrain > 0).any(0)) and np.all((pretrain < 0).any(0))  # both signs, in every dim
    # Afterwards the high policy picks the goals (stochastic: inside the goal range, not the pretraining band).
    after = np.array(goals[50:])
    assert len(after) == 10
    assert np.all(after >= GOAL_LOW) and np.all(after <= GOAL_HIGH)
    det = agent.goal_scaler.to_env(agent.high.act(torch.as_tensor(s[-1][None]), True).numpy())
    agent.seg_t[:] = 0
    agent.act(s[-1][None], deterministic=True)
    np.testing.assert_allclose(agent.goals[0], det[0], rtol=1e-6)


def test_pretraining_without_a_band_draws_uniform_goals() -> None:
    agent = make_agent(low_pretrain_env_steps=1000)
    goals = agent._random_goals(500)
    assert np.all(goals >= GOAL_LOW) and np.all(goals <= GOAL_HIGH)
    np.testing.assert_allclose(goals.mean(0), (GOAL_LOW + GOAL_HIGH) / 2, atol=0.2)


# ----------------------------------------------------------------------------------------------- relabeling
def capture_high_batches(agent: HIROAgent, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    batches: list[Any] = []
    update = agent.high.update

    def spy(batch: Any) -> dict[str, float]:
        batches.append(batch)
        return update(batch)

    monkeypatch.setattr(agent.high, "update", spy)
    return batches


def test_without_relabel_the_high_learner_sees_the_stored_goals(monkeypatch: pytest.MonkeyPatch) -> None:
    agent = make_agent(relabel=False)
    batches = capture_high_batches(agent, monkeypatch)
    stats = run_steps(agent, walk(12), update=True)
    assert len(batches) == 4 and not any("hiro/relabel_kept_original" in st for st in stats)
    buf = agent.high_buffer
    for batch in batches:
        idx = batch.indices.numpy()
        expected = 2.0 * (buf.goals[idx] - GOAL_LOW) / (GOAL_HIGH - GOAL_LOW) - 1.0
        np.testing.assert_allclose(batch.actions.numpy(), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(batch.obs.numpy(), buf.states[idx, 0])
        np.testing.assert_array_equal(batch.next_obs.numpy(), buf.states[idx, buf.lengths[idx]])
        np.testing.assert_array_equal(batch.rewards.numpy(), buf.rewards[idx])


def test_relabel_stats_sum_to_one(monkeypatch: pytest.MonkeyPatch) -> None:
    agent = make_agent()
    batches = capture_high_batches(agent, monkeypatch)
    stats = [st for st in run_steps(agent, walk(30), update=True) if "high/train/critic_loss" in st]
    assert len(stats) == len(batches) == 10
    buf = agent.high_buffer
    for st, batch in zip(stats, batches, strict=True):
        parts = [st["hiro/relabel_kept_original"], st["hiro/relabel_achieved"], st["hiro/relabel_sampled"]]
        assert all(0.0 <= p <= 1.0 for p in parts)
        assert sum(parts) == pytest.approx(1.0)
        seen = batch.actions.numpy()
        assert np.all(np.abs(seen) <= 1.0 + 1e-6)  # candidates are clipped to the goal range
        stored = 2.0 * (buf.goals[batch.indices.numpy()] - GOAL_LOW) / (GOAL_HIGH - GOAL_LOW) - 1.0
        kept = np.all(np.isclose(seen, stored, atol=1e-6), axis=1).mean()
        assert kept == pytest.approx(st["hiro/relabel_kept_original"])


# -------------------------------------------------------------------------------------------------- predict
def test_predict_carries_the_goal_and_picks_a_new_one_every_c_steps() -> None:
    agent = make_agent()
    s = walk(7)[:, 0]
    expected_act = agent.act(s[0][None], deterministic=True)[0]
    expected_goal = agent.goals[0].copy()
    before = {k: v.copy() for k, v in agent.state_tree()["segments"].items()}

    action, state = agent.predict(s[0])
    assert action.shape == (2,)
    np.testing.assert_allclose(action, expected_act, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(state[0][0], expected_goal, rtol=1e-6)
    goal = state[0][0].copy()
    for t in range(1, 7):
        action, state = agent.predict(s[t], state)
        if t % 3 == 0:  # a new decision of the high level
            norm = agent.high.act(torch.as_tensor(s[t][None]), deterministic=True).numpy()
            goal = agent.goal_scaler.to_env(norm)[0]
        else:
            goal = s[t - 1][GOAL_IDX] + goal - s[t][GOAL_IDX]  # carried by h
        np.testing.assert_allclose(state[0][0], goal, rtol=1e-5, atol=1e-6)
        assert state[1][0] == t % 3 + 1  # steps taken in the segment, this one included
        low_in = torch.as_tensor(np.concatenate([s[t], goal])[None].astype(np.float32))
        low = agent.action_scaler.to_env(agent.low.act(low_in, deterministic=True).numpy())[0]
        np.testing.assert_allclose(action, low, rtol=1e-5, atol=1e-5)
    # Predicting never touches the segments in flight.
    after = agent.state_tree()["segments"]
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)
    # An episode start drops the carried state.
    _, fresh = agent.predict(s[2], state, episode_start=np.ones(1, bool))
    _, first = agent.predict(s[2])
    np.testing.assert_array_equal(fresh[0], first[0])
    assert fresh[1][0] == 1


def test_predict_episode_start_resets_only_the_envs_starting_an_episode() -> None:
    """Stable-Baselines3's `episode_start` per env: a vector eval env that resets one sub-env must not carry that
    env's goal from the episode that ended."""
    agent = make_agent()
    s = walk(2, n_envs=2)
    _, state = agent.predict(s[0])
    _, state = agent.predict(s[1], state, episode_start=np.array([True, False]))
    fresh_goal = agent.goal_scaler.to_env(agent.high.act(torch.as_tensor(s[1, :1]), deterministic=True).numpy())[0]
    carried = s[0, 1, GOAL_IDX] + agent.predict(s[0])[1][0][1] - s[1, 1, GOAL_IDX]
    np.testing.assert_allclose(state[0][0], fresh_goal, rtol=1e-6)
    np.testing.assert_allclose(state[0][1], carried, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(state[1], [1, 2])


def test_predict_on_a_batch() -> None:
    agent = make_agent()
    s = walk(1, n_envs=3)
    actions, state = agent.predict(s[0])
    assert actions.shape == (3, 2) and state[0].shape == (3, 2)
    single, _ = agent.predict(s[0, 1])
    np.testing.assert_allclose(single, actions[1], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------- config errors
@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"goal_indices": (0, 4)}, r"goal_indices \(0, 4\) must index the 4-dim state"),
        ({"goal_indices": (-1, 0)}, "goal_indices"),
        ({"goal_indices": ()}, "goal_indices"),
        ({"goal_low": (-1.0, -1.0, -1.0)}, "one bound per goal dimension"),
        ({"goal_high": (1.0, 2.0, 3.0)}, "one bound per goal dimension"),
        ({"goal_low": (1.0,), "goal_high": (1.0,)}, "low < high"),
        ({"goal_low": (-1.0, 2.0), "goal_high": (1.0, 0.0)}, "low < high"),
        ({"high": DQNConfig()}, "a HIRO level learns with td3 or sac, got DQNConfig"),
    ],
)
def test_bad_config(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(HrlkitError, match=match):
        make_agent(**changes)


def test_an_empty_goal_range_comes_from_the_observation_space() -> None:
    # Box(-10, 10): a goal is a change of a goal dim, so one decision may ask for any move up to 20 either way.
    agent = make_agent(goal_low=(), goal_high=())
    np.testing.assert_array_equal(agent.goal_low, [-20.0, -20.0])
    np.testing.assert_array_equal(agent.goal_high, [20.0, 20.0])
    assert agent.notice is None
    assert (agent.cfg.goal_low, agent.cfg.goal_high) == ((-20.0, -20.0), (20.0, 20.0))  # recorded: resume is exact

    # A Dict state: the bounds follow state_keys' order; here goal dims 0 (observation) and 3 (desired_goal).
    space = gym.spaces.Dict(
        {
            "observation": gym.spaces.Box(np.array([0, -1, 0], np.float32), np.array([4, 1, 1], np.float32)),
            "desired_goal": gym.spaces.Box(-0.5, 1.0, (2,), np.float32),
        }
    )
    agent = make_agent(obs_space=space, state_keys=("observation", "desired_goal"), goal_indices=(0, 3),
                       goal_low=(), goal_high=())  # fmt: skip
    np.testing.assert_array_equal(agent.goal_high, [4.0, 1.5])
    np.testing.assert_array_equal(agent.goal_low, [-4.0, -1.5])

    # Unbounded goal dims: +-10 and a warning that says what to set.
    agent = make_agent(obs_space=gym.spaces.Box(-np.inf, np.inf, (S,), np.float32), goal_low=(), goal_high=())
    np.testing.assert_array_equal(agent.goal_high, [10.0, 10.0])
    assert "does not bound the goal dims [0, 2]" in agent.notice and "--goal-low/--goal-high" in agent.notice

    # A range given is kept as it is, and half a range is refused.
    assert make_agent(goal_low=(-1.0,), goal_high=(1.0,)).goal_high.tolist() == [1.0, 1.0]
    with pytest.raises(HrlkitError, match="give both bounds, or neither"):
        make_agent(goal_low=(-1.0,), goal_high=())


def test_discrete_actions_are_refused() -> None:
    cfg = HIROConfig(high=TINY_LEVEL, low=TINY_LEVEL)
    with pytest.raises(HrlkitError, match="needs a Box action space"):
        HIROAgent(OBS_SPACE, gym.spaces.Discrete(3), cfg, 1, RunConfig(), ReplayConfig())


def test_dict_observations() -> None:
    box = lambda n: gym.spaces.Box(-5.0, 5.0, (n,), np.float32)  # noqa: E731
    space = gym.spaces.Dict({"observation": box(3), "achieved_goal": box(2), "desired_goal": box(2)})
    with pytest.raises(HrlkitError, match=r"state_keys \['goal'\] are not in the observation"):
        make_agent(obs_space=space, state_keys=("observation", "goal"))
    with pytest.raises(HrlkitError, match="goal_indices"):
        make_agent(obs_space=space, state_keys=("observation",), goal_indices=(0, 3))

    agent = make_agent(obs_space=space, state_keys=("observation", "desired_goal"), goal_indices=(0, 4))
    assert agent.view.dim == 5
    rng = np.random.default_rng(0)
    obs = {k: rng.standard_normal((2, 1, s.shape[0])).astype(np.float32) for k, s in space.spaces.items()}
    obs_t = {k: v[0] for k, v in obs.items()}
    next_t = {k: v[1] for k, v in obs.items()}
    actions = agent.act(obs_t)
    observe(agent, obs_t, actions, next_t)
    state = np.concatenate([obs_t["observation"], obs_t["desired_goal"]], 1)[0]
    np.testing.assert_array_equal(agent.seg_states[0, 0], state)
    np.testing.assert_array_equal(agent.low_buffer.obs[0, 0, :5], state)
    single, _ = agent.predict({k: v[0] for k, v in obs_t.items()})
    assert single.shape == (2,)


# ------------------------------------------------------------------------------------------- state round trip
def test_state_tree_round_trip(tmp_path: Path) -> None:
    """Mid-segment (4 steps with c = 3), through a checkpoint on disk, into an agent built with another seed."""
    a = make_agent(n_envs=2, seed=0)
    s = walk(6, n_envs=2)
    run_steps(a, s[:5], update=True)
    assert np.all(a.seg_t == 1) and a.n_high_updates == 1  # ready from env step 6, a multiple of c = 3: one step
    save_checkpoint(tmp_path / "ckpt", HIRO_META, a.state_tree(), {}, a.replay_state())
    _, agent_state, _, replay = load_checkpoint(tmp_path / "ckpt")

    b = make_agent(n_envs=2, seed=1)
    assert not np.array_equal(a.predict(s[5])[0], b.predict(s[5])[0])
    b.load_state_tree(agent_state)
    b.load_replay_state(replay)
    for k, v in a.state_tree()["segments"].items():
        got = getattr(b, k)
        assert got.dtype == v.dtype and np.array_equal(got, v), k
    assert (b.env_steps, b.n_low_updates, b.n_high_updates, b.high_clock) == (8, 4, 1, 8)
    assert b.high.n_updates == a.high.n_updates and b.low.n_updates == a.low.n_updates
    assert b._stats == a._stats
    for k, v in a.replay_state().items():
        np.testing.assert_array_equal(replay[k], v)

    # Same actions, deterministic and (same torch seed) stochastic; same draws of the agent's generator.
    np.testing.assert_array_equal(a.predict(s[5])[0], b.predict(s[5])[0])
    for deterministic in (True, False):
        torch.manual_seed(7)
        act_a = a.act(s[5], deterministic)
        torch.manual_seed(7)
        act_b = b.act(s[5], deterministic)
        np.testing.assert_array_equal(act_a, act_b)
    np.testing.assert_array_equal(a.random_actions(2), b.random_actions(2))
    # And the same learning from here on.
    torch.manual_seed(8)
    observe(a, s[5], act_a, s[6])
    stats_a = a.update(1)
    torch.manual_seed(8)
    observe(b, s[5], act_b, s[6])
    stats_b = b.update(1)
    assert stats_a == stats_b
    for (name, pa), pb in zip(a.low.state_dict().items(), b.low.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


def test_loading_another_architecture_is_refused() -> None:
    a = make_agent()
    b = make_agent(high=TD3Config(hidden=(8,), batch_size=16))
    with pytest.raises(HrlkitError, match="do not fit this HIRO model"):
        b.load_state_tree(a.state_tree())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pretrain_goal_low": (0.1,)}, "without pretrain_goal_high"),
        ({"pretrain_goal_low": (0.5,), "pretrain_goal_high": (0.2,)}, "0 <= low <= high"),
        ({"pretrain_goal_low": (-0.1,), "pretrain_goal_high": (0.2,)}, "0 <= low <= high"),
        ({"pretrain_goal_high": (1.5,)}, r"\[2.0, 1.0\]"),  # dim 1 only reaches -1 below zero
        ({"pretrain_goal_high": (0.5, 0.5, 0.5)}, "one per goal dimension"),
    ],
    ids=["low_without_high", "low_above_high", "negative_low", "beyond_goal_range", "wrong_length"],
)
def test_bad_pretraining_bands_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(HrlkitError, match=message):
        make_agent(low_pretrain_env_steps=10, **changes)


@pytest.mark.parametrize(
    "low", [TD3Config(hidden=(16, 16)), SACConfig(hidden=(16, 16)), SACConfig(hidden=(16,)), TD3Config(hidden=(8,))]
)
@pytest.mark.parametrize("hidden_idx", [(), (0, 2)])
def test_factored_low_policy_is_the_low_policy(low: Any, hidden_idx: tuple[int, ...]) -> None:
    """The correction's split first layer, (W_s s + b) + W_g g, gives the low level's actions up to float rounding, and
    the same candidate choices, for TD3 and SAC low levels with and without hidden state dims."""
    agent = make_agent(low=low, low_hidden_indices=hidden_idx)
    factored = agent.factored_low_policy()
    assert factored is not None
    g = torch.Generator().manual_seed(0)
    states, goals = torch.randn(50, S, generator=g), torch.randn(50, len(GOAL_IDX), generator=g)
    with torch.no_grad():
        torch.testing.assert_close(factored.finish(factored.state_part(states), goals), agent.low_policy(states, goals))
    B, c = 12, 3
    segments = torch.cumsum(0.3 * torch.randn(B, c + 1, S, generator=g), 1)
    actions = 2 * torch.rand(B, c, ACT_SPACE.shape[0], generator=g) - 1
    lengths = torch.randint(1, c + 1, (B,), generator=g)
    args = (torch.zeros(B, len(GOAL_IDX)), segments, segments[..., list(GOAL_IDX)], actions, lengths)
    bounds = (torch.as_tensor(GOAL_LOW, dtype=torch.float32), torch.as_tensor(GOAL_HIGH, dtype=torch.float32))
    plain = hiro_relabel_goals(*args, agent.low_policy, *bounds, 8, torch.Generator().manual_seed(1))
    split = hiro_relabel_goals(*args, factored, *bounds, 8, torch.Generator().manual_seed(1))
    torch.testing.assert_close(split.choice, plain.choice, rtol=0, atol=0)
    assert (plain.choice != 0).any()  # real choices were made


def test_a_low_level_without_hidden_layers_scores_unfactored() -> None:
    assert make_agent(low=SACConfig(hidden=())).factored_low_policy() is None
