"""PPOC and DAC by hand: pi_hat, the termination and master losses, both GAEs of the option rollout, the learners'
losses on a tiny batch against a row-by-row recomputation, and the agent's call-and-return bookkeeping."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from hrlkit.agents.option_rollout import OptionRolloutAgent
from hrlkit.buffers.option_rollout import OptionRolloutBuffer
from hrlkit.buffers.rollout import gae
from hrlkit.learners.option_ppo import (
    DACConfig,
    DACLearner,
    PPOCConfig,
    PPOCLearner,
    master_loss,
    termination_loss,
)
from hrlkit.nn.options import OptionActorCritic, high_log_probs
from hrlkit.types import OptionRolloutBatch

OBS_SPACE = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
BOX_ACTIONS = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def t(x) -> torch.Tensor:  # noqa: ANN001
    return torch.tensor(x, dtype=torch.float32)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# ---------------------------------------------------------------------------------------------- pure functions
def test_pi_hat_by_hand() -> None:
    # K = 2, w- = 0, beta_0 = 0.5, pi_Omega = (0.2, 0.8): pi_hat = (0.5 + 0.5 * 0.2, 0.5 * 0.8) = (0.6, 0.4).
    # Row 2: w- = 1 with beta_1 = 0.9: pi_hat = (0.9 * 0.2, 0.1 + 0.9 * 0.8) = (0.18, 0.82). Row 3 starts: pi_Omega.
    term = t([[0.0, 5.0], [5.0, logit(0.9)], [0.0, 0.0]])
    master = t([[0.2, 0.8]] * 3).log()
    out = high_log_probs(term, master, torch.tensor([0, 1, 1]), torch.tensor([False, False, True])).exp()
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.4], [0.18, 0.82], [0.2, 0.8]], rtol=1e-5)
    # extreme logits keep their precision: beta = sigmoid(-40) ~ 4e-18, so staying costs ~ -4e-18 in log
    far = high_log_probs(t([[-40.0, 0.0]]), master[:1], torch.tensor([0]), torch.tensor([False]))
    assert far[0, 1].item() == pytest.approx(-40.0 + math.log(0.8), abs=1e-4) and far[0, 0].item() <= 0.0


def test_termination_loss_by_hand() -> None:
    # Q = (2, 0), pi_Omega = (1/2, 1/2): V = 1; w- = 0 with beta 0.5: 0.5 * (2 - 1 + 0.01) = 0.505.
    # A second row at an episode's start is masked: mean 0.505 / 2.
    q = t([[2.0, 0.0], [2.0, 0.0]])
    master = t([[0.5, 0.5], [0.5, 0.5]]).log()
    logits = t([[0.0, 3.0], [0.0, 3.0]]).requires_grad_()
    loss = termination_loss(logits, q, master, torch.tensor([0, 0]), torch.tensor([False, True]), 0.01)
    assert loss.item() == pytest.approx(0.505 / 2, rel=1e-6)
    loss.backward()
    # d/dlogit of beta * 1.01 / 2 = beta (1 - beta) * 1.01 / 2 = 0.12625, only at (row 0, w- = 0)
    np.testing.assert_allclose(logits.grad.numpy(), [[0.12625, 0.0], [0.0, 0.0]], atol=1e-6)


def test_master_loss_by_hand() -> None:
    # Rows where the master chose: 0 (w = 1, A = 2) and 2 (w = 0, A = -1); row 1 went on with its option.
    log_p = t([[0.25, 0.75], [0.5, 0.5], [0.9, 0.1]]).log().requires_grad_()
    chose = torch.tensor([True, False, True])
    adv = t([2.0, 100.0, -1.0])
    pg = -(2.0 * math.log(0.75) + -1.0 * math.log(0.9)) / 2
    entropy = np.mean([-sum(p * math.log(p) for p in row) for row in ([0.25, 0.75], [0.5, 0.5], [0.9, 0.1])])
    loss = master_loss(log_p, torch.tensor([1, 0, 0]), chose, adv, 0.01)
    assert loss.item() == pytest.approx(pg - 0.01 * entropy, rel=1e-6)
    # nowhere chosen: only the entropy term, no division by zero
    none = master_loss(log_p, torch.tensor([1, 0, 0]), torch.zeros(3, dtype=torch.bool), adv, 0.0)
    assert none.item() == 0.0


# ---------------------------------------------------------------------------------------------- the rollout
def test_option_rollout_runs_gae_for_both_mdps_with_one_bootstrap() -> None:
    buf = OptionRolloutBuffer(3, 1, OBS_SPACE, BOX_ACTIONS, n_options=2)
    q_bar, v_hat = [1.0, 2.0, 3.0], [1.5, 2.5, 0.5]
    rewards = [1.0, 0.0, 2.0]
    truncated = [False, True, False]  # step 1 is truncated: its bootstrap is U(final obs) = 7
    for i in range(3):
        buf.add_options(
            np.array([i % 2]), np.array([0]), np.array([i == 0]), np.array([True]), np.array([0.0]),
            np.array([v_hat[i]]), np.array([0.0]), np.full((1, 2), 0.5, np.float32),
        )  # fmt: skip
        buf.add(
            np.zeros((1, 3), np.float32), np.zeros((1, 2), np.float32), np.array([rewards[i]]), np.array([q_bar[i]]),
            np.array([0.0]), np.array([False]), np.array([truncated[i]]), np.array([7.0]) if truncated[i] else None,
        )  # fmt: skip
    buf.finish(np.array([4.0]), gamma=0.9, gae_lambda=0.5)
    # next values: step 0 -> v_hat[1] = 2.5, step 1 -> 7 (truncated), step 2 -> 4 (last)
    np.testing.assert_allclose(buf.next_values[:, 0], [2.5, 7.0, 4.0])
    next_values = np.array([[2.5], [7.0], [4.0]], np.float32)
    flags = (np.zeros((3, 1), bool), np.array(truncated)[:, None])
    adv_bar, ret_bar = gae(np.array(rewards)[:, None], np.array(q_bar)[:, None], next_values, *flags, 0.9, 0.5)
    adv_hat, _ = gae(np.array(rewards)[:, None], np.array(v_hat)[:, None], next_values, *flags, 0.9, 0.5)
    # by hand, step 2: delta = 2 + 0.9 * 4 - 3 = 2.6 (low), 2 + 3.6 - 0.5 = 5.1 (high); step 1 ends an episode
    assert adv_bar[2, 0] == pytest.approx(2.6) and adv_hat[2, 0] == pytest.approx(5.1)
    # step 0: delta = 1 + 0.9 * 2.5 - 1 = 2.25, plus 0.45 * A_1 with A_1 = 0 + 6.3 - 2 = 4.3 -> 4.185
    assert adv_bar[0, 0] == pytest.approx(2.25 + 0.45 * 4.3)
    batch = buf.get()
    np.testing.assert_allclose(batch.advantages.numpy(), adv_bar[:, 0], rtol=1e-6)
    np.testing.assert_allclose(batch.returns.numpy(), ret_bar[:, 0], rtol=1e-6)
    np.testing.assert_allclose(batch.advantages_high.numpy(), adv_hat[:, 0], rtol=1e-6)
    np.testing.assert_allclose(batch.advantages_master.numpy(), ret_bar[:, 0], rtol=1e-6)  # R - V_Omega, here 0
    assert batch.options.tolist() == [0, 1, 0] and batch.starts.tolist() == [True, False, False]
    # the state dict holds the option arrays and round-trips
    other = OptionRolloutBuffer(3, 1, OBS_SPACE, BOX_ACTIONS, n_options=2)
    other.load_state_dict(buf.state_dict())
    np.testing.assert_array_equal(other.values_high, buf.values_high)
    np.testing.assert_array_equal(other.pi_hat, buf.pi_hat)


# ---------------------------------------------------------------------------------------------- the learners
def tiny_batch(net: OptionActorCritic, n: int = 6, seed: int = 0) -> OptionRolloutBatch:
    g = torch.Generator().manual_seed(seed)
    obs = torch.rand((n, 3), generator=g) * 2 - 1
    with torch.no_grad():
        out = net(obs)
    options = torch.randint(2, (n,), generator=g)
    prev = torch.randint(2, (n,), generator=g)
    starts = torch.tensor([True] + [False] * (n - 1))
    chose = starts | (torch.rand(n, generator=g) < 0.5)
    actions = torch.randn((n, 2), generator=g)
    pi_hat = high_log_probs(out.termination_logits, out.master_log_probs, prev, starts).exp()
    noise = lambda: 0.3 * torch.randn(n, generator=g)  # noqa: E731 (an old policy that differs from the current)
    return OptionRolloutBatch(
        obs=obs, actions=actions, options=options, prev_options=prev, starts=starts, chose=chose,
        log_probs=noise() - 2.0, log_probs_high=noise() - 0.7, values=noise(), values_high=noise(),
        values_master=noise(), pi_hat=pi_hat, advantages=torch.randn(n, generator=g),
        returns=torch.randn(n, generator=g), advantages_high=torch.randn(n, generator=g),
        returns_high=torch.randn(n, generator=g), advantages_master=torch.randn(n, generator=g),
    )  # fmt: skip


def clip_term(ratio: float, adv: float, eps: float = 0.2) -> float:
    return min(ratio * adv, min(max(ratio, 1 - eps), 1 + eps) * adv)


def gaussian_log_prob(a: np.ndarray, mean: np.ndarray, log_std: np.ndarray) -> float:
    return float(sum(-0.5 * ((a - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi)))


def test_ppoc_loss_row_by_row() -> None:
    cfg = PPOCConfig(hidden=(8,), n_options=2, normalize_advantage=False, ent_coef=0.0, termination_reg=0.05)
    learner = PPOCLearner(OBS_SPACE, BOX_ACTIONS, cfg)
    batch = tiny_batch(learner.policy)
    out = learner.policy(batch.obs)
    loss, info = learner.minibatch_loss(out, batch)
    o = {k: v.detach().numpy() for k, v in out._asdict().items() if v is not None}
    b = {k: v.numpy() for k, v in batch._asdict().items()}
    n = len(b["options"])
    surrogate, value, term, master_pg = [], [], [], []
    for i in range(n):
        w, w_prev = b["options"][i], b["prev_options"][i]
        log_pi = gaussian_log_prob(b["actions"][i], o["loc"][i, w], o["log_std"][w])
        surrogate.append(clip_term(math.exp(log_pi - b["log_probs"][i]), b["advantages"][i]))
        value.append((o["q"][i, w] - b["returns"][i]) ** 2)
        pi = np.exp(o["master_log_probs"][i])
        beta = 1 / (1 + math.exp(-o["termination_logits"][i, w_prev]))
        v_omega = float(pi @ o["q"][i])
        term.append(0.0 if b["starts"][i] else beta * (o["q"][i, w_prev] - v_omega + 0.05))
        if b["chose"][i]:
            master_pg.append(o["master_log_probs"][i, w] * b["advantages_master"][i])
    entropy = np.mean([-(np.exp(r) * r).sum() for r in o["master_log_probs"]])
    expected = -np.mean(surrogate) + 0.5 * np.mean(value) + np.mean(term) - np.mean(master_pg) - 0.01 * entropy
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert info["termination_loss"].item() == pytest.approx(np.mean(term), rel=1e-5)


def test_dac_losses_row_by_row() -> None:
    cfg = DACConfig(hidden=(8,), n_options=2, normalize_advantage=False, ent_coef=0.0, ent_coef_high=0.02)
    learner = DACLearner(OBS_SPACE, BOX_ACTIONS, cfg)
    batch = tiny_batch(learner.policy, seed=1)
    out = learner.policy(batch.obs)
    high, _ = learner.high_loss(out, batch)
    low, _ = learner.low_loss(out, batch)
    o = {k: v.detach().numpy() for k, v in out._asdict().items() if v is not None}
    b = {k: v.numpy() for k, v in batch._asdict().items()}
    high_terms, low_terms = [], []
    for i in range(len(b["options"])):
        w, w_prev = b["options"][i], b["prev_options"][i]
        pi = np.exp(o["master_log_probs"][i])
        beta = 1 / (1 + math.exp(-o["termination_logits"][i, w_prev]))
        pi_hat = pi.copy() if b["starts"][i] else beta * pi + (1 - beta) * (np.arange(2) == w_prev)
        ratio = pi_hat[w] / math.exp(b["log_probs_high"][i])
        entropy = -(pi_hat * np.log(pi_hat)).sum()
        v_high = float(b["pi_hat"][i] @ o["q"][i])  # the collecting pi_hat weights the current Q
        high_terms.append(
            -clip_term(ratio, b["advantages_high"][i]) - 0.02 * entropy + 0.5 * (v_high - b["returns_high"][i]) ** 2
        )
        log_pi = gaussian_log_prob(b["actions"][i], o["loc"][i, w], o["log_std"][w])
        ratio = math.exp(log_pi - b["log_probs"][i])
        low_terms.append(-clip_term(ratio, b["advantages"][i]) + 0.5 * (o["q"][i, w] - b["returns"][i]) ** 2)
    assert high.item() == pytest.approx(np.mean(high_terms), rel=1e-5)
    assert low.item() == pytest.approx(np.mean(low_terms), rel=1e-5)


def test_dac_passes_move_only_their_own_mdps_actor() -> None:
    """The high pass moves beta and pi_Omega (and the critic), never pi_w; the low pass that follows moves pi_w and
    leaves beta and pi_Omega exactly as the high pass left them, although Adam then holds momentum for them."""
    cfg = DACConfig(hidden=(8,), n_options=2, learning_rate=1e-2, batch_size=6, n_epochs=3)
    learner = DACLearner(OBS_SPACE, BOX_ACTIONS, cfg)
    batch = tiny_batch(learner.policy, seed=2)
    net = learner.policy

    def outputs() -> dict[str, torch.Tensor]:
        with torch.no_grad():
            out = net(batch.obs)
        return {"loc": out.loc, "log_std": out.log_std.clone(), "beta": out.termination_logits,
                "master": out.master_log_probs, "q": out.q}  # fmt: skip

    def moved(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
        return {key for key in before if not torch.equal(after[key], before[key])}

    start = outputs()
    learner._run_epochs(batch, learner.high_loss, "high/")
    after_high = outputs()
    assert moved(start, after_high) == {"beta", "master", "q"}  # the policies' loc and log_std stay
    learner._run_epochs(batch, learner.low_loss, "")
    assert moved(after_high, outputs()) == {"loc", "log_std", "q"}  # beta and the master stay


def test_master_advantages_are_standardised_over_the_rows_it_chose() -> None:
    from hrlkit.learners.option_ppo import normalize_where

    x = t([2.0, 2.0, 0.0, 4.0])
    out = normalize_where(x, torch.tensor([False, False, True, True]))
    assert out[2].item() == pytest.approx(-2 / math.sqrt(8), rel=1e-6)
    assert out[3].item() == pytest.approx(2 / math.sqrt(8), rel=1e-6)
    # fewer than two chosen rows: left as they are
    assert torch.equal(normalize_where(x, torch.tensor([False, True, False, False])), x)


def test_ppoc_standardises_master_advantages_over_the_rollout_not_the_minibatch() -> None:
    # 12 rows, the master chose at 3 of them (raw advantages 30, 40, 50); minibatches of 4 hold 0-3 of those rows.
    # Over the rollout: mean 40, std 10 -> -1, 0, 1 wherever the row lands; per minibatch a lone row would stay at
    # its raw 30-50 and a pair would become -0.71 / 0.71.
    cfg = PPOCConfig(hidden=(8,), n_options=2, batch_size=4, n_epochs=3)
    learner = PPOCLearner(OBS_SPACE, BOX_ACTIONS, cfg)
    batch = tiny_batch(learner.policy, n=12)
    chose = torch.zeros(12, dtype=torch.bool)
    chose[[0, 5, 9]] = True
    raw = torch.full((12,), 1000.0)  # rows where the master did not choose: never read
    raw[[0, 5, 9]] = torch.tensor([30.0, 40.0, 50.0])
    batch = batch._replace(chose=chose, starts=torch.zeros(12, dtype=torch.bool), advantages_master=raw)
    seen = []
    loss_fn = learner.minibatch_loss

    def spy(out, minibatch):  # noqa: ANN001, ANN202
        seen.extend(minibatch.advantages_master[minibatch.chose].tolist())
        return loss_fn(out, minibatch)

    learner.minibatch_loss = spy
    torch.manual_seed(0)
    learner.update(batch)
    assert sorted(seen) == pytest.approx([-1.0] * 3 + [0.0] * 3 + [1.0] * 3, abs=1e-6)  # 3 epochs x 3 rows


# ---------------------------------------------------------------------------------------------- the agent
def test_agent_runs_options_call_and_return() -> None:
    cfg = PPOCConfig(hidden=(8,), n_options=3, n_steps=50)
    learner = PPOCLearner(OBS_SPACE, BOX_ACTIONS, cfg)
    with torch.no_grad():  # beta = sigmoid(-30) for every option: no running option ever terminates
        learner.policy.termination_head.bias.fill_(-30.0)
    agent = OptionRolloutAgent(learner, cfg, n_envs=4)
    torch.manual_seed(0)
    obs = np.zeros((4, 3), np.float32)
    for step in range(5):
        agent.act(obs)
        done = np.array([False, False, step == 2, False])
        agent.observe((obs, None, np.zeros(4), obs, done, np.zeros(4, bool), {}))
    buf = agent.buffer
    # the master chooses at an episode's first step only (env 2's episode ended at step 2, so it chooses at step 3)
    expected = np.zeros((5, 4), bool)
    expected[0] = True
    expected[3, 2] = True
    np.testing.assert_array_equal(buf.chose[:5], expected)
    np.testing.assert_array_equal(buf.starts[:5], expected)
    for env in (0, 1, 3):  # the option never changes without a choice
        assert len(set(buf.options[:5, env])) == 1
    np.testing.assert_array_equal(buf.prev_options[1:5], buf.options[:4])
    # deterministic predict keeps a running option while beta < 0.5, and starts with the greedy option
    state = np.array([2, 1, 0, 2])
    _, kept = agent.predict(obs, state, np.zeros(4, bool))
    np.testing.assert_array_equal(kept, state)
    _, fresh = agent.predict(obs, state, np.ones(4, bool))
    with torch.no_grad():
        greedy = learner.policy(torch.as_tensor(obs)).master_log_probs.argmax(-1).numpy()
    np.testing.assert_array_equal(fresh, greedy)


def test_bad_option_config_is_refused_before_the_run_dir_is_made(tmp_path) -> None:  # noqa: ANN001
    from hrlkit import DAC, OptionCritic
    from hrlkit.errors import HrlkitError

    with pytest.raises(HrlkitError, match="n_options"):
        PPOCLearner(OBS_SPACE, BOX_ACTIONS, PPOCConfig(n_options=0))
    # an algorithm's own rules are checked with every field's range, before anything is written
    with pytest.raises(HrlkitError, match="shared_encoder does not apply"):
        DAC("CartPole-v1", shared_encoder=True, run_dir=tmp_path / "dac", verbose=0)
    with pytest.raises(HrlkitError, match="critic_loss must be huber or mse"):
        OptionCritic("CartPole-v1", critic_loss="l1", run_dir=tmp_path / "oc", verbose=0)
    assert not (tmp_path / "dac").exists() and not (tmp_path / "oc").exists()
