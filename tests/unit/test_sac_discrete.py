"""SAC-Discrete (Christodoulou 2019, arXiv:1910.07207): the critic target, the three losses worked by hand with networks
set to constant outputs, TD errors, gradient isolation, target updates, acting, the Nature CNN path and input checks."""

from __future__ import annotations

import dataclasses
import math
import typing

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from hrlkit.config import field_docs
from hrlkit.envs.toy import BitFlippingEnv
from hrlkit.errors import HrlkitError
from hrlkit.learners import SACDiscreteConfig, SACDiscreteLearner
from hrlkit.nn import NatureCNN, QNetwork
from hrlkit.types import ReplayBatch, UpdateResult

OBS_SPACE = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
ACT_SPACE = gym.spaces.Discrete(3)
GAMMA = 0.9
ALPHA = 0.5  # entropy coefficient passed to the losses

# Constant networks (every weight zero, the output bias set), the same for every state:
PI = [0.5, 0.25, 0.25]  # pi(.|s) and pi(.|s')
TARGET_Q = ([1.0, 2.0, 3.0], [2.0, 0.0, 4.0])  # Q'_1(s', .), Q'_2(s', .): min = [1, 0, 3]
ONLINE_Q = ([0.0, 1.0, 2.0], [3.0, -1.0, 0.0])  # Q_1(s, .), Q_2(s, .): min = [0, -1, 0]
ACTIONS = [2, 1]
REWARDS = [1.0, -1.0]
TERMINATED = [0.0, 1.0]
WEIGHTS = [1.0, 0.5]  # importance weights as prioritized replay would give them


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


def make_learner(**overrides) -> SACDiscreteLearner:
    cfg = SACDiscreteConfig(hidden=(8,), gamma=GAMMA, **overrides)
    return SACDiscreteLearner(OBS_SPACE, ACT_SPACE, cfg)


def make_batch(batch_size: int = 2, seed: int = 0) -> ReplayBatch:
    g = torch.Generator().manual_seed(seed)
    hand = batch_size == 2
    return ReplayBatch(
        obs=torch.rand(batch_size, 2, generator=g) * 2 - 1,
        actions=torch.tensor(ACTIONS) if hand else torch.randint(0, 3, (batch_size,), generator=g),
        rewards=t(REWARDS) if hand else torch.randn(batch_size, generator=g),
        next_obs=torch.rand(batch_size, 2, generator=g) * 2 - 1,
        terminated=t(TERMINATED) if hand else (torch.rand(batch_size, generator=g) < 0.2).float(),
        weights=t(WEIGHTS) if hand else torch.ones(batch_size),
        indices=torch.arange(batch_size),
    )


def set_constant_output(net: nn.Module, last: nn.Linear, values: list[float]) -> None:
    """Zero every parameter of `net` and put `values` in the bias of its last layer: a constant output."""
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        last.bias.copy_(t(values))


def set_constant_critics(critics: nn.ModuleList, values: tuple[list[float], ...]) -> None:
    for q, v in zip(critics, values, strict=True):
        assert isinstance(q, QNetwork) and not q.dueling
        set_constant_output(q, q.q[-1], v)


def set_constant_policy(learner: SACDiscreteLearner, probs: list[float]) -> None:
    set_constant_output(learner.actor, learner.actor[-1][-1], [math.log(p) for p in probs])


def known_learner(**overrides) -> SACDiscreteLearner:
    learner = make_learner(**overrides)
    set_constant_critics(learner.critic_target, TARGET_Q)
    set_constant_critics(learner.critic, ONLINE_Q)
    set_constant_policy(learner, PI)
    return learner


def hand_targets() -> list[float]:
    """y_i = r_i + gamma (1 - d_i) sum_a pi(a) [min_j Q'_j(a) - alpha log pi(a)], written out with floats."""
    min_target = [min(q1, q2) for q1, q2 in zip(*TARGET_Q, strict=True)]  # [1, 0, 3]
    v_next = sum(p * (q - ALPHA * math.log(p)) for p, q in zip(PI, min_target, strict=True))
    # = 0.5 * 1 + 0.25 * 0 + 0.25 * 3 + alpha * H(pi), H = 1.5 log 2: 1.25 + 0.75 log 2
    assert v_next == pytest.approx(1.25 + 0.75 * math.log(2))
    return [r + GAMMA * (1 - d) * v_next for r, d in zip(REWARDS, TERMINATED, strict=True)]


def hand_q_taken() -> list[list[float]]:
    """Q_j(s_i, a_i) for j = 1, 2 and the two samples: Q_1 -> [2, 1], Q_2 -> [0, -1]."""
    return [[q[a] for a in ACTIONS] for q in ONLINE_Q]


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------------------------------------------- config
def test_config_fields_have_help_and_defaults_of_their_type():
    docs = field_docs(SACDiscreteConfig)
    hints = typing.get_type_hints(SACDiscreteConfig)
    for f in dataclasses.fields(SACDiscreteConfig):
        assert docs.get(f.name), f"{f.name} has no docstring"
        expected = typing.get_origin(hints[f.name]) or hints[f.name]
        assert isinstance(f.default, expected), f"{f.name} = {f.default!r} is not a {hints[f.name]}"


# ------------------------------------------------------------------------------------------------------- losses
def test_critic_target_and_loss_by_hand():
    learner = known_learner()
    loss, info, td_errors = learner.critic_loss(make_batch(), t(ALPHA))
    y = hand_targets()  # [1 + 0.9 V, -1]: the second transition is terminal and does not bootstrap
    assert y[1] == -1.0
    q_taken = hand_q_taken()
    # 0.5 * sum_j mean_i w_i (Q_j(s_i, a_i) - y_i)^2
    expected = 0.5 * sum(sum(w * (qj[i] - y[i]) ** 2 for i, w in enumerate(WEIGHTS)) / 2 for qj in q_taken)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert info["critic_loss"] == pytest.approx(expected, rel=1e-6)
    assert info["q_mean"] == pytest.approx((2 + 1 + 0 - 1) / 4)
    # |TD error| averaged over the critics, per sample, unweighted
    expected_td = [sum(abs(qj[i] - y[i]) for qj in q_taken) / 2 for i in range(2)]
    torch.testing.assert_close(td_errors, t(expected_td))


def test_critic_target_uses_the_policy_expectation_not_the_max():
    # a greedy (DQN-style) target would bootstrap from max_a min_j Q' = 3; the soft value is the pi-weighted sum
    learner = known_learner(learn_entropy_coef=False)
    _, _, td = learner.critic_loss(make_batch(), t(0.0))
    v_expectation = sum(p * min(q1, q2) for p, q1, q2 in zip(PI, *TARGET_Q, strict=True))  # 1.25
    y0 = REWARDS[0] + GAMMA * v_expectation
    assert td[0].item() == pytest.approx((abs(2 - y0) + abs(0 - y0)) / 2, rel=1e-6)


def test_actor_loss_by_hand_and_its_gradient():
    learner = known_learner()
    batch = make_batch()
    loss, info, entropy = learner.actor_loss(batch.obs, t(ALPHA))
    min_q = [min(q1, q2) for q1, q2 in zip(*ONLINE_Q, strict=True)]  # [0, -1, 0]
    per_state = sum(p * (ALPHA * math.log(p) - q) for p, q in zip(PI, min_q, strict=True))
    assert loss.item() == pytest.approx(per_state, rel=1e-6)  # the same for both states
    h = -sum(p * math.log(p) for p in PI)  # 1.5 log 2
    torch.testing.assert_close(entropy, t([h, h]))
    assert info["entropy"] == pytest.approx(h) and info["actor_loss"] == pytest.approx(per_state, rel=1e-6)
    assert not entropy.requires_grad
    # d/dz_k sum_a softmax(z)_a f_a(z) with f_a = alpha log pi_a - q_a: pi_k (f_k - loss) (the alpha terms cancel
    # because sum_a pi_a d log pi_a / dz_k = 0); the output bias sees the mean over the batch of this constant.
    loss.backward()
    expected_grad = [p * (ALPHA * math.log(p) - q - per_state) for p, q in zip(PI, min_q, strict=True)]
    torch.testing.assert_close(learner.actor[-1][-1].bias.grad, t(expected_grad))


def test_entropy_coef_loss_by_hand_and_its_sign():
    learner = make_learner(entropy_coef_init=2.0, target_entropy_ratio=0.5)
    target = 0.5 * math.log(3)
    assert learner.target_entropy == pytest.approx(target)
    entropy = t([0.2, 0.4])  # mean 0.3 < target 0.549: the policy is too decided
    loss = learner.entropy_coef_loss(entropy)
    # -log(alpha) mean(sum pi log pi + target) = log(alpha) (mean H - target)
    assert loss.item() == pytest.approx(math.log(2.0) * (0.3 - target), rel=1e-6)
    loss.backward()
    assert learner.log_entropy_coef.grad.item() == pytest.approx(0.3 - target, rel=1e-6)
    assert learner.log_entropy_coef.grad.item() < 0  # descent raises alpha
    before = learner.entropy_coef.item()
    learner.optimizers["entropy_coef"].step()
    assert learner.entropy_coef.item() > before

    learner.optimizers["entropy_coef"].zero_grad()
    learner.entropy_coef_loss(t([math.log(3)] * 2)).backward()  # a uniform policy: above the target, alpha falls
    before = learner.entropy_coef.item()
    learner.optimizers["entropy_coef"].step()
    assert learner.entropy_coef.item() < before


def test_entropy_coef_loss_refuses_entropies_attached_to_the_policy():
    learner = make_learner()
    _, _, entropy = learner.actor_loss(make_batch().obs, t(ALPHA))
    with pytest.raises(AssertionError):
        learner.entropy_coef_loss(entropy.requires_grad_())


# ------------------------------------------------------------------------------------------------------- update
def test_update_returns_td_errors_before_the_step_and_the_stats():
    learner = known_learner(entropy_coef_init=ALPHA)
    result = learner.update(make_batch())
    assert isinstance(result, UpdateResult)
    y, q_taken = hand_targets(), hand_q_taken()
    expected_td = [sum(abs(qj[i] - y[i]) for qj in q_taken) / 2 for i in range(2)]
    torch.testing.assert_close(result.td_errors, t(expected_td))
    assert set(result.stats) == {"critic_loss", "actor_loss", "entropy_coef", "entropy_coef_loss", "entropy", "q_mean"}
    assert result.stats["entropy_coef"] == pytest.approx(ALPHA)  # the value used in this update, before its step
    assert all(math.isfinite(v) for v in result.stats.values())
    assert learner.n_updates == 1


def test_update_without_entropy_tuning_keeps_alpha():
    learner = make_learner(learn_entropy_coef=False, entropy_coef_init=0.2)
    assert "entropy_coef" not in learner.optimizers
    for seed in range(3):
        stats = learner.update(make_batch(16, seed)).stats
    assert "entropy_coef_loss" not in stats
    assert learner.entropy_coef.item() == pytest.approx(0.2)


def test_gradient_isolation_between_actor_critic_and_temperature():
    learner = make_learner()
    batch = make_batch(8)
    actor_loss, _, entropy = learner.actor_loss(batch.obs, t(ALPHA))
    actor_loss.backward()
    assert all(p.grad is None for p in learner.critic.parameters())
    assert learner.log_entropy_coef.grad is None
    assert any(p.grad is not None for p in learner.actor.parameters())

    learner.zero_grad(set_to_none=True)
    critic_loss, _, _ = learner.critic_loss(batch, learner.entropy_coef)
    critic_loss.backward()
    assert all(p.grad is None for p in learner.actor.parameters())
    assert all(p.grad is None for p in learner.critic_target.parameters())
    assert learner.log_entropy_coef.grad is None

    learner.zero_grad(set_to_none=True)
    learner.entropy_coef_loss(entropy).backward()
    assert all(p.grad is None for p in [*learner.actor.parameters(), *learner.critic.parameters()])


def test_each_optimizer_step_moves_only_its_own_parameters():
    learner = make_learner()
    batch = make_batch(8)
    critic_before, target_before = params(learner.critic), params(learner.critic_target)
    loss, _, _ = learner.actor_loss(batch.obs, t(ALPHA))
    learner.optimizers["actor"].zero_grad()
    loss.backward()
    learner.optimizers["actor"].step()
    assert same(params(learner.critic), critic_before) and same(params(learner.critic_target), target_before)

    actor_before = params(learner.actor)
    loss, _, _ = learner.critic_loss(batch, learner.entropy_coef)
    learner.optimizers["critic"].zero_grad()
    loss.backward()
    learner.optimizers["critic"].step()
    assert same(params(learner.actor), actor_before)
    assert not same(params(learner.critic), critic_before)


def test_target_critics_follow_polyak_every_interval():
    learner = make_learner(tau=0.25, target_update_interval=2)
    target_0 = params(learner.critic_target)
    learner.update(make_batch(8, 0))
    assert same(params(learner.critic_target), target_0)  # not due yet
    learner.update(make_batch(8, 1))
    for old, new, online in zip(target_0, params(learner.critic_target), params(learner.critic), strict=True):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * online)


def test_hard_target_copy_with_tau_one():
    learner = make_learner(tau=1.0, target_update_interval=3)
    for seed in range(3):
        learner.update(make_batch(8, seed))
    assert same(params(learner.critic_target), params(learner.critic))
    learner.update(make_batch(8, 3))
    assert not same(params(learner.critic_target), params(learner.critic))


def test_targets_and_online_critics_are_independent_networks():
    learner = make_learner()
    encoders = [q.encoder for q in learner.critic] + [learner.actor[0]]
    assert len({id(e) for e in encoders}) == len(encoders)
    online = {id(p) for p in learner.critic.parameters()}
    assert not online & {id(p) for p in learner.critic_target.parameters()}
    assert not any(p.requires_grad for p in learner.critic_target.parameters())
    assert set(learner.optimizers) == {"actor", "critic", "entropy_coef"}


# ---------------------------------------------------------------------------------------------------------- act
def test_act_shapes_argmax_and_sampling():
    learner = make_learner()
    obs = torch.rand(5, 2) * 2 - 1
    for deterministic in (True, False):
        a = learner.act(obs, deterministic=deterministic)
        assert a.shape == (5,) and a.dtype == torch.int64
        assert ((a >= 0) & (a < 3)).all()
    set_constant_policy(learner, [0.2, 0.7, 0.1])
    assert learner.act(obs, deterministic=True).tolist() == [1] * 5
    torch.manual_seed(0)  # the stochastic draw uses torch's global generator
    draws = learner.act(torch.zeros(4000, 2), deterministic=False)
    freq = torch.bincount(draws, minlength=3).float() / 4000
    torch.testing.assert_close(freq, t([0.2, 0.7, 0.1]), atol=0.03, rtol=0)
    torch.manual_seed(0)
    assert torch.equal(learner.act(torch.zeros(4000, 2)), draws)


def test_deterministic_act_is_the_argmax_of_the_policy():
    torch.manual_seed(1)
    learner = make_learner()
    obs = torch.randn(32, 2)
    torch.testing.assert_close(learner.act(obs, deterministic=True), learner.log_probs(obs).argmax(-1))


# ------------------------------------------------------------------------------------------------ other spaces
def test_nature_cnn_on_stacked_frames():
    obs_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    learner = SACDiscreteLearner(obs_space, gym.spaces.Discrete(6), SACDiscreteConfig(hidden=()))
    assert isinstance(learner.actor[0], NatureCNN)
    assert all(isinstance(q.encoder, NatureCNN) for q in learner.critic)
    g = torch.Generator().manual_seed(0)
    frames = lambda: torch.randint(0, 256, (2, 4, 84, 84), generator=g, dtype=torch.uint8)  # noqa: E731
    batch = ReplayBatch(frames(), torch.tensor([0, 5]), t([1.0, 0.0]), frames(), t([0.0, 1.0]), torch.ones(2),
                        torch.arange(2))  # fmt: skip
    assert learner.q_values(learner.critic, batch.obs).shape == (2, 2, 6)
    result = learner.update(batch)
    assert result.td_errors.shape == (2,) and math.isfinite(result.stats["critic_loss"])
    assert learner.act(batch.obs).shape == (2,)


def test_dict_goal_observations_of_bit_flipping():
    env = BitFlippingEnv(n_bits=4)
    learner = SACDiscreteLearner(env.observation_space, env.action_space, SACDiscreteConfig(hidden=(16,)))
    obs, _ = env.reset(seed=0)
    tensor_obs = {k: torch.as_tensor(np.stack([v, v])) for k, v in obs.items()}
    batch = ReplayBatch(tensor_obs, torch.tensor([0, 3]), t([-1.0, 0.0]), tensor_obs, t([0.0, 1.0]), torch.ones(2),
                        torch.arange(2))  # fmt: skip
    assert learner.update(batch).td_errors.shape == (2,)
    assert learner.act(tensor_obs).shape == (2,)


def test_target_entropy_is_the_ratio_of_log_actions():
    learner = make_learner(target_entropy_ratio=0.98)
    assert learner.target_entropy == pytest.approx(0.98 * math.log(3))


# ---------------------------------------------------------------------------------------------------- refusals
def test_box_action_space_is_refused_in_one_line():
    box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    with pytest.raises(HrlkitError, match="Discrete action space") as err:
        SACDiscreteLearner(OBS_SPACE, box, SACDiscreteConfig())
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "overrides",
    [{"target_entropy_ratio": 1.2}, {"tau": 0.0}, {"target_update_interval": 0}, {"entropy_coef_init": 0.0}],
)
def test_bad_config_values_are_refused(overrides):
    with pytest.raises(HrlkitError):
        make_learner(**overrides)
