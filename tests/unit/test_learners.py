"""Flat learners: TD targets, Polyak averaging, SAC/TD3 losses worked by hand, network pieces, gradient isolation."""

from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Normal, TanhTransform

from hrlkit.errors import HrlkitError
from hrlkit.learners import DDPGConfig, SACConfig, SACLearner, TD3Config, TD3Learner
from hrlkit.learners.common import polyak_update, td_target
from hrlkit.nn import EnsembleLinear, QEnsemble, SquashedGaussianActor
from hrlkit.types import ReplayBatch

OBS_SPACE = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
ACT_SPACE = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

# One batch of three transitions used by the hand-worked critic targets below. The third one stands for a transition
# cut by a time limit: the replay stores it with terminated = 0, so it bootstraps like the first.
REWARDS = [1.0, -1.0, 0.5]
TERMINATED = [0.0, 1.0, 0.0]
TARGET_Q = [[2.0, 4.0, -1.0], [3.0, 1.0, -2.0]]  # Q'_1(s', a'), Q'_2(s', a'): min = [2, 1, -2]
NEXT_LOG_PROB = [-1.0, 0.4, 2.0]
NEXT_ACTIONS = [[0.1], [-0.2], [0.3]]
ONLINE_Q = (1.0, -1.0)  # the online critics are set to constants Q_1 = 1, Q_2 = -1
GAMMA = 0.9


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


def make_batch(batch_size: int = 3, seed: int = 0) -> ReplayBatch:
    g = torch.Generator().manual_seed(seed)
    return ReplayBatch(
        obs=torch.rand(batch_size, 2, generator=g) * 2 - 1,
        actions=torch.rand(batch_size, 1, generator=g) * 2 - 1,
        rewards=t(REWARDS) if batch_size == 3 else torch.randn(batch_size, generator=g),
        next_obs=torch.rand(batch_size, 2, generator=g) * 2 - 1,
        terminated=t(TERMINATED) if batch_size == 3 else (torch.rand(batch_size, generator=g) < 0.2).float(),
        weights=torch.ones(batch_size),
        indices=torch.arange(batch_size),
    )


def set_constant_q(critic: QEnsemble, values: tuple[float, ...]) -> None:
    """Zero every weight and put `values[j]` in critic j's output bias, so Q_j(s, a) = values[j] everywhere."""
    with torch.no_grad():
        for p in critic.parameters():
            p.zero_()
        last = critic.net[-1]
        assert isinstance(last, EnsembleLinear)
        last.bias[:, 0, 0] = t(values)


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# ----------------------------------------------------------------------------------------------------- common
def test_td_target_bootstraps_unless_terminated():
    # y = r + gamma (1 - terminated) V': [1 + 0.9 * 10, -1 + 0, 0.5 + 0.9 * -2]
    y = td_target(t(REWARDS), t(TERMINATED), t([10.0, 10.0, -2.0]), GAMMA)
    torch.testing.assert_close(y, t([10.0, -1.0, -1.3]))


def test_polyak_update_by_hand():
    online = [t([1.0, 2.0]), t([[10.0]])]
    target = [t([0.0, 4.0]), t([[-10.0]])]
    polyak_update(online, target, tau=0.1)
    # 0.9 * target + 0.1 * online
    torch.testing.assert_close(target[0], t([0.1, 3.8]))
    torch.testing.assert_close(target[1], t([[-8.0]]))
    torch.testing.assert_close(online[0], t([1.0, 2.0]))  # the online side is untouched


# ------------------------------------------------------------------------------------------- critic targets
def test_sac_critic_loss_by_hand(monkeypatch):
    learner = SACLearner(OBS_SPACE, ACT_SPACE, SACConfig(hidden=(4,), gamma=GAMMA))
    batch = make_batch()
    set_constant_q(learner.critic, ONLINE_Q)
    seen: dict[str, torch.Tensor] = {}

    def actor_forward(obs, deterministic=False):
        seen["actor_obs"] = obs
        return t(NEXT_ACTIONS), t(NEXT_LOG_PROB)

    def target_forward(obs, actions):
        seen["target_obs"], seen["target_actions"] = obs, actions
        return t(TARGET_Q)

    monkeypatch.setattr(learner.actor, "forward", actor_forward)
    monkeypatch.setattr(learner.critic_target, "forward", target_forward)
    loss, stats, td_errors = learner.critic_loss(batch, entropy_coef=t(0.5))

    # soft V' = min Q' - 0.5 log pi = [2 + 0.5, 1 - 0.2, -2 - 1.0] = [2.5, 0.8, -3.0]
    # y = [1 + 0.9 * 2.5, -1 (terminated), 0.5 + 0.9 * -3.0] = [3.25, -1.0, -2.2]
    # Q_1 = 1:  (Q - y)^2 = [5.0625, 4, 10.24]  -> mean 19.3025 / 3
    # Q_2 = -1: (Q - y)^2 = [18.0625, 0, 1.44]  -> mean 19.5025 / 3
    # loss = 0.5 * (19.3025 + 19.5025) / 3 = 6.4675
    assert loss.item() == pytest.approx(6.4675, rel=1e-6)
    assert stats["critic_loss"] == pytest.approx(6.4675, rel=1e-6)
    assert stats["q_mean"] == pytest.approx(0.0, abs=1e-7)
    # |Q - y| averaged over critics: [(2.25 + 4.25) / 2, (2 + 0) / 2, (3.2 + 1.2) / 2]
    torch.testing.assert_close(td_errors, t([3.25, 1.0, 2.2]))
    # The target is built from s' and the actor's a' ~ pi(.|s'), never from s.
    assert torch.equal(seen["actor_obs"], batch.next_obs)
    assert torch.equal(seen["target_obs"], batch.next_obs)
    assert torch.equal(seen["target_actions"], t(NEXT_ACTIONS))


def test_sac_critic_loss_weights_scale_each_sample(monkeypatch):
    learner = SACLearner(OBS_SPACE, ACT_SPACE, SACConfig(hidden=(4,), gamma=GAMMA))
    set_constant_q(learner.critic, ONLINE_Q)
    monkeypatch.setattr(learner.actor, "forward", lambda obs, deterministic=False: (t(NEXT_ACTIONS), t(NEXT_LOG_PROB)))
    monkeypatch.setattr(learner.critic_target, "forward", lambda obs, actions: t(TARGET_Q))
    batch = make_batch()._replace(weights=t([0.0, 1.0, 2.0]))
    loss, _, _ = learner.critic_loss(batch, entropy_coef=t(0.5))
    # squared errors as above, weighted: Q_1 (0 + 4 + 20.48) / 3, Q_2 (0 + 0 + 2.88) / 3; loss = 0.5 * 27.36 / 3
    assert loss.item() == pytest.approx(4.56, rel=1e-6)


def test_td3_critic_loss_by_hand(monkeypatch):
    learner = TD3Learner(OBS_SPACE, ACT_SPACE, TD3Config(hidden=(4,), gamma=GAMMA, target_noise=0.0))
    batch = make_batch()
    set_constant_q(learner.critic, ONLINE_Q)
    seen: dict[str, torch.Tensor] = {}

    def actor_target_forward(obs):
        seen["actor_obs"] = obs
        return t(NEXT_ACTIONS)

    def target_forward(obs, actions):
        seen["target_actions"] = actions
        return t(TARGET_Q)

    monkeypatch.setattr(learner.actor_target, "forward", actor_target_forward)
    monkeypatch.setattr(learner.critic_target, "forward", target_forward)
    loss, stats, _ = learner.critic_loss(batch)

    # y = r + 0.9 (1 - d) min Q' = [1 + 1.8, -1, 0.5 - 1.8] = [2.8, -1.0, -1.3] (no entropy term)
    # Q_1 = 1:  (Q - y)^2 = [3.24, 4, 5.29]   -> 12.53 / 3
    # Q_2 = -1: (Q - y)^2 = [14.44, 0, 0.09]  -> 14.53 / 3
    # loss = sum of the MSEs (no 0.5) = 27.06 / 3 = 9.02
    assert loss.item() == pytest.approx(9.02, rel=1e-6)
    assert stats["critic_loss"] == pytest.approx(9.02, rel=1e-6)
    assert torch.equal(seen["actor_obs"], batch.next_obs)
    assert torch.equal(seen["target_actions"], t(NEXT_ACTIONS))  # target_noise = 0: a' = mu'(s') exactly


def test_td3_target_noise_is_clipped(monkeypatch):
    cfg = TD3Config(hidden=(4,), target_noise=10.0, target_noise_clip=0.5)
    learner = TD3Learner(OBS_SPACE, ACT_SPACE, cfg)
    seen: dict[str, torch.Tensor] = {}
    monkeypatch.setattr(learner.actor_target, "forward", lambda obs: torch.full((obs.shape[0], 1), 0.9))

    def target_forward(obs, actions):
        seen["actions"] = actions
        return torch.zeros(2, obs.shape[0])

    monkeypatch.setattr(learner.critic_target, "forward", target_forward)
    torch.manual_seed(0)
    learner.critic_loss(make_batch(batch_size=256))
    a = seen["actions"]
    # noise ~ N(0, 10^2) clipped to [-0.5, 0.5], then a' = clip(0.9 + noise, -1, 1): values in [0.4, 1]
    assert a.min().item() == pytest.approx(0.4) and a.max().item() == pytest.approx(1.0)
    assert ((a - 0.4).abs() < 1e-6).sum() > 50  # most draws hit the noise clip
    assert ((a > 0.41) & (a < 0.99)).any()


# ------------------------------------------------------------------------------------------- entropy coefficient
@pytest.mark.parametrize(
    ("log_prob", "direction"),
    [
        ([2.0, 3.0], +1),  # entropy -log pi = -2.5 is below the target -1: raise the coefficient
        ([-1.0, 0.0], -1),  # entropy 0.5 is above the target -1: lower it
    ],
)
def test_entropy_coef_loss_sign(log_prob, direction):
    learner = SACLearner(OBS_SPACE, ACT_SPACE, SACConfig(hidden=(4,), entropy_coef_init=2.0, entropy_lr=0.01))
    assert learner.target_entropy == -1.0  # -dim(actions)
    before = learner.log_entropy_coef.item()
    loss = learner.entropy_coef_loss(t(log_prob))
    # loss = -log(2) * mean(log_prob - 1) = -log(2) * 1.5 * direction; d loss / d log_alpha = -1.5 * direction
    assert loss.item() == pytest.approx(-math.log(2.0) * 1.5 * direction, rel=1e-6)
    opt = learner.optimizers["entropy_coef"]
    opt.zero_grad()
    loss.backward()
    assert learner.log_entropy_coef.grad.item() == pytest.approx(-1.5 * direction)
    opt.step()
    after = learner.log_entropy_coef.item()
    assert (after - before) * direction > 0
    assert after - before == pytest.approx(0.01 * direction, rel=1e-3)  # Adam's first step moves by lr


def test_fixed_entropy_coef_has_no_optimizer():
    learner = SACLearner(OBS_SPACE, ACT_SPACE, SACConfig(hidden=(4,), entropy_coef_init=0.2, learn_entropy_coef=False))
    assert "entropy_coef" not in learner.optimizers
    stats = learner.update(make_batch(8)).stats
    assert stats["entropy_coef"] == pytest.approx(0.2)
    assert learner.entropy_coef.item() == pytest.approx(0.2)


# --------------------------------------------------------------------------------------------------- networks
def test_squashed_gaussian_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    actor = SquashedGaussianActor(5, 3, hidden=(16, 16))
    obs = torch.randn(64, 5) * 3
    torch.manual_seed(1)
    actions, log_prob = actor(obs)
    # Replay the same noise to recover the pre-squash sample u.
    mean, log_std = actor.dist_params(obs)
    torch.manual_seed(1)
    u = mean + log_std.exp() * torch.randn_like(mean)
    reference = Normal(mean, log_std.exp()).log_prob(u).sum(-1) - TanhTransform().log_abs_det_jacobian(
        u, torch.tanh(u)
    ).sum(-1)
    torch.testing.assert_close(actions, torch.tanh(u))
    torch.testing.assert_close(log_prob, reference, atol=1e-4, rtol=0)
    # An independent check in float64 with the naive log(1 - tanh^2) where it is still accurate.
    u64, mean64, std64 = u.double(), mean.double(), log_std.exp().double()
    naive = (Normal(mean64, std64).log_prob(u64) - torch.log1p(-(torch.tanh(u64) ** 2))).sum(-1)
    ok = (u64.abs() < 5).all(-1)
    assert ok.sum() > 10
    torch.testing.assert_close(log_prob.double()[ok], naive[ok], atol=1e-4, rtol=0)


def test_squashed_gaussian_deterministic_is_tanh_of_mean():
    torch.manual_seed(0)
    actor = SquashedGaussianActor(5, 2, hidden=(8,))
    obs = torch.randn(4, 5)
    actions, log_prob = actor(obs, deterministic=True)
    mean, log_std = actor.dist_params(obs)
    torch.testing.assert_close(actions, torch.tanh(mean))
    # at u = mean the Gaussian term is -log(std) - 0.5 log(2 pi) per dimension
    expected = (-log_std - 0.5 * math.log(2 * math.pi) - torch.log1p(-(torch.tanh(mean) ** 2))).sum(-1)
    torch.testing.assert_close(log_prob, expected, atol=1e-4, rtol=0)


def test_q_ensemble_equals_separate_mlps():
    torch.manual_seed(0)
    ens = QEnsemble(obs_dim=3, act_dim=2, hidden=(6, 4), n_critics=2)
    layers = [m for m in ens.net if isinstance(m, EnsembleLinear)]
    assert [tuple(m.weight.shape) for m in layers] == [(2, 5, 6), (2, 6, 4), (2, 4, 1)]
    obs, actions = torch.randn(7, 3), torch.randn(7, 2)
    out = ens(obs, actions)
    assert out.shape == (2, 7)
    for j in range(2):
        linears = [nn.Linear(m.weight.shape[1], m.weight.shape[2]) for m in layers]
        with torch.no_grad():
            for lin, m in zip(linears, layers, strict=True):
                lin.weight.copy_(m.weight[j].T)  # nn.Linear stores (out, in)
                lin.bias.copy_(m.bias[j, 0])
        plain = nn.Sequential(linears[0], nn.ReLU(), linears[1], nn.ReLU(), linears[2])
        torch.testing.assert_close(out[j], plain(torch.cat([obs, actions], -1)).squeeze(-1))
    # The members are initialised independently, each like nn.Linear: U(-1/sqrt(in), 1/sqrt(in)).
    assert not torch.equal(layers[0].weight[0], layers[0].weight[1])
    for m in layers:
        assert m.weight.abs().max() <= 1 / math.sqrt(m.weight.shape[1])


# ------------------------------------------------------------------------------------------ gradient isolation
def test_sac_actor_loss_leaves_critic_grads_untouched():
    torch.manual_seed(0)
    learner = SACLearner(OBS_SPACE, ACT_SPACE, SACConfig(hidden=(8,)))
    obs = learner.flatten(make_batch(16).obs)
    actions_pi, log_prob = learner.actor(obs)
    loss, _ = learner.actor_loss(obs, actions_pi, log_prob, learner.entropy_coef)
    loss.backward(inputs=list(learner.actor.parameters()))
    assert all(p.grad is None for p in learner.critic.parameters())
    assert all(p.grad is None for p in learner.critic_target.parameters())
    assert learner.log_entropy_coef.grad is None
    assert all(p.grad is not None for p in learner.actor.parameters())
    assert any(p.grad.abs().sum() > 0 for p in learner.actor.parameters())


def test_td3_actor_loss_leaves_critic_grads_untouched():
    torch.manual_seed(0)
    learner = TD3Learner(OBS_SPACE, ACT_SPACE, TD3Config(hidden=(8,)))
    loss, _ = learner.actor_loss(learner.flatten(make_batch(16).obs))
    loss.backward(inputs=list(learner.actor.parameters()))
    assert all(p.grad is None for p in learner.critic.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.actor.parameters())


def test_td3_action_l2_adds_the_mean_squared_action_to_the_actor_loss():
    torch.manual_seed(0)
    learner = TD3Learner(OBS_SPACE, ACT_SPACE, TD3Config(hidden=(8,), action_l2=0.5))
    set_constant_q(learner.critic, ONLINE_Q)  # Q_1 = 1 everywhere, so the loss is -1 + 0.5 mean mu(s)^2
    obs = learner.flatten(make_batch(16).obs)
    loss, _ = learner.actor_loss(obs)
    mu = learner.actor(obs).detach()
    assert loss.item() == pytest.approx(-1.0 + 0.5 * float((mu**2).mean()), abs=1e-6)
    assert float((mu**2).mean()) > 1e-4  # the penalty is not vacuous


def test_td3_random_actions_replace_whole_rows_with_the_given_probability():
    torch.manual_seed(0)
    obs = torch.rand(4000, 2) * 2 - 1
    plain = TD3Learner(OBS_SPACE, gym.spaces.Box(-1.0, 1.0, (3,), np.float32), TD3Config(hidden=(8,)))
    mu = plain.act(obs, deterministic=True)
    cfg = TD3Config(hidden=(8,), exploration_noise=0.0, random_action_prob=0.3)
    learner = TD3Learner(OBS_SPACE, plain.action_space, cfg)
    learner.load_state_dict(plain.state_dict())
    actions = learner.act(obs)
    replaced = (actions != mu).any(1)  # (4000,)
    assert ((actions != mu).all(1) == replaced).all()  # a row is replaced whole or not at all
    assert replaced.float().mean().item() == pytest.approx(0.3, abs=0.03)
    uniform = actions[replaced]
    assert uniform.min() >= -1 and uniform.max() <= 1 and uniform.mean().abs() < 0.05 and uniform.std() > 0.5
    assert torch.equal(learner.act(obs, deterministic=True), mu)  # evaluation never explores


def test_td3_without_random_actions_draws_nothing_more():
    """At random_action_prob 0 (the default) `act` draws only the Gaussian noise, so runs saved before the field
    existed resume on the same random numbers."""
    learner = TD3Learner(OBS_SPACE, ACT_SPACE, TD3Config(hidden=(8,), exploration_noise=0.1))
    obs = torch.zeros(5, 2)
    torch.manual_seed(1)
    learner.act(obs)
    after_act = torch.rand(1)
    torch.manual_seed(1)
    torch.randn(5, 1)
    assert torch.equal(torch.rand(1), after_act)


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_update_leaves_only_the_critic_loss_gradient_on_the_critic(algo):
    # After update() the critic's .grad must be d critic_loss / d critic alone: the actor's backward adds nothing.
    torch.manual_seed(0)
    if algo == "sac":
        learner = SACLearner(OBS_SPACE, ACT_SPACE, SACConfig(hidden=(8,)))
    else:
        learner = TD3Learner(OBS_SPACE, ACT_SPACE, TD3Config(hidden=(8,), policy_delay=1, target_noise=0.0))
    reference = copy.deepcopy(learner)
    batch = make_batch(16)
    torch.manual_seed(1)
    stats = learner.update(batch).stats
    assert "actor_loss" in stats
    torch.manual_seed(1)
    if algo == "sac":
        reference.actor(reference.flatten(batch.obs))  # the update samples a~ ~ pi(.|s) first: same random draws
        loss, _, _ = reference.critic_loss(batch, reference.entropy_coef)
    else:
        loss, _, _ = reference.critic_loss(batch)
    loss.backward()
    for p, q in zip(learner.critic.parameters(), reference.critic.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad)


def test_td3_policy_delay():
    torch.manual_seed(0)
    learner = TD3Learner(OBS_SPACE, ACT_SPACE, TD3Config(hidden=(8,), policy_delay=2, tau=0.1))
    batch = make_batch(16)
    actor0, actor_target0, critic_target0 = (
        params(learner.actor),
        params(learner.actor_target),
        params(learner.critic_target),
    )
    critic0 = params(learner.critic)

    stats = learner.update(batch).stats  # critic step only
    assert "actor_loss" not in stats
    assert not same(params(learner.critic), critic0)
    assert same(params(learner.actor), actor0)
    assert same(params(learner.actor_target), actor_target0)
    assert same(params(learner.critic_target), critic_target0)

    stats = learner.update(batch).stats  # critic step, actor step, then Polyak on all targets
    assert "actor_loss" in stats
    actor2 = params(learner.actor)
    assert not same(actor2, actor0)
    for new_target, old_target, online in zip(params(learner.actor_target), actor_target0, actor2, strict=True):
        torch.testing.assert_close(new_target, 0.9 * old_target + 0.1 * online)
    for new_target, old_target, online in zip(
        params(learner.critic_target), critic_target0, params(learner.critic), strict=True
    ):
        torch.testing.assert_close(new_target, 0.9 * old_target + 0.1 * online)


def test_sac_update_moves_every_part_and_polyaks_the_critic():
    torch.manual_seed(0)
    learner = SACLearner(OBS_SPACE, ACT_SPACE, SACConfig(hidden=(8,), tau=0.1))
    actor0, critic0, target0 = params(learner.actor), params(learner.critic), params(learner.critic_target)
    log_alpha0 = learner.log_entropy_coef.item()
    stats = learner.update(make_batch(16)).stats
    assert {"critic_loss", "actor_loss", "entropy_coef", "entropy_coef_loss", "q_mean"} <= set(stats)
    assert stats["entropy_coef"] == pytest.approx(1.0)  # the coefficient before this step's update
    assert learner.log_entropy_coef.item() != log_alpha0
    assert not same(params(learner.actor), actor0)
    critic1 = params(learner.critic)
    assert not same(critic1, critic0)
    for new_target, old_target, online in zip(params(learner.critic_target), target0, critic1, strict=True):
        torch.testing.assert_close(new_target, 0.9 * old_target + 0.1 * online)
    assert learner.n_updates == 1


# ----------------------------------------------------------------------------------------------- construction
def test_ddpg_config_builds_one_critic_without_target_noise(monkeypatch):
    torch.manual_seed(0)
    learner = TD3Learner(OBS_SPACE, ACT_SPACE, DDPGConfig(hidden=(8,)))
    assert learner.critic.n_critics == 1 and learner.critic_target.n_critics == 1
    assert learner.config.target_noise == 0.0 and learner.config.policy_delay == 1
    batch = make_batch(16)
    assert learner.critic(learner.flatten(batch.obs), batch.actions).shape == (1, 16)
    seen: dict[str, torch.Tensor] = {}
    mu = learner.actor_target(batch.next_obs)

    def target_forward(obs, actions):
        seen["actions"] = actions
        return torch.zeros(1, obs.shape[0])

    monkeypatch.setattr(learner.critic_target, "forward", target_forward)
    learner.critic_loss(batch)
    assert torch.equal(seen["actions"], mu)  # no smoothing noise on the target action
    monkeypatch.undo()
    actor0 = params(learner.actor)
    assert "actor_loss" in learner.update(batch).stats  # the actor moves on every update
    assert not same(params(learner.actor), actor0)


@pytest.mark.parametrize(
    "make",
    [
        lambda s: SACLearner(OBS_SPACE, s, SACConfig(hidden=(4,))),
        lambda s: TD3Learner(OBS_SPACE, s, TD3Config(hidden=(4,))),
    ],
)
def test_learner_refuses_discrete_actions(make):
    with pytest.raises(HrlkitError, match="Box action space"):
        make(gym.spaces.Discrete(3))


def test_sac_act_is_in_unit_box_and_deterministic_repeats():
    torch.manual_seed(0)
    learner = SACLearner(OBS_SPACE, ACT_SPACE, SACConfig(hidden=(8,)))
    obs = make_batch(32).obs * 100  # large inputs push tanh to its limits
    a = learner.act(obs)
    assert a.shape == (32, 1) and a.abs().max() <= 1.0
    assert torch.equal(learner.act(obs, deterministic=True), learner.act(obs, deterministic=True))
    assert not a.requires_grad


def test_state_dict_holds_online_target_and_entropy_weights():
    # Checkpoints save `learner.state_dict()` alone: it must carry the targets and SAC's entropy coefficient.
    td3 = TD3Learner(OBS_SPACE, ACT_SPACE, TD3Config(hidden=(4,)))
    assert {"actor", "actor_target", "critic", "critic_target"} <= {k.split(".")[0] for k in td3.state_dict()}
    sac = SACLearner(OBS_SPACE, ACT_SPACE, SACConfig(hidden=(4,), entropy_coef_init=0.3))
    state = sac.state_dict()
    assert {"actor", "critic", "critic_target", "log_entropy_coef"} <= {k.split(".")[0] for k in state}
    assert state["log_entropy_coef"].item() == pytest.approx(math.log(0.3))


def test_obs_flattener_one_hot_for_discrete_observations():
    from hrlkit.nn import ObsFlattener

    flat = ObsFlattener(gym.spaces.Discrete(4, start=1))
    out = flat(torch.tensor([1, 4, 2]))
    assert flat.dim == 4
    assert torch.equal(out, torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]]))
