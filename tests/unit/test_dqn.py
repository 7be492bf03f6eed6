"""DQN targets (2013, 2015, Double), dueling aggregation, loss values, epsilon-greedy, PER feedback, encoders."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from hrlkit.agents import FlatAgent
from hrlkit.agents.base import Transition
from hrlkit.buffers import PrioritizedSampler, ReplayBuffer
from hrlkit.errors import HrlkitError
from hrlkit.learners import DQNConfig, DQNLearner
from hrlkit.learners.common import linear_schedule
from hrlkit.nn import NatureCNN, QNetwork, dueling_combine, make_encoder
from hrlkit.types import ReplayBatch

OBS = gym.spaces.Discrete(3)  # observations are state indices 0..2
ACTIONS = gym.spaces.Discrete(3)


class TableQ(nn.Module):
    """Q(s, .) read from a fixed table: row s of `table` for observation index s."""

    def __init__(self, table: list[list[float]]) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.table[obs.long()]


def learner_with(online, target, **cfg) -> DQNLearner:
    learner = DQNLearner(OBS, ACTIONS, DQNConfig(gamma=0.5, **cfg))
    learner.q = TableQ(online)
    if learner.q_target is not None:
        learner.q_target = TableQ(target)
    return learner


def batch(obs, actions, rewards, next_obs, terminated, weights=None) -> ReplayBatch:
    n = len(obs)
    return ReplayBatch(
        obs=torch.tensor(obs), actions=torch.tensor(actions), rewards=torch.tensor(rewards, dtype=torch.float32),
        next_obs=torch.tensor(next_obs), terminated=torch.tensor(terminated, dtype=torch.float32),
        weights=torch.ones(n) if weights is None else torch.tensor(weights, dtype=torch.float32),
        indices=torch.arange(n),
    )  # fmt: skip


# Next state 1 for both samples. Online Q(1, .) = [2, 1, 4] picks action 2; target Q(1, .) = [1, 5, 3].
ONLINE = [[0.0, 0.0, 0.0], [2.0, 1.0, 4.0], [0.0, 0.0, 0.0]]
TARGET = [[0.0, 0.0, 0.0], [1.0, 5.0, 3.0], [0.0, 0.0, 0.0]]
B = batch(obs=[0, 2], actions=[1, 0], rewards=[1.0, -1.0], next_obs=[1, 1], terminated=[0.0, 1.0])


def test_target_network_target_by_hand():
    y = learner_with(ONLINE, TARGET).target(B)
    # y = r + gamma (1 - terminated) max_a' Q_target(1, a') = 1 + 0.5 * 5; the terminated sample keeps r alone
    assert y.tolist() == [3.5, -1.0]


def test_double_dqn_target_by_hand():
    y = learner_with(ONLINE, TARGET, double=True).target(B)
    # online argmax at s' = action 2; the target values it at 3: 1 + 0.5 * 3
    assert y.tolist() == [2.5, -1.0]


def test_no_target_network_bootstraps_from_the_online_net():
    learner = learner_with(ONLINE, None, target_update_interval=0)
    assert learner.q_target is None
    assert learner.target(B).tolist() == [1.0 + 0.5 * 4.0, -1.0]


def test_reward_clipping_in_the_target_only():
    learner = learner_with(ONLINE, TARGET, clip_rewards=True)
    b = batch(obs=[0], actions=[0], rewards=[7.0], next_obs=[1], terminated=[1.0])
    assert learner.target(b).tolist() == [1.0]


def test_huber_and_mse_losses_with_importance_weights_by_hand():
    online = [[0.0, 0.0, 0.0], [2.0, 1.0, 4.0], [3.0, 0.0, 0.0]]
    # sample 0: Q(0, 1) = 0, y = 3.5 -> error 3.5; sample 1: Q(2, 0) = 3, y = -1 -> error 4
    huber = learner_with(online, TARGET)
    loss, _, td_errors = huber.critic_loss(batch([0, 2], [1, 0], [1.0, -1.0], [1, 1], [0.0, 1.0], weights=[1.0, 0.5]))
    # huber(d) = |d| - 0.5 for |d| > 1: 3.0 and 3.5; weighted mean (3.0 * 1 + 3.5 * 0.5) / 2
    assert loss.item() == pytest.approx((3.0 + 1.75) / 2)
    assert td_errors.tolist() == [3.5, 4.0]
    mse = learner_with(online, TARGET, loss="mse")
    loss, _, _ = mse.critic_loss(batch([0, 2], [1, 0], [1.0, -1.0], [1, 1], [0.0, 1.0], weights=[1.0, 0.5]))
    assert loss.item() == pytest.approx((3.5**2 + 0.5 * 4.0**2) / 2)


def test_dueling_aggregation_by_hand():
    value = torch.tensor([[1.0], [0.0]])
    advantage = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]])
    q = dueling_combine(value, advantage)
    # row 0: 1 + A - 2; row 1: 0 + A - 1
    assert q.tolist() == [[0.0, 1.0, 2.0], [-2.0, -1.0, 3.0]]
    net = QNetwork(make_encoder(gym.spaces.Box(-1, 1, (4,)), "mlp"), 3, (8,), dueling=True)
    out = net(torch.randn(5, 4))
    v, a = net.value(net.encoder(torch.zeros(1, 4))), net.advantage(net.encoder(torch.zeros(1, 4)))
    assert out.shape == (5, 3)
    assert torch.allclose(net(torch.zeros(1, 4)).mean(-1), v.squeeze(-1))  # mean_a Q = V
    assert torch.allclose(net(torch.zeros(1, 4)) - v, a - a.mean(-1, keepdim=True))


def test_hard_target_update_every_interval():
    learner = DQNLearner(gym.spaces.Box(-1, 1, (2,)), ACTIONS, DQNConfig(hidden=(8,), target_update_interval=3))
    b = ReplayBatch(torch.randn(16, 2), torch.randint(0, 3, (16,)), torch.randn(16), torch.randn(16, 2),
                    torch.zeros(16), torch.ones(16), torch.arange(16))  # fmt: skip
    before = [p.clone() for p in learner.q_target.parameters()]
    learner.update(b)
    learner.update(b)
    assert all(torch.equal(p, q) for p, q in zip(before, learner.q_target.parameters(), strict=True))
    learner.update(b)  # third update: copy
    assert all(torch.equal(p, q) for p, q in zip(learner.q.parameters(), learner.q_target.parameters(), strict=True))


def test_gradient_norm_is_clipped():
    learner = DQNLearner(gym.spaces.Box(-1, 1, (2,)), ACTIONS, DQNConfig(hidden=(8,), max_grad_norm=0.01, lr=1.0))
    b = ReplayBatch(torch.randn(16, 2) * 100, torch.randint(0, 3, (16,)), torch.full((16,), 1e3),
                    torch.randn(16, 2), torch.zeros(16), torch.ones(16), torch.arange(16))  # fmt: skip
    loss, _, _ = learner.critic_loss(b)
    loss.backward()
    raw = torch.sqrt(sum(p.grad.pow(2).sum() for p in learner.q.parameters()))
    learner.optimizers["q"].zero_grad()
    learner.update(b)
    clipped = torch.sqrt(sum(p.grad.pow(2).sum() for p in learner.q.parameters()))
    assert raw > 1.0 and clipped == pytest.approx(0.01, rel=1e-3)


def test_bad_settings_refused():
    with pytest.raises(HrlkitError, match="Discrete action space"):
        DQNLearner(OBS, gym.spaces.Box(-1, 1, (2,)), DQNConfig())
    with pytest.raises(HrlkitError, match="loss"):
        DQNLearner(OBS, ACTIONS, DQNConfig(loss="l1"))
    with pytest.raises(HrlkitError, match="nature_cnn"):
        make_encoder(gym.spaces.Box(-1, 1, (4,)), "nature_cnn")


# --------------------------------------------------------------------------------------------- exploration
def test_linear_schedule():
    assert [linear_schedule(1.0, 0.1, 10, t) for t in (0, 5, 10, 20)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    assert linear_schedule(1.0, 0.1, 0, 0) == 0.1


def test_epsilon_greedy_frequency():
    learner = learner_with(ONLINE, TARGET)  # greedy action at state 1 is 2
    buf = ReplayBuffer(10, OBS, ACTIONS)
    agent = FlatAgent(learner, buf, 4, seed=0, exploration=lambda t: 0.3)
    actions = np.concatenate([agent.act(np.ones(1000, np.int64)) for _ in range(10)])
    # greedy with prob 0.7, else uniform over 3 actions: P(action 2) = 0.7 + 0.1
    assert np.mean(actions == 2) == pytest.approx(0.8, abs=0.02)
    assert np.all(agent.act(np.ones(100, np.int64), deterministic=True) == 2)


def test_agent_feeds_td_errors_back_as_priorities():
    learner = learner_with(ONLINE, TARGET)
    sampler = PrioritizedSampler(4, priority_exponent=1.0, priority_epsilon=1e-6)
    buf = ReplayBuffer(4, OBS, ACTIONS, sampler=sampler)
    agent = FlatAgent(learner, buf, 8, seed=0, exploration=lambda t: 0.0)
    for s, a, r, s2, term in [(0, 1, 1.0, 1, 0.0), (2, 0, -1.0, 1, 1.0)]:
        agent.observe(
            Transition(np.array([s]), np.array([a]), np.array([r]), np.array([s2]), np.array([term > 0]), None, {})
        )
    assert sampler.sum_tree[np.array([0, 1])].tolist() == [1.0, 1.0]  # both at the initial max priority
    results = []
    update = learner.update
    learner.update = lambda b: results.append(update(b)) or results[-1]  # keep what the pipeline got back
    agent.update(1)
    td = results[0].td_errors.detach().numpy()  # the errors of the batch just learned from
    # entry 0: |Q(0,1) - 3.5| = 3.5, entry 1: |Q(2,0) - (-1)| = 1, both before the step; priorities = |delta| + eps
    assert sorted(set(np.round(td, 5).tolist())) == [1.0, 3.5]
    np.testing.assert_allclose(sampler.sum_tree[np.array([0, 1])], [3.5 + 1e-6, 1.0 + 1e-6], rtol=1e-6)


# --------------------------------------------------------------------------------------------------- encoders
def test_nature_cnn_shapes_and_pixel_scaling():
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    cnn = NatureCNN(space)
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    assert cnn(frames).shape == (2, 512)
    # uint8 in, scaled by 1/255 inside: the same as feeding floats in [0, 1] to the conv stack
    expected = cnn.linear(cnn.convs(frames.float() / 255.0))
    assert torch.allclose(cnn(frames), expected)
    assert isinstance(make_encoder(space), NatureCNN)
    learner = DQNLearner(space, gym.spaces.Discrete(6), DQNConfig(hidden=()))
    assert learner.act(frames).shape == (2,)


def test_atari_wrapper_gives_stacked_84x84_frames():
    from hrlkit.envs.make import make_env

    env = make_env("ALE/Pong-v5", env_kwargs={"frameskip": 1}, wrappers=("atari",))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    obs2, *_ = env.step(0)
    assert np.array_equal(obs2[:3], obs[1:])  # the stack shifts by one frame per step
    with pytest.raises(HrlkitError, match="frameskip"):
        make_env("ALE/Pong-v5", wrappers=("atari",))


def test_flat_agent_maps_a_discrete_space_with_a_start_offset() -> None:
    """Discrete(3, start=-1): the env takes -1, 0, 1; the learner and the buffer index 0, 1, 2. Greedy, epsilon-greedy
    and warm-up actions all land in the env's range; a stored action is the env's minus the start."""
    obs_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    space = gym.spaces.Discrete(3, start=-1)
    learner = DQNLearner(obs_space, space, DQNConfig(hidden=(8,), batch_size=4))
    buffer = ReplayBuffer(16, obs_space, space, 2)
    agent = FlatAgent(learner, buffer, 4, seed=0, exploration=lambda steps: 1.0)
    obs = np.zeros((2, 2), np.float32)
    greedy = agent.act(obs, deterministic=True)
    with torch.no_grad():
        index = learner.q(torch.as_tensor(obs)).argmax(-1).numpy()
    np.testing.assert_array_equal(greedy, index - 1)
    explored = np.concatenate([agent.act(obs) for _ in range(50)])  # epsilon 1: uniform over the env's actions
    assert set(explored.tolist()) == {-1, 0, 1}
    assert set(np.concatenate([agent.random_actions(2) for _ in range(50)]).tolist()) == {-1, 0, 1}
    agent.observe(Transition(obs, np.array([-1, 1]), np.zeros(2), obs, np.zeros(2, bool), np.zeros(2, bool), [{}, {}]))
    np.testing.assert_array_equal(buffer.actions[0], [0, 2])
