"""h-DQN's bookkeeping by hand: intrinsic rewards, controller and meta transitions of scripted episodes on the chain,
the exploration schedules, and the subgoal carried by `predict`."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from hrlkit.agents.base import Transition
from hrlkit.agents.hdqn import HDQNAgent, HDQNConfig, HDQNLevelConfig
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.errors import HrlkitError

S1, S2, S3, S4, S5, S6 = range(6)  # the chain's states as observation indices
LEFT, RIGHT = 0, 1
NO = np.zeros(1, bool)
YES = np.ones(1, bool)


def make_agent(n_envs: int = 1, **overrides) -> HDQNAgent:
    level = HDQNLevelConfig(hidden=(8,), batch_size=4)
    cfg = HDQNConfig(meta=level, controller=level, meta_learning_starts=1, **overrides)
    return HDQNAgent(
        gym.spaces.Discrete(6), gym.spaces.Discrete(2), cfg, n_envs, RunConfig(seed=0), ReplayConfig(buffer_size=100)
    )


def script_goals(agent: HDQNAgent, goals: list[int]) -> None:
    """The meta-controller picks `goals` in this order (subgoal indices = state indices here)."""
    queue = list(goals)
    agent._pick_goals = lambda states, need, epsilon, rng=None: np.array([queue.pop(0) for _ in np.flatnonzero(need)])


def step(agent: HDQNAgent, s: int, a: int, r: float, s2: int, terminated: bool = False, truncated: bool = False):
    agent.act(np.array([s]))  # opens a subgoal where one is due
    agent.observe(Transition(np.array([s]), np.array([a]), np.array([r]), np.array([s2]), np.array([terminated]),
                  np.array([truncated]), {}))  # fmt: skip


def controller_rows(agent: HDQNAgent) -> list[tuple[int, int, int, float, int, bool]]:
    """(s, g, a, intrinsic reward, s', terminated) of every stored controller transition, decoded from the one-hots."""
    buf, n = agent.low_buffer, agent.low_buffer.pos
    s, g = buf.obs[:n, 0, :6].argmax(-1), buf.obs[:n, 0, 6:].argmax(-1)
    s2, g2 = buf.next_obs[:n, 0, :6].argmax(-1), buf.next_obs[:n, 0, 6:].argmax(-1)
    assert (g == g2).all()  # the subgoal is part of both observations
    return [
        (int(s[i]), int(g[i]), int(buf.actions[i, 0]), float(buf.rewards[i, 0]), int(s2[i]), bool(buf.terminated[i, 0]))
        for i in range(n)
    ]


def meta_rows(agent: HDQNAgent) -> list[tuple[int, int, float, int, bool]]:
    """(s_0, g, F, s_N, terminated) of every stored meta transition."""
    buf, n = agent.high_buffer, agent.high_buffer.pos
    return [
        (int(buf.obs[i, 0]), int(buf.actions[i, 0]), float(buf.rewards[i, 0]), int(buf.next_obs[i, 0]),
         bool(buf.terminated[i, 0]))
        for i in range(n)
    ]  # fmt: skip


def test_scripted_episode_reaching_two_subgoals() -> None:
    """s2 --(g = s4)--> s3 -> s4 reached; --(g = s1)--> s5 -> s6 -> s5 -> s4 -> s3 -> s2 -> s1 (reward 1, terminated)."""
    agent = make_agent()
    script_goals(agent, [S4, S1])
    step(agent, S2, RIGHT, 0.0, S3)
    step(agent, S3, RIGHT, 0.0, S4)  # g = s4 reached: intrinsic 1, the controller's episode for s4 ends
    assert agent.need_goal.all()
    path = [S4, S5, S6, S5, S4, S3, S2, S1]
    for s, s2 in zip(path[:-1], path[1:], strict=True):
        step(agent, s, RIGHT if s2 > s else LEFT, 1.0 if s2 == S1 else 0.0, s2, terminated=s2 == S1)
    assert controller_rows(agent) == [
        (S2, S4, RIGHT, 0.0, S3, False),
        (S3, S4, RIGHT, 1.0, S4, True),
        (S4, S1, RIGHT, 0.0, S5, False),
        (S5, S1, RIGHT, 0.0, S6, False),
        (S6, S1, LEFT, 0.0, S5, False),
        (S5, S1, LEFT, 0.0, S4, False),
        (S4, S1, LEFT, 0.0, S3, False),
        (S3, S1, LEFT, 0.0, S2, False),
        (S2, S1, LEFT, 1.0, S1, True),  # reached s1, which also ends the episode
    ]
    # F sums the extrinsic rewards while each subgoal was pursued; the meta transition bootstraps unless the env ended.
    assert meta_rows(agent) == [(S2, S4, 0.0, S4, False), (S4, S1, 1.0, S1, True)]
    assert agent.success_history[S4, 0] and agent.success_history[S1, 0]
    stats = agent.update(1)
    assert stats["hdqn/subgoal_success_rate"] == 1.0
    assert stats["hdqn/subgoals_per_episode"] == 2.0
    assert stats["hdqn/intrinsic_reward"] == pytest.approx(2 / 9)  # two rewarded steps out of nine
    assert "controller/train/loss" in stats and "meta/train/loss" in stats
    assert agent.ep_subgoals.tolist() == [0] and agent.env_steps == 9


def test_subgoal_missed_when_the_episode_ends() -> None:
    """g = s6, but the agent falls back to s1 (reward 0.01, terminated): a failed attempt, both transitions terminal;
    then g = s6 again until a time limit (truncation): no terminal flag, F sums what came in."""
    agent = make_agent()
    script_goals(agent, [S6, S6])
    step(agent, S2, RIGHT, 0.0, S3)
    step(agent, S3, RIGHT, 0.0, S2)  # a failed 'right'
    step(agent, S2, LEFT, 0.01, S1, terminated=True)
    step(agent, S2, RIGHT, 0.0, S3)
    step(agent, S3, RIGHT, 0.0, S4, truncated=True)
    assert [row[3:] for row in controller_rows(agent)] == [
        (0.0, S3, False), (0.0, S2, False), (0.0, S1, True), (0.0, S3, False), (0.0, S4, False),
    ]  # fmt: skip
    assert meta_rows(agent) == [(S2, S6, float(np.float32(0.01)), S1, True), (S2, S6, 0.0, S4, False)]  # float32 replay
    assert agent.success_history[S6, :2].tolist() == [False, False] and agent.success_pos[S6] == 2
    assert agent._stats["hdqn/subgoals_per_episode"] == [1.0, 1.0]


def test_subgoal_timeout() -> None:
    agent = make_agent(subgoal_max_env_steps=2)
    script_goals(agent, [S6, S3])
    step(agent, S2, RIGHT, 0.0, S3)
    step(agent, S3, LEFT, 0.0, S2)  # two steps without reaching s6: given up, a new subgoal next
    step(agent, S2, RIGHT, 0.0, S3)  # g = s3 reached
    assert meta_rows(agent) == [(S2, S6, 0.0, S2, False), (S2, S3, 0.0, S3, False)]
    assert [row[5] for row in controller_rows(agent)] == [False, False, True]


def test_two_envs_close_the_same_subgoal_in_one_step() -> None:
    agent = make_agent(n_envs=2)
    script_goals(agent, [S3, S3])
    agent.act(np.array([S2, S4]))
    agent.observe(Transition(np.array([S2, S4]), np.array([RIGHT, LEFT]), np.zeros(2), np.array([S3, S3]), np.zeros(2, bool),
                  np.zeros(2, bool), {}))  # fmt: skip
    assert meta_rows(agent) == [(S2, S3, 0.0, S3, False), (S4, S3, 0.0, S3, False)]
    assert agent.success_history[S3, :2].tolist() == [True, True] and agent.success_pos[S3] == 2
    assert agent.low_buffer.rewards[0].tolist() == [1.0, 1.0]


def test_exploration_schedules() -> None:
    agent = make_agent(meta_exploration_env_steps=1000, controller_exploration_env_steps=2000)
    for env_steps, meta, controller in [(0, 1.0, 1.0), (500, 0.55, 0.775), (1000, 0.1, 0.55), (5000, 0.1, 0.1)]:
        agent.env_steps = env_steps
        assert agent.meta_epsilon() == pytest.approx(meta)
        np.testing.assert_allclose(agent.controller_epsilons(), controller)
    # A subgoal reached in more than 90% of its last 100 attempts is mastered: epsilon_1,g = 0.1 from then on.
    agent.env_steps = 0
    agent.success_history[S3, :91] = True
    agent.success_history[S4, :90] = True  # exactly 90%: not more than the threshold
    np.testing.assert_allclose(agent.controller_epsilons(), [1.0, 1.0, 0.1, 1.0, 1.0, 1.0])  # s3 is index 2


def test_config_checks() -> None:
    with pytest.raises(HrlkitError, match="Discrete observation"):
        HDQNAgent(gym.spaces.Box(0, 1, (2,)), gym.spaces.Discrete(2), HDQNConfig(), 1,
                  RunConfig(seed=0), ReplayConfig(buffer_size=10))  # fmt: skip
    with pytest.raises(HrlkitError, match="distinct state indices"):
        make_agent(subgoals=(0, 6))
    with pytest.raises(HrlkitError, match="integer state indices"):
        make_agent(subgoals=(1.5, 2.7))  # would otherwise be truncated to (1, 2)
    with pytest.raises(HrlkitError, match="outside the Discrete"):
        make_agent().act(np.array([-1]))  # would otherwise wrap around to the last state's one-hot row
    agent = make_agent(subgoals=(0, 5))  # only s1 and s6 as subgoals: the controller sees 6 + 2 inputs
    assert agent.low.obs_space.shape == (8,) and agent.high.action_space.n == 2


def test_predict_carries_the_subgoal() -> None:
    agent = make_agent()
    script_goals(agent, [S4, S6, S5])
    action, state = agent.predict(S2)  # no state: a new subgoal
    assert np.ndim(action) == 0 and state[0].tolist() == [S4] and agent.subgoal(state).new.tolist() == [True]
    _, state = agent.predict(S3, state, NO)  # carried
    assert state[0].tolist() == [S4] and agent.subgoal(state).new.tolist() == [False]
    _, state = agent.predict(S4, state, NO)  # reached on arriving in s4: the next one
    assert state[0].tolist() == [S6] and agent.subgoal(state).target.tolist() == [[float(S6)]]
    _, state = agent.predict(S2, state, YES)  # a new episode: a new subgoal whatever the old one
    assert state[0].tolist() == [S5]
    assert agent.position(S3).tolist() == [float(S3)]


def test_stochastic_predict_never_draws_from_the_training_generator() -> None:
    """`predict(deterministic=False)` explores with its own generator: the training generator (whose state a checkpoint
    pins for exact resume) is where it was, and two agents, one of which predicted, act alike afterwards."""
    a, b = make_agent(), make_agent()
    before = a.rng.bit_generator.state
    state = None
    for k in range(20):
        _, state = a.predict(np.array(k % 6), state, None, deterministic=False)
    assert a.rng.bit_generator.state == before
    obs = np.array([2])
    np.testing.assert_array_equal(a.act(obs), b.act(obs))
