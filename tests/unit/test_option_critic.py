"""Option-Critic by hand: the critic target, the three losses (values and gradient directions), gradient isolation,
epsilon-greedy option choice and its schedule, the per-env option bookkeeping and statistics, `predict`'s carried
option, the two policy heads, the actor's fresh rows across the ring's wrap-around, and the replay round trip.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Normal

from hrlkit.agents.base import Transition
from hrlkit.agents.exploration import epsilon_greedy
from hrlkit.agents.option_critic import (
    ActorWindow,
    OptionBatch,
    OptionCriticAgent,
    OptionCriticConfig,
    OptionCriticLearner,
    OptionUpdate,
    critic_loss_fn,
    intra_option_policy_loss,
    option_critic_target,
    option_n_step_returns,
    termination_loss_fn,
)
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.errors import HrlkitError
from hrlkit.types import ReplayBatch

OBS = gym.spaces.Discrete(5)
ACTIONS = gym.spaces.Discrete(3)
K = 4


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


def constant_heads(net, q=None, beta=None) -> None:
    """Zero a head's weights and put the values in its bias: Q_Omega(s, .) = q and beta(s, .) = beta everywhere."""
    with torch.no_grad():
        if q is not None:
            net.q_head.weight.zero_()
            net.q_head.bias.copy_(t(q))
        if beta is not None:
            net.termination_head.weight.zero_()
            net.termination_head.bias.copy_(torch.logit(t(beta)))


def make_agent(n_envs: int = 2, buffer_size: int = 64, **cfg) -> OptionCriticAgent:
    config = OptionCriticConfig(n_options=K, hidden=(8,), batch_size=4, **cfg)
    return OptionCriticAgent(OBS, ACTIONS, config, n_envs, RunConfig(seed=0), ReplayConfig(buffer_size=buffer_size))


# ------------------------------------------------------------------------------------------------ the target
def hand_target(beta_row3: list[float], deliberation_cost: float = 0.0) -> torch.Tensor:
    """The target of four hand-built transitions (K = 2 options, gamma 0.9); only row 3's beta(s') and eta vary."""
    return option_critic_target(
        rewards=t([1.0, 0.0, -1.0, 0.5]),
        terminated=t([0.0, 0.0, 1.0, 0.0]),
        next_q_target=t([[2.0, 4.0], [1.0, 3.0], [5.0, 0.0], [5.0, -3.0]]),
        next_termination_prob=t([[0.25, 0.5], [0.8, 0.1], [0.5, 0.5], beta_row3]),
        options=torch.tensor([0, 1, 0, 1]),
        gamma=0.9,
        deliberation_cost=deliberation_cost,
    )


def test_critic_target_by_hand():
    # y = r + gamma (1 - terminated) [(1 - beta_w(s')) Q'(s', w) + beta_w(s') max_w' Q'(s', w')], gamma = 0.9
    # row 0: w = 0, beta 0.25: U = 0.75 * 2 + 0.25 * 4 = 2.5   -> y = 1 + 0.9 * 2.5 = 3.25
    # row 1: w = 1, beta 0.1 : U = 0.9 * 3 + 0.1 * 3 = 3.0     -> y = 0 + 0.9 * 3.0 = 2.7
    # row 2: terminated                                        -> y = r = -1
    # row 3: w = 1, beta 1.0 : U = max = 5 (the option surely ends) -> y = 0.5 + 0.9 * 5 = 5.0
    y = hand_target(beta_row3=[0.0, 1.0])
    torch.testing.assert_close(y, t([3.25, 2.7, -1.0, 5.0]))


def test_deliberation_cost_in_the_critic_target_by_hand():
    # eta = 0.5 is paid where the option ends: U = (1 - beta) Q'(s', w) + beta (max Q'(s', .) - eta), gamma = 0.9
    # row 0: w = 0, beta 0.25: U = 0.75 * 2 + 0.25 * (4 - 0.5) = 2.375 -> y = 1 + 0.9 * 2.375 = 3.1375
    # row 1: w = 1, beta 0.1 : U = 0.9 * 3 + 0.1 * (3 - 0.5) = 2.95   -> y = 0.9 * 2.95 = 2.655
    # row 2: terminated: no option ends after the episode          -> y = r = -1
    # row 3: w = 1, beta 0   : the option goes on, nothing is paid  -> y = 0.5 + 0.9 * -3 = -2.2
    y = hand_target(beta_row3=[1.0, 0.0], deliberation_cost=0.5)
    torch.testing.assert_close(y, t([3.1375, 2.655, -1.0, -2.2]))


def test_learner_passes_the_deliberation_cost_to_both_losses():
    cfg = OptionCriticConfig(n_options=2, hidden=(8,), gamma=0.9, termination_reg=0.0, deliberation_cost=0.5)
    learner = OptionCriticLearner(OBS, ACTIONS, cfg)
    constant_heads(learner.net_target, q=[2.0, 4.0], beta=[0.9, 0.9])
    constant_heads(learner.net, q=[1.0, 0.0], beta=[0.25, 0.5])
    batch = hand_batch([0, 1], [0, 2], [1.0, 0.0], [2, 3], [0.0, 0.0], [0, 1])
    # targets: row 0: 1 + 0.9 (0.75 * 2 + 0.25 * 3.5) = 3.1375; row 1: 0.9 (0.5 * 4 + 0.5 * 3.5) = 3.375
    ev = learner.evaluate(batch)
    torch.testing.assert_close(ev.target, t([3.1375, 3.375]))
    # termination: online Q(s') = [1, 0], V = 1; row 0 (w = 0): beta 0.25 (0 + 0.5); row 1 (w = 1): 0.5 (-1 + 0.5)
    _, stats = learner.actor_loss(batch, ev)
    assert stats["termination_loss"] == pytest.approx((0.25 * 0.5 + 0.5 * -0.5) / 2)


def test_deliberation_cost_must_not_be_negative():
    with pytest.raises(HrlkitError, match="deliberation_cost must be >= 0"):
        OptionCriticConfig(deliberation_cost=-0.1).check()


def hand_batch(obs, actions, rewards, next_obs, terminated, options) -> OptionBatch:
    n = len(rewards)
    tr = ReplayBatch(
        torch.tensor(obs), torch.tensor(actions), t(rewards), torch.tensor(next_obs), t(terminated), torch.ones(n),
        torch.arange(n),
    )  # fmt: skip
    return OptionBatch(tr, torch.tensor(options))


def test_learner_target_takes_q_from_the_target_net_and_beta_from_the_online_net():
    learner = OptionCriticLearner(OBS, ACTIONS, OptionCriticConfig(n_options=2, hidden=(8,), gamma=0.9))
    constant_heads(learner.net_target, q=[2.0, 4.0], beta=[0.9, 0.9])  # target beta: must not be used
    constant_heads(learner.net, q=[100.0, -100.0], beta=[0.25, 0.5])  # online Q: must not be used
    batch = hand_batch([0, 1], [0, 2], [1.0, 0.0], [2, 3], [0.0, 0.0], [0, 1])
    # row 0 as in test_critic_target_by_hand: 1 + 0.9 (0.75 * 2 + 0.25 * 4) = 3.25
    # row 1: w = 1, beta 0.5: 0 + 0.9 (0.5 * 4 + 0.5 * 4) = 3.6
    ev = learner.evaluate(batch)
    torch.testing.assert_close(ev.target, t([3.25, 3.6]))
    assert not ev.target.requires_grad


def test_critic_loss_huber_and_mse_by_hand():
    q, y = t([0.0, 3.0]), t([0.5, 0.0])
    # Huber (delta 1): 0.5 * 0.5^2 = 0.125 and |3| - 0.5 = 2.5 -> mean 1.3125; MSE: (0.25 + 9) / 2 = 4.625
    assert critic_loss_fn(q, y, "huber").item() == pytest.approx(1.3125)
    assert critic_loss_fn(q, y, "mse").item() == pytest.approx(4.625)


# ----------------------------------------------------------------------------------------------- the actor
def test_intra_option_policy_loss_by_hand_and_its_gradient():
    log_prob = t([-0.5, -1.0]).requires_grad_()
    entropy = t([1.0, 0.5]).requires_grad_()
    target, q = t([2.0, 0.0]), t([1.0, 1.0]).requires_grad_()
    loss = intra_option_policy_loss(log_prob, entropy, target, q, entropy_coef=0.1)
    # advantage y - Q = [1, -1]; loss = -mean(-0.5 * 1, -1.0 * -1) - 0.1 * mean(1.0, 0.5) = -0.25 - 0.075
    assert loss.item() == pytest.approx(-0.325)
    loss.backward()
    # d loss / d log pi = -advantage / B: descent raises log pi(a|s) where the advantage is positive, lowers it else
    torch.testing.assert_close(log_prob.grad, t([-0.5, 0.5]))
    torch.testing.assert_close(entropy.grad, t([-0.05, -0.05]))  # the entropy bonus is maximised
    assert q.grad is None  # the advantage is detached: no gradient reaches the critic


def test_termination_loss_by_hand_and_its_direction():
    # K = 3 options, termination_reg 0.01, V(s') = max_w Q(s', w):
    # row 0: w = 0 is the best option:            A = 1.0 - 1.0 + 0.01   = +0.01  -> beta goes down (keep going)
    # row 1: w = 1, 0.005 below the best:          A = -0.005 + 0.01      = +0.005 -> down: within the margin
    # row 2: w = 1, far below the best:            A = 0.305 - 0.9 + 0.01 = -0.585 -> beta goes up (switch)
    # row 3: terminated s': no decision there, masked out
    next_q = t([[1.0, 0.5, 0.2], [0.6, 0.595, 0.1], [0.3, 0.305, 0.9], [0.2, 0.8, 0.1]]).requires_grad_()
    beta = t([[0.5, 0.9, 0.9], [0.1, 0.4, 0.1], [0.3, 0.2, 0.3], [0.5, 0.5, 0.7]]).requires_grad_()
    options = torch.tensor([0, 1, 1, 2])
    loss = termination_loss_fn(beta, next_q, options, t([0.0, 0.0, 0.0, 1.0]), termination_reg=0.01)
    # mean(0.5 * 0.01, 0.4 * 0.005, 0.2 * -0.585, 0) = (0.005 + 0.002 - 0.117) / 4 = -0.0275
    assert loss.item() == pytest.approx(-0.0275)
    loss.backward()
    expected = torch.zeros(4, 3)
    expected[0, 0], expected[1, 1], expected[2, 1] = 0.01 / 4, 0.005 / 4, -0.585 / 4
    torch.testing.assert_close(beta.grad, expected)  # only the executing option's beta; none for the terminated row
    assert beta.grad[0, 0] > 0 and beta.grad[1, 1] > 0 and beta.grad[2, 1] < 0  # descent: down, down, up
    assert next_q.grad is None  # the advantage is detached


def test_deliberation_cost_adds_to_the_termination_margin_by_hand():
    # the rows of the test above with termination_reg 0.01 and eta 0.3: A = [0.31, 0.305, -0.285]
    next_q = t([[1.0, 0.5, 0.2], [0.6, 0.595, 0.1], [0.3, 0.305, 0.9], [0.2, 0.8, 0.1]])
    beta = t([[0.5, 0.9, 0.9], [0.1, 0.4, 0.1], [0.3, 0.2, 0.3], [0.5, 0.5, 0.7]])
    loss = termination_loss_fn(beta, next_q, torch.tensor([0, 1, 1, 2]), t([0.0, 0.0, 0.0, 1.0]), 0.01, 0.3)
    # mean(0.5 * 0.31, 0.4 * 0.305, 0.2 * -0.285, 0) = (0.155 + 0.122 - 0.057) / 4 = 0.055
    assert loss.item() == pytest.approx(0.055)


def test_termination_gradient_moves_beta_of_the_network_the_right_way():
    """One SGD step on the termination loss through the network: beta drops for the best option, rises for a bad one."""
    learner = OptionCriticLearner(OBS, ACTIONS, OptionCriticConfig(n_options=2, hidden=(8,), termination_reg=0.01))
    net = learner.net
    constant_heads(net, q=[1.0, 0.0], beta=[0.5, 0.5])
    next_obs = torch.tensor([3, 3])
    opt = torch.optim.SGD(net.termination_head.parameters(), lr=1.0)
    features = net.features(next_obs)
    loss = termination_loss_fn(
        net.termination_prob(features), net.q(features), torch.tensor([0, 1]), t([0.0, 0.0]), 0.01
    )
    opt.zero_grad()
    loss.backward()
    opt.step()
    beta = net.termination_prob(net.features(next_obs[:1]))[0].detach()
    assert beta[0] < 0.5 < beta[1]


def test_gradient_isolation():
    """The critic loss trains phi and Q only; the actor losses never reach the Q head (their advantages are detached)."""
    learner = OptionCriticLearner(OBS, ACTIONS, OptionCriticConfig(n_options=K, hidden=(8,)))
    net = learner.net
    batch = hand_batch([0, 1, 2], [0, 1, 2], [1.0, 0.0, 0.5], [1, 2, 4], [0.0, 1.0, 0.0], [0, 3, 1])

    def grads(loss: torch.Tensor) -> dict[str, bool]:
        net.zero_grad(set_to_none=True)
        loss.backward()
        return {n: p.grad is not None and bool(p.grad.abs().sum() > 0) for n, p in net.named_parameters()}

    critic = grads(learner.critic_loss(batch)[0])
    assert critic["q_head.weight"] and critic["phi.0.0.weight"]
    assert not critic["termination_head.weight"] and not critic["policy.head.weight"]
    actor = grads(learner.actor_loss(batch)[0])
    assert actor["termination_head.weight"] and actor["policy.head.weight"] and actor["phi.0.0.weight"]
    assert not actor["q_head.weight"] and not actor["q_head.bias"]
    assert all(p.grad is None for p in learner.net_target.parameters())


def test_two_towers_keep_the_critic_and_the_actor_apart():
    """shared_features=False: the critic loss trains phi_Q and Q only, the actor losses phi_pi, beta and pi only; the
    target's Q reads the critic's tower alone."""
    cfg = OptionCriticConfig(n_options=K, hidden=(8,), shared_features=False)
    learner = OptionCriticLearner(OBS, ACTIONS, cfg)
    net = learner.net
    batch = hand_batch([0, 1, 2], [0, 1, 2], [1.0, 0.0, 0.5], [1, 2, 4], [0.0, 1.0, 0.0], [0, 3, 1])

    def trained(loss: torch.Tensor) -> set[str]:
        net.zero_grad(set_to_none=True)
        loss.backward()
        return {n.split(".")[0] for n, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}

    assert trained(learner.critic_loss(batch)[0]) == {"phi", "q_head"}
    assert trained(learner.actor_loss(batch)[0]) == {"actor_phi", "termination_head", "policy"}
    obs = torch.tensor([0, 3])
    features = net.features(obs)
    assert features.shape == (2, 16)
    torch.testing.assert_close(net.q_of(obs), net.q(features))
    torch.testing.assert_close(net.actor_features(features), net.actor_phi(net.flatten(obs)))
    with torch.no_grad():  # moving the actor's tower leaves Q untouched
        for p in net.actor_phi.parameters():
            p.add_(1.0)
    torch.testing.assert_close(net.q(net.features(obs)), net.q_of(obs))


def test_update_copies_the_target_every_interval():
    learner = OptionCriticLearner(OBS, ACTIONS, OptionCriticConfig(n_options=2, hidden=(8,), target_update_interval=3))
    batch = hand_batch([0, 1], [0, 2], [1.0, 0.0], [2, 3], [0.0, 0.0], [0, 1])
    before = [p.clone() for p in learner.net_target.parameters()]
    for _ in range(2):
        learner.update(OptionUpdate(batch, batch))
    assert all(torch.equal(a, b) for a, b in zip(before, learner.net_target.parameters(), strict=True))
    # the online net has moved away from the target, so the equality below can only come from a copy
    assert not all(
        torch.equal(a, b) for a, b in zip(learner.net.parameters(), learner.net_target.parameters(), strict=True)
    )
    learner.update(OptionUpdate(batch))
    assert all(
        torch.equal(a, b) for a, b in zip(learner.net.parameters(), learner.net_target.parameters(), strict=True)
    )


# ------------------------------------------------------------------------------------ the policy over options
def epsilon_greedy_options(q: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """The policy over options as the agent draws it: the project's one epsilon-greedy over argmax Q_Omega."""
    return epsilon_greedy(q.argmax(1), epsilon, q.shape[1], rng)


def test_epsilon_greedy_options_frequencies():
    rng = np.random.default_rng(0)
    n = 40_000
    q = np.zeros((n, K))
    q[:, 2] = 1.0  # option 2 is greedy everywhere
    options = epsilon_greedy_options(q, 0.2, rng)
    freq = np.bincount(options, minlength=K) / n
    # P(greedy) = 1 - eps + eps / K = 0.85; each other option eps / K = 0.05; 5 standard errors of slack
    np.testing.assert_allclose(freq, [0.05, 0.05, 0.85, 0.05], atol=5 * math.sqrt(0.85 * 0.15 / n))
    q_rows = np.array([[0.0, 1.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -1.0]])
    np.testing.assert_array_equal(epsilon_greedy_options(q_rows, 0.0, rng), [1, 0, 0])
    uniform = np.bincount(epsilon_greedy_options(q, 1.0, rng), minlength=K) / n
    np.testing.assert_allclose(uniform, 0.25, atol=5 * math.sqrt(0.25 * 0.75 / n))


def test_option_epsilon_schedule_is_linear_then_flat():
    cfg = OptionCriticConfig(option_epsilon_start=1.0, option_epsilon_end=0.1, option_epsilon_env_steps=1000)
    assert [cfg.option_epsilon(s) for s in (0, 500, 1000, 5000)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    assert OptionCriticConfig(option_epsilon_env_steps=0, option_epsilon_end=0.3).option_epsilon(0) == 0.3


def test_config_errors():
    for bad in ({"n_options": 0}, {"hidden": ()}, {"critic_loss": "l1"}, {"option_epsilon_end": 1.5}):
        with pytest.raises(HrlkitError):
            OptionCriticLearner(OBS, ACTIONS, OptionCriticConfig(**bad))
    with pytest.raises(HrlkitError, match="Discrete or a flat Box"):
        OptionCriticLearner(OBS, gym.spaces.MultiDiscrete([2, 2]), OptionCriticConfig())


# ------------------------------------------------------------------------------- acting: options per env
def run_steps(agent: OptionCriticAgent, dones: list[list[bool]]) -> None:
    """act/observe for len(dones) vector steps; dones[t][i]: env i's episode ends (terminated) at step t."""
    obs = np.zeros(agent.n_envs, np.int64)
    for done in dones:
        actions = agent.act(obs)
        done_arr = np.array(done)
        agent.observe(Transition(obs, actions, np.zeros(agent.n_envs), obs + 1, done_arr, np.zeros_like(done_arr), {}))


def test_options_never_end_with_beta_zero_except_at_episode_ends():
    agent = make_agent(option_epsilon_start=0.0, option_epsilon_end=0.0)
    constant_heads(agent.learner.net, q=[0.0, 0.0, 1.0, 0.0], beta=[1e-9] * K)
    run_steps(agent, [[False, False], [True, False], [False, False], [False, False]])
    np.testing.assert_array_equal(agent.options, [2, 2])  # greedy; re-chosen for env 0 after its episode end
    np.testing.assert_array_equal(agent.option_steps, [2, 4])
    stats = agent.option_stats()
    # one option ended (env 0's, cut by its episode end after 2 steps); no termination fired in 8 env steps
    assert stats["options/mean_duration"] == 2.0
    assert stats["options/termination_rate"] == 0.0
    assert stats["options/usage_2"] == 1.0 and stats["options/usage_0"] == 0.0
    assert agent.option_stats().keys() == {"options/epsilon"}  # counters restart after each call


def test_options_last_one_step_with_beta_one():
    agent = make_agent()
    constant_heads(agent.learner.net, beta=[1.0 - 1e-7] * K)
    run_steps(agent, [[False, False], [True, False], [False, False], [False, False]])
    stats = agent.option_stats()
    # Terminations fire at every act except an env's first step of an episode: env 0 at steps 2 and 4 (step 3 starts
    # a new episode), env 1 at steps 2, 3, 4: 5 firings in 8 env steps. Ended options: those 5 plus env 0's option
    # cut by its episode end, each 1 step long.
    assert stats["options/termination_rate"] == 5 / 8
    assert stats["options/mean_duration"] == 1.0
    assert sum(stats[f"options/usage_{k}"] for k in range(K)) == pytest.approx(1.0)


def test_predict_carries_the_option_and_thresholds_beta():
    agent = make_agent(n_envs=1)
    net = agent.learner.net
    constant_heads(net, q=[0.0, 1.0, 0.0, 0.0], beta=[0.4] * K)
    actions, options = agent.predict(3)
    assert options.tolist() == [1] and np.ndim(actions) == 0  # a single observation: greedy option, one action
    _, options = agent.predict(np.array([3, 4]), state=np.array([3, 0]))
    assert options.tolist() == [3, 0]  # beta 0.4 < 0.5: the options go on although option 1 is greedy
    _, options = agent.predict(np.array([3, 4]), state=np.array([3, 0]), episode_start=np.array([True, False]))
    assert options.tolist() == [1, 0]
    constant_heads(net, beta=[0.6] * K)
    _, options = agent.predict(np.array([3, 4]), state=np.array([3, 0]))
    assert options.tolist() == [1, 1]  # beta 0.6 > 0.5: both end, and the greedy option takes over


def test_categorical_policies_with_temperature():
    learner = OptionCriticLearner(OBS, ACTIONS, OptionCriticConfig(n_options=2, hidden=(8,), temperature=0.5))
    policy = learner.net.policy
    features = torch.randn(3, 8)
    options, actions = torch.tensor([1, 0, 1]), torch.tensor([2, 0, 1])
    logits = policy.head(features).view(3, 2, 3)[torch.arange(3), options] / 0.5  # (B, A)
    dist = Categorical(logits=logits)
    log_prob, entropy = policy.log_prob_entropy(features, options, actions)
    torch.testing.assert_close(log_prob, dist.log_prob(actions))
    torch.testing.assert_close(entropy, dist.entropy())
    torch.testing.assert_close(policy.sample(features, options, True), logits.argmax(-1))


def test_gaussian_policies_and_action_scaling():
    box = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
    cfg = OptionCriticConfig(n_options=2, hidden=(8,), log_std_init=-1.0)
    agent = OptionCriticAgent(
        gym.spaces.Box(-1, 1, (3,), np.float32), box, cfg, 2, RunConfig(), ReplayConfig(buffer_size=16)
    )
    policy = agent.learner.net.policy
    with torch.no_grad():
        policy.mean_head.weight.zero_()
        policy.mean_head.bias.copy_(t([0.0, 0.0, 0.5, -0.5]))  # option 0: mean (0, 0); option 1: tanh(0.5, -0.5)
        policy.log_std[1] = t([-2.0, 0.0])
    features, options = torch.randn(2, 8), torch.tensor([0, 1])
    actions = t([[0.3, -0.2], [0.1, 0.9]])
    log_prob, entropy = policy.log_prob_entropy(features, options, actions)
    means = t([[0.0, 0.0], [math.tanh(0.5), math.tanh(-0.5)]])
    stds = torch.exp(t([[-1.0, -1.0], [-2.0, 0.0]]))
    torch.testing.assert_close(log_prob, Normal(means, stds).log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, Normal(means, stds).entropy().sum(-1))
    samples = policy.sample(torch.randn(500, 8), torch.ones(500, dtype=torch.long), False)
    assert samples.abs().max() <= 1.0 and (samples.abs() == 1.0).any()  # clipped to the normalised bounds
    # Deterministic predict: the option's mean, scaled to the env bounds: low + (m + 1) / 2 (high - low).
    obs = np.zeros((1, 3), np.float32)
    constant_heads(agent.learner.net, q=[0.0, 1.0])
    env_action, _ = agent.predict(obs)
    np.testing.assert_allclose(env_action[0], [2 * math.tanh(0.5), (math.tanh(-0.5) + 1) / 2], rtol=1e-6)


# ------------------------------------------------------------------------------------------- learning rows
def test_actor_learns_from_the_rows_since_the_last_update_and_never_from_warm_up():
    agent = make_agent(n_envs=2, buffer_size=6)  # a ring of 3 rows x 2 envs
    obs = np.zeros(2, np.int64)
    seen: list[OptionBatch | None] = []
    update = agent.learner.update

    def spy(batches: OptionUpdate):
        seen.append(batches.actor)
        return update(batches)

    agent.learner.update = spy
    for step in range(2):  # warm-up: random actions, stored for the critic only
        agent.observe(
            Transition(
                obs + step, agent.random_actions(2, obs + step), np.zeros(2), obs + step + 1, obs > 0, obs > 0, {}
            )
        )
    assert agent.actor_rows == 0
    for step in range(2, 4):  # the policy's own steps: rows 2 and 0 (the ring wrapped)
        agent.observe(Transition(obs + step, agent.act(obs + step), np.zeros(2), obs + step + 1, obs > 0, obs > 0, {}))
    assert agent.actor_rows == 2
    options_row0 = agent.buffer_options[0].copy()
    stats = agent.update(gradient_steps=2)
    assert {"train/critic_loss", "train/policy_loss", "train/termination_loss"} <= stats.keys()
    assert seen[1] is None  # the actor takes its step once per update call, with the first critic step
    tr = seen[0].transitions
    torch.testing.assert_close(tr.obs, torch.tensor([2, 2, 3, 3]))  # oldest first: row 2 (step 2), row 0 (step 3)
    torch.testing.assert_close(seen[0].options[2:], torch.as_tensor(options_row0))
    assert agent.actor_rows == 0
    agent.update(1)
    assert seen[2] is None  # nothing new since the last update: critic only


def test_n_step_returns_by_hand():
    # T = 3 steps of n = 2 envs, gamma 0.5, eta 0.2; y: the one-step targets r + gamma U(w, s') of each row
    rewards = t([[1.0, 2.0], [0.0, 4.0], [3.0, 1.0]])
    y = t([[10.0, 20.0], [30.0, 40.0], [6.0, 8.0]])
    continues = t([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])  # env 1's episode ended at step 0; step 2 closes the window
    fired = t([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # env 0's option ended at step 1's s; env 1's at step 2's s
    returns = option_n_step_returns(rewards, y, continues, fired, gamma=0.5, deliberation_cost=0.2)
    # env 0: R2 = 6; R1 = 0 + 0.5 * (6 - 0) = 3; R0 = 1 + 0.5 * (3 - 0.2) = 2.4   (the switch at step 1 is paid)
    # env 1: R2 = 8; R1 = 4 + 0.5 * (8 - 0.2) = 7.9; R0 = y = 20 (the episode ended: nothing chains across it)
    torch.testing.assert_close(returns, t([[2.4, 20.0], [3.0, 7.9], [6.0, 8.0]]))
    one_step = option_n_step_returns(rewards, y, torch.zeros(3, 2), fired, gamma=0.5, deliberation_cost=0.2)
    torch.testing.assert_close(one_step, y)  # nothing chained: Bacon et al.'s one-step targets


def test_actor_n_step_takes_its_step_every_n_vector_steps_on_the_window():
    agent = make_agent(n_envs=2, buffer_size=64, actor_n_step=3, deliberation_cost=0.5)
    obs = np.zeros(2, np.int64)
    seen: list[OptionUpdate] = []
    update = agent.learner.update

    def spy(batches: OptionUpdate):
        seen.append(batches)
        return update(batches)

    agent.learner.update = spy
    ends = [[False, False], [False, True], [False, False], [False, False]]
    for step, end in enumerate(ends):
        agent.observe(
            Transition(obs + step, agent.act(obs + step), np.ones(2), obs + step + 1, obs > 0, np.array(end), {})
        )
        agent.update(1)
    # the actor stepped once, at the third vector step, on rows 0-2 (6 transitions); the others were critic only
    assert [u.actor is not None for u in seen] == [False, False, True, False]
    assert agent.actor_rows == 1
    window = seen[2].window
    assert window.n_envs == 2
    torch.testing.assert_close(seen[2].actor.transitions.obs, torch.tensor([0, 0, 1, 1, 2, 2]))
    # continues: env 1 ended at step 1; the window's last step (2) bootstraps
    torch.testing.assert_close(window.continues, t([1.0, 1.0, 1.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(window.fired, torch.as_tensor(agent.buffer_fired[:3].reshape(-1), dtype=torch.float32))


def test_the_learner_weights_the_policy_by_n_step_returns():
    cfg = OptionCriticConfig(n_options=2, hidden=(8,), gamma=0.5, entropy_coef=0.0, deliberation_cost=0.2)
    learner = OptionCriticLearner(OBS, ACTIONS, cfg)
    constant_heads(learner.net_target, q=[2.0, 4.0], beta=[0.5, 0.5])
    constant_heads(learner.net, q=[1.0, 0.0], beta=[0.5, 0.5])
    batch = hand_batch([0, 1], [0, 1], [1.0, 3.0], [1, 2], [0.0, 0.0], [0, 0])  # one env, two steps
    ev = learner.evaluate(batch)
    # y = r + 0.5 (0.5 * 2 + 0.5 * (4 - 0.2)) = r + 1.45: [2.45, 4.45]; R0 = 1 + 0.5 (4.45 - 0.2 * fired 1) = 3.125
    window = ActorWindow(1, t([1.0, 0.0]), t([0.0, 1.0]))
    log_prob, _ = learner.net.policy.log_prob_entropy(ev.features, batch.options, batch.transitions.actions)
    _, stats = learner.actor_loss(batch, ev, window)
    expected = -(log_prob * (t([3.125, 4.45]) - 1.0)).mean()  # advantage R - Q_Omega(s, w = 0) = R - 1
    assert stats["policy_loss"] == pytest.approx(expected.item(), rel=1e-5)
    _, one_step = learner.actor_loss(batch, ev)
    assert one_step["policy_loss"] == pytest.approx(-(log_prob * (t([2.45, 4.45]) - 1.0)).mean().item(), rel=1e-5)


def test_replay_state_round_trip_keeps_the_options():
    agent = make_agent()
    run_steps(agent, [[False, False]] * 3)
    other = make_agent()
    other.load_replay_state(agent.replay_state())
    np.testing.assert_array_equal(other.buffer_options, agent.buffer_options)
    assert len(other.buffer) == 6
    with pytest.raises(HrlkitError, match="options ring"):
        other.load_replay_state({k: v for k, v in agent.replay_state().items() if k != "options"})


def test_prioritized_replay_is_refused():
    with pytest.raises(HrlkitError, match="uniformly"):
        OptionCriticAgent(OBS, ACTIONS, OptionCriticConfig(), 1, RunConfig(), ReplayConfig(prioritized_replay=True))


def test_stochastic_predict_never_draws_from_torchs_global_generator():
    """Training samples from torch's global generator (its state is in every checkpoint): stochastic `predict` has its
    own, so predictions made between updates never move the training draws."""
    agent = make_agent(n_envs=1)
    obs = OBS.sample()
    before = torch.get_rng_state()
    state = None
    for _ in range(10):
        _, state = agent.predict(obs, state, None, deterministic=False)
    assert torch.equal(torch.get_rng_state(), before)
