"""On-policy learners: PPO's clipped losses by hand, conjugate gradient, the Fisher-vector product against an explicit
Fisher matrix, TRPO's trust region and line search, NPG's step size, gradient isolation, the ActorCritic network."""

from __future__ import annotations

import dataclasses
import math
import typing

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Normal, kl_divergence

from hrlkit.config import field_docs
from hrlkit.errors import HrlkitError
from hrlkit.learners.on_policy import OnPolicyConfig, fit_value_function, minibatches
from hrlkit.learners.ppo import PPOConfig, PPOLearner, clipped_surrogate_loss, clipped_value_loss
from hrlkit.learners.trpo import (
    NPGConfig,
    NPGLearner,
    TRPOConfig,
    TRPOLearner,
    conjugate_gradient,
    fisher_vector_product,
    flat_grad,
)
from hrlkit.learners.vpg import VPGConfig, VPGLearner
from hrlkit.nn import ActorCritic, PolicyParams
from hrlkit.types import RolloutBatch

OBS_SPACE = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
BOX_ACTIONS = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
DISCRETE_ACTIONS = gym.spaces.Discrete(3)
ACTION_SPACES = {"box": BOX_ACTIONS, "discrete": DISCRETE_ACTIONS}


@pytest.fixture(autouse=True)
def _seed_one_thread():
    # One thread: these tiny networks gain nothing from more, and the test machine is shared.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


def rollout(policy: ActorCritic, n: int = 64, advantages: torch.Tensor | None = None) -> RolloutBatch:
    """A rollout collected by `policy` on random observations, with random (or given) advantages."""
    obs = torch.rand(n, 3) * 2 - 1
    with torch.no_grad():
        actions, values, log_probs = policy(obs)
    adv = torch.randn(n) if advantages is None else advantages
    return RolloutBatch(obs, actions, values, log_probs, adv, adv + values)


def flat_params(params) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params])


# ---------------------------------------------------------------------------------------------------- PPO by hand
def test_clipped_surrogate_by_hand() -> None:
    # Ratios r = 0.5, 1.0, 1.5 with A = +1, and 0.5, 1.5 with A = -1; clip range 0.2 -> clip(r) in [0.8, 1.2].
    ratios = [0.5, 1.0, 1.5, 0.5, 1.5]
    adv = [1.0, 1.0, 1.0, -1.0, -1.0]
    # min(r A, clip(r) A) per row: min(0.5, 0.8) = 0.5, 1.0, min(1.5, 1.2) = 1.2, min(-0.5, -0.8) = -0.8,
    # min(-1.5, -1.2) = -1.5. Sum 0.4, mean 0.08; the loss is its negative.
    log_probs = t([math.log(r) for r in ratios]).requires_grad_()
    loss, clip_fraction, approx_kl = clipped_surrogate_loss(log_probs, torch.zeros(5), t(adv), 0.2)
    assert loss.item() == pytest.approx(-0.08, abs=1e-6)
    assert clip_fraction.item() == pytest.approx(0.8)  # every |r - 1| > 0.2 except r = 1
    expected_kl = sum((r - 1) - math.log(r) for r in ratios) / 5
    assert approx_kl.item() == pytest.approx(expected_kl, rel=1e-5)
    # Only the rows where the unclipped term is the min carry gradient: d(-r A / 5) / d log r = -r A / 5.
    loss.backward()
    assert log_probs.grad is not None
    np.testing.assert_allclose(log_probs.grad.numpy(), [-0.1, -0.2, 0.0, 0.0, 0.3], atol=1e-6)


def test_clipped_value_loss_by_hand() -> None:
    values, old_values, returns = t([1.0, 2.0, 0.0]), t([0.5, 1.0, 0.0]), t([2.0, 0.0, 1.0])
    # Clipped to old +- 0.2: [0.7, 1.2, 0.0] -> errors 1.3^2 = 1.69, 1.2^2 = 1.44, 1.0 -> mean 4.13 / 3.
    assert clipped_value_loss(values, old_values, returns, 0.2).item() == pytest.approx(4.13 / 3, rel=1e-6)
    # Unclipped: 1, 4, 1 -> mean 2.
    assert clipped_value_loss(values, old_values, returns, None).item() == pytest.approx(2.0)


def test_ppo_minibatch_loss_combines_the_parts() -> None:
    cfg = PPOConfig(hidden=(8,), normalize_advantage=False, ent_coef=0.01, vf_coef=0.5, clip_range_vf=0.1)
    learner = PPOLearner(OBS_SPACE, BOX_ACTIONS, cfg)
    batch = rollout(learner.policy, 16)
    batch = batch._replace(log_probs=batch.log_probs + 0.3 * torch.randn(16), values=batch.values + 0.5)
    loss, info = learner.minibatch_loss(batch)
    with torch.no_grad():
        values, log_probs, entropy = learner.policy.evaluate_actions(batch.obs, batch.actions)
        pg, _, _ = clipped_surrogate_loss(log_probs, batch.log_probs, batch.advantages, 0.2)
        vf = clipped_value_loss(values, batch.values, batch.returns, 0.1)
    assert info["policy_gradient_loss"].item() == pytest.approx(pg.item(), rel=1e-5)
    assert info["value_loss"].item() == pytest.approx(vf.item(), rel=1e-5)
    assert loss.item() == pytest.approx((pg - 0.01 * entropy.mean() + 0.5 * vf).item(), rel=1e-5)


def test_ppo_target_kl_stops_before_the_step_that_crosses_it() -> None:
    cfg = PPOConfig(hidden=(8,), learning_rate=1e-2, batch_size=8, n_epochs=4, target_kl=1e-6)
    learner = PPOLearner(OBS_SPACE, BOX_ACTIONS, cfg)
    stats = learner.update(rollout(learner.policy, 32)).stats
    # The first minibatch is at the collecting policy (approx_kl 0), so it steps; the second sees a moved policy.
    assert learner.n_updates == 1
    assert stats["epochs_completed"] == 0.0


def test_ppo_set_progress_anneals_the_learning_rate() -> None:
    learner = PPOLearner(OBS_SPACE, BOX_ACTIONS, PPOConfig(hidden=(8,), anneal_lr=True))
    learner.set_progress(0.25)
    assert learner.optimizers["policy"].param_groups[0]["lr"] == pytest.approx(0.75e-4)
    assert learner.optimizers["policy"].param_groups[0]["eps"] == 1e-5
    fixed = PPOLearner(OBS_SPACE, BOX_ACTIONS, PPOConfig(hidden=(8,)))
    fixed.set_progress(0.25)
    assert fixed.optimizers["policy"].param_groups[0]["lr"] == pytest.approx(3e-4)


def test_minibatches_cover_a_permutation() -> None:
    chunks = list(minibatches(10, 4, torch.device("cpu")))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert sorted(torch.cat(chunks).tolist()) == list(range(10))
    assert [len(c) for c in minibatches(10, None, torch.device("cpu"))] == [10]


# ------------------------------------------------------------------------------------ conjugate gradient and Fisher
def test_conjugate_gradient_solves_an_spd_system() -> None:
    g = torch.Generator().manual_seed(1)
    m = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    # In exact arithmetic CG converges in at most n = 6 steps; a few more absorb rounding.
    x = conjugate_gradient(lambda v: a @ v, b, max_steps=20)
    torch.testing.assert_close(x, torch.linalg.solve(a, b), rtol=1e-8, atol=1e-8)
    # Two steps are not enough for this system, but the residual already falls.
    x2 = conjugate_gradient(lambda v: a @ v, b, max_steps=2)
    assert 0 < (a @ x2 - b).norm() < b.norm()
    # b = 0 stops before dividing 0 by 0.
    assert torch.equal(
        conjugate_gradient(lambda v: a @ v, torch.zeros(6, dtype=torch.float64), 5), torch.zeros(6, dtype=torch.float64)
    )


def explicit_fisher(policy: ActorCritic, obs: torch.Tensor) -> torch.Tensor:
    """The Fisher matrix of pi averaged over `obs`, from first-order Jacobians only (no double backprop).

    Categorical: F = mean_s sum_a p(a|s) grad log p(a|s) grad log p(a|s)^T (the score's covariance).
    Diagonal Gaussian in (mean, log_std) coordinates: the Fisher is diag(1 / std^2) for the mean and 2 for each
    log_std, so F = mean_s J_mean^T diag(1 / std^2) J_mean + 2 J_logstd^T J_logstd.
    """
    params = policy.policy_parameters()
    pi = policy.pi_params(obs)
    n_params = sum(p.numel() for p in params)
    fisher = torch.zeros(n_params, n_params, dtype=obs.dtype)
    for i in range(obs.shape[0]):
        rows = [flat_grad(pi.loc[i, k], params, retain_graph=True) for k in range(pi.loc.shape[1])]
        jac = torch.stack(rows)  # (k, P): d log p(a|s_i) / d theta, or d mean / d theta
        if pi.log_std is None:
            probs = pi.loc[i].detach().exp()
            fisher += jac.T @ (probs[:, None] * jac)
        else:
            inv_var = torch.exp(-2 * pi.log_std.detach())
            fisher += jac.T @ (inv_var[:, None] * jac)
    if pi.log_std is not None:
        jac_ls = torch.stack([flat_grad(pi.log_std[k], params, retain_graph=True) for k in range(len(pi.log_std))])
        fisher += obs.shape[0] * 2.0 * jac_ls.T @ jac_ls
    return fisher / obs.shape[0]


@pytest.mark.parametrize("kind", ["box", "discrete"])
def test_fisher_vector_product_equals_the_explicit_fisher(kind: str) -> None:
    policy = ActorCritic(OBS_SPACE, ACTION_SPACES[kind], hidden=(4,), ortho_init=False)
    with torch.no_grad():  # a non-trivial log-std, so that 1 / std^2 differs per dimension
        if policy.log_std is not None:
            policy.log_std.copy_(torch.tensor([-0.3, 0.4]))
    obs = torch.rand(5, 3) * 2 - 1
    params = policy.policy_parameters()
    pi = policy.pi_params(obs)
    old = PolicyParams(pi.loc.detach(), None if pi.log_std is None else pi.log_std.detach())
    kl_grad = flat_grad(policy.kl(old, pi).mean(), params, create_graph=True)
    fisher = explicit_fisher(policy, obs)
    v = torch.randn(fisher.shape[0])
    torch.testing.assert_close(fisher_vector_product(kl_grad, params, v), fisher @ v, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(
        fisher_vector_product(kl_grad, params, v, 0.1), fisher @ v + 0.1 * v, rtol=1e-4, atol=1e-6
    )


# ------------------------------------------------------------------------------------------------- TRPO and NPG
def pi_snapshot(policy: ActorCritic, obs: torch.Tensor) -> PolicyParams:
    with torch.no_grad():
        pi = policy.pi_params(obs)
        return PolicyParams(pi.loc.clone(), None if pi.log_std is None else pi.log_std.clone())


def mean_kl(policy: ActorCritic, old: PolicyParams, obs: torch.Tensor) -> float:
    with torch.no_grad():
        return policy.kl(old, policy.pi_params(obs)).mean().item()


@pytest.mark.parametrize("target_kl", [0.01, 2.0])
@pytest.mark.parametrize("kind", ["box", "discrete"])
def test_trpo_accepted_step_respects_the_kl_limit(kind: str, target_kl: float) -> None:
    cfg = TRPOConfig(hidden=(16,), target_kl=target_kl, n_critic_updates=0)
    learner = TRPOLearner(OBS_SPACE, ACTION_SPACES[kind], cfg)
    batch = rollout(learner.policy, 128)
    old = pi_snapshot(learner.policy, batch.obs)
    stats = learner.update(batch).stats
    assert stats["is_line_search_success"] == 1.0
    if kind == "box" and target_kl == 2.0:
        # Far outside the quadratic model the full step overshoots the KL limit; the line search must shrink it.
        assert stats["line_search_iterations"] > 1
    assert stats["policy_objective_improvement"] > 0
    kl = mean_kl(learner.policy, old, batch.obs)
    assert 0 < kl <= cfg.target_kl * (1 + 1e-4)
    assert stats["kl_divergence_loss"] == pytest.approx(kl, rel=1e-4)


def test_trpo_line_search_restores_the_parameters_when_no_step_improves(monkeypatch: pytest.MonkeyPatch) -> None:
    learner = TRPOLearner(OBS_SPACE, BOX_ACTIONS, TRPOConfig(hidden=(16,), n_critic_updates=1))
    surrogate = learner.surrogate

    # The line search evaluates candidates without gradients: report every candidate as worse than theta_old.
    def worse(params, batch, advantages):
        value = surrogate(params, batch, advantages)
        return value if torch.is_grad_enabled() else value - 1.0

    monkeypatch.setattr(learner, "surrogate", worse)
    before = flat_params(learner.policy.policy_parameters())
    stats = learner.update(rollout(learner.policy, 64)).stats
    assert torch.equal(flat_params(learner.policy.policy_parameters()), before)
    assert stats["is_line_search_success"] == 0.0
    assert stats["line_search_iterations"] == 10.0
    assert stats["step_size"] == 0.0
    assert stats["kl_divergence_loss"] == 0.0


@pytest.mark.parametrize("kind", ["box", "discrete"])
def test_npg_step_has_the_target_kl(kind: str) -> None:
    # Small damping so that the step is sized by the Fisher itself; a small radius so the quadratic model holds.
    cfg = NPGConfig(hidden=(16,), target_kl=1e-3, cg_damping=1e-3, cg_max_steps=30, n_critic_updates=0)
    learner = NPGLearner(OBS_SPACE, ACTION_SPACES[kind], cfg)
    batch = rollout(learner.policy, 128)
    old = pi_snapshot(learner.policy, batch.obs)
    stats = learner.update(batch).stats
    assert "is_line_search_success" not in stats
    kl = mean_kl(learner.policy, old, batch.obs)
    assert 0.5 * cfg.target_kl < kl < 2.0 * cfg.target_kl


def test_zero_advantages_leave_the_policy_unchanged() -> None:
    learner = NPGLearner(OBS_SPACE, BOX_ACTIONS, NPGConfig(hidden=(8,), normalize_advantage=False, n_critic_updates=0))
    before = flat_params(learner.policy.policy_parameters())
    stats = learner.update(rollout(learner.policy, 16, advantages=torch.zeros(16))).stats
    assert torch.equal(flat_params(learner.policy.policy_parameters()), before)
    assert stats["step_size"] == 0.0


# -------------------------------------------------------------------------------------------- gradient isolation
ISOLATED = [
    (TRPOLearner, TRPOConfig(hidden=(8,), n_critic_updates=0)),
    (NPGLearner, NPGConfig(hidden=(8,), n_critic_updates=0)),
    (VPGLearner, VPGConfig(hidden=(8,), value_epochs=0)),
]


@pytest.mark.parametrize(("learner_cls", "cfg"), ISOLATED, ids=["trpo", "npg", "vpg"])
def test_policy_step_leaves_the_value_function_unchanged(learner_cls, cfg) -> None:
    learner = learner_cls(OBS_SPACE, BOX_ACTIONS, cfg)
    value_before = flat_params(learner.policy.value_parameters())
    policy_before = flat_params(learner.policy.policy_parameters())
    learner.update(rollout(learner.policy, 32))
    assert torch.equal(flat_params(learner.policy.value_parameters()), value_before)
    assert not torch.equal(flat_params(learner.policy.policy_parameters()), policy_before)


@pytest.mark.parametrize("shared", [False, True])
def test_value_fit_leaves_the_policy_unchanged(shared: bool) -> None:
    learner = TRPOLearner(OBS_SPACE, BOX_ACTIONS, TRPOConfig(hidden=(8,), shared_encoder=shared))
    batch = rollout(learner.policy, 32)
    policy_before = flat_params(learner.policy.policy_parameters())
    value_before = flat_params(learner.policy.value_parameters())
    fit_value_function(learner.policy, learner.optimizers["value"], batch, epochs=2, batch_size=16)
    assert torch.equal(flat_params(learner.policy.policy_parameters()), policy_before)
    assert all(p.grad is None for p in learner.policy.policy_parameters())  # not even computed
    assert not torch.equal(flat_params(learner.policy.value_parameters()), value_before)


# ------------------------------------------------------------------------------- every learner follows advantages
LEARNERS = {
    "ppo": (PPOLearner, PPOConfig(hidden=(8,), batch_size=16, n_epochs=2)),
    "vpg": (VPGLearner, VPGConfig(hidden=(8,), value_epochs=2)),
    "trpo": (TRPOLearner, TRPOConfig(hidden=(8,), n_critic_updates=1)),
    "npg": (NPGLearner, NPGConfig(hidden=(8,), n_critic_updates=1)),
}


@pytest.mark.parametrize("kind", ["box", "discrete"])
@pytest.mark.parametrize("name", list(LEARNERS))
def test_update_raises_the_log_prob_of_positive_advantage_actions(name: str, kind: str) -> None:
    learner_cls, cfg = LEARNERS[name]
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32) if kind == "box" else gym.spaces.Discrete(2)
    learner = learner_cls(OBS_SPACE, action_space, cfg)
    # Half the rows took a "good" action (+0.5, or action 0) with advantage +1, half a "bad" one with -1.
    n = 32
    good = torch.arange(n) % 2 == 0
    obs = torch.rand(n, 3) * 2 - 1
    actions = torch.where(good, 0.5, -0.5)[:, None] if kind == "box" else torch.where(good, 0, 1)
    with torch.no_grad():
        values, log_probs, _ = learner.policy.evaluate_actions(obs, actions)
    advantages = torch.where(good, 1.0, -1.0)
    learner.update(RolloutBatch(obs, actions, values, log_probs, advantages, advantages + values))
    with torch.no_grad():
        _, new_log_probs, _ = learner.policy.evaluate_actions(obs, actions)
    change = new_log_probs - log_probs  # (n,)
    assert change[good].mean() > 0
    assert change[good].mean() > change[~good].mean()


@pytest.mark.parametrize("name", list(LEARNERS))
def test_act_clips_box_actions(name: str) -> None:
    learner_cls, cfg = LEARNERS[name]
    learner = learner_cls(OBS_SPACE, BOX_ACTIONS, dataclasses.replace(cfg, log_std_init=2.0))
    actions = learner.act(torch.rand(256, 3))
    assert actions.shape == (256, 2) and actions.abs().max() <= 1.0
    assert (actions.abs() == 1.0).any()  # std e^2: many samples fall outside and are clipped


# ----------------------------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("cfg_cls", [OnPolicyConfig, PPOConfig, VPGConfig, NPGConfig, TRPOConfig])
def test_config_defaults_match_annotations_and_have_help(cfg_cls) -> None:
    hints = typing.get_type_hints(cfg_cls)
    docs = field_docs(cfg_cls)
    for f in dataclasses.fields(cfg_cls):
        value = getattr(cfg_cls(), f.name)
        if hints[f.name] in (int, float, bool, str):
            assert type(value) is hints[f.name], f.name
        assert docs.get(f.name), f"{cfg_cls.__name__}.{f.name} has no help string"


def test_reference_defaults() -> None:
    ppo, vpg, trpo = PPOConfig(), VPGConfig(), TRPOConfig()
    assert (ppo.n_steps, ppo.batch_size, ppo.n_epochs, ppo.gae_lambda, ppo.clip_range) == (2048, 64, 10, 0.95, 0.2)
    assert (vpg.n_steps, vpg.gae_lambda, vpg.pi_lr, vpg.vf_lr, vpg.value_epochs) == (4000, 0.97, 3e-4, 1e-3, 80)
    assert (trpo.batch_size, trpo.cg_max_steps, trpo.cg_damping, trpo.target_kl) == (128, 15, 0.1, 0.01)


# ------------------------------------------------------------------------------------------------- ActorCritic
OBS_CASES = {
    "box": (OBS_SPACE, lambda b: torch.rand(b, 3)),
    "dict": (
        gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,)), "b": gym.spaces.Box(-1, 1, (3,))}),
        lambda b: {"a": torch.rand(b, 2), "b": torch.rand(b, 3)},
    ),
    "discrete": (gym.spaces.Discrete(5), lambda b: torch.randint(0, 5, (b,))),
    "image": (
        gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),
        lambda b: torch.randint(0, 256, (b, 4, 84, 84), dtype=torch.uint8),
    ),
}


@pytest.mark.parametrize("kind", ["box", "discrete"])
@pytest.mark.parametrize("obs_kind", list(OBS_CASES))
def test_actor_critic_shapes(obs_kind: str, kind: str) -> None:
    obs_space, make_obs = OBS_CASES[obs_kind]
    image = obs_kind == "image"
    policy = ActorCritic(
        obs_space, ACTION_SPACES[kind], hidden=() if image else (8,), encoder="nature_cnn" if image else "auto",
        shared=image,
    )  # fmt: skip
    b = 2
    obs = make_obs(b)
    actions, values, log_probs = policy(obs)
    assert actions.shape == ((b, 2) if kind == "box" else (b,))
    assert actions.dtype == (torch.float32 if kind == "box" else torch.int64)
    assert values.shape == (b,) and log_probs.shape == (b,)
    assert policy.value(obs).shape == (b,)
    ev_values, ev_log_probs, entropy = policy.evaluate_actions(obs, actions)
    assert ev_values.shape == ev_log_probs.shape == entropy.shape == (b,)
    torch.testing.assert_close(ev_log_probs, log_probs)
    torch.testing.assert_close(ev_values, values)


def test_gaussian_log_prob_entropy_and_kl_match_torch_distributions() -> None:
    policy = ActorCritic(OBS_SPACE, BOX_ACTIONS, hidden=(8,), ortho_init=False, log_std_init=-0.5)
    obs = torch.rand(16, 3)
    with torch.no_grad():
        actions, _, log_probs = policy(obs)
        pi = policy.pi_params(obs)
        assert pi.log_std is not None
        normal = Normal(pi.loc, pi.log_std.exp())
        torch.testing.assert_close(log_probs, normal.log_prob(actions).sum(-1))
        torch.testing.assert_close(policy.entropy(pi), normal.entropy().sum(-1))
        torch.testing.assert_close(policy.distribution(obs).log_prob(actions), log_probs)
        assert policy(obs, deterministic=True)[0].equal(pi.loc)
        other = PolicyParams(pi.loc + 0.3 * torch.randn_like(pi.loc), pi.log_std + t([0.2, -0.1]))
        expected = kl_divergence(normal, Normal(other.loc, other.log_std.exp())).sum(-1)
        torch.testing.assert_close(policy.kl(pi, other), expected)


def test_unclipped_samples_are_returned_and_scored() -> None:
    policy = ActorCritic(OBS_SPACE, BOX_ACTIONS, hidden=(8,), log_std_init=1.0)
    obs = torch.rand(256, 3)
    with torch.no_grad():
        actions, _, log_probs = policy(obs)
        pi = policy.pi_params(obs)
        assert pi.log_std is not None
        assert actions.abs().max() > 1.0
        torch.testing.assert_close(log_probs, Normal(pi.loc, pi.log_std.exp()).log_prob(actions).sum(-1))


def test_categorical_log_prob_entropy_kl_and_argmax() -> None:
    policy = ActorCritic(OBS_SPACE, DISCRETE_ACTIONS, hidden=(8,), ortho_init=False)
    obs = torch.rand(16, 3)
    with torch.no_grad():
        actions, _, log_probs = policy(obs)
        pi = policy.pi_params(obs)
        dist = Categorical(logits=pi.loc)
        torch.testing.assert_close(log_probs, dist.log_prob(actions))
        torch.testing.assert_close(policy.entropy(pi), dist.entropy())
        assert policy(obs, deterministic=True)[0].equal(pi.loc.argmax(-1))
        other = PolicyParams(torch.log_softmax(pi.loc + torch.randn_like(pi.loc), -1), None)
        torch.testing.assert_close(policy.kl(pi, other), kl_divergence(dist, Categorical(logits=other.loc)))


def test_orthogonal_init_gains() -> None:
    policy = ActorCritic(OBS_SPACE, BOX_ACTIONS, hidden=(8, 8))
    w = policy.action_net.weight.detach()  # (2, 8): orthonormal rows scaled by 0.01
    torch.testing.assert_close(w @ w.T, 1e-4 * torch.eye(2))
    assert policy.value_net.weight.detach().norm().item() == pytest.approx(1.0, rel=1e-5)
    hidden = policy.pi_net[2].weight.detach()  # (8, 8) square: W W^T = 2 I
    torch.testing.assert_close(hidden @ hidden.T, 2.0 * torch.eye(8))
    assert all(m.bias.abs().max() == 0 for m in (policy.action_net, policy.value_net, policy.pi_net[0]))


def test_parameter_groups_partition_the_network() -> None:
    for shared in (False, True):
        policy = ActorCritic(OBS_SPACE, BOX_ACTIONS, hidden=(8,), shared=shared)
        pi_ids = {id(p) for p in policy.policy_parameters()}
        vf_ids = {id(p) for p in policy.value_parameters()}
        assert not pi_ids & vf_ids
        assert pi_ids | vf_ids == {id(p) for p in policy.parameters()}
    # Shared: the value function owns only its head.
    assert {id(p) for p in policy.value_parameters()} == {id(p) for p in policy.value_net.parameters()}


@pytest.mark.parametrize(
    "action_space",
    [gym.spaces.MultiDiscrete([2, 3]), gym.spaces.Box(-1, 1, (2, 2)), gym.spaces.MultiBinary(3)],
    ids=["multidiscrete", "box2d", "multibinary"],
)
def test_unsupported_action_spaces_are_refused(action_space: gym.Space) -> None:
    with pytest.raises(HrlkitError, match="Box or Discrete"):
        ActorCritic(OBS_SPACE, action_space)
