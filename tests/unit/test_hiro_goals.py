"""HIRO's goal pieces: h(s, g, s') and the intrinsic reward by hand, the batched off-policy correction against a plain
per-row loop and against planted goals, and the high-level segment buffer (padding, wrap-around, save/load)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hrlkit.buffers.segments import SegmentBuffer
from hrlkit.errors import HrlkitError
from hrlkit.goals.functions import goal_transition, intrinsic_reward
from hrlkit.goals.relabel import FactoredPolicy, hiro_candidates, hiro_relabel_goals, score_candidates

S, A, GOAL_DIMS = 6, 2, [0, 2, 3]  # state dim, action dim, the state dims the goal lives in
G = len(GOAL_DIMS)
GOAL_LOW = torch.tensor([-2.0, -1.0, -3.0])
GOAL_HIGH = torch.tensor([2.0, 3.0, 1.0])


class LowPolicy(nn.Module):
    """mu(obs, goal) = tanh(MLP(cat(obs, goal))): a small random stand-in for the current low-level actor."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(S + G, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, A))

    @torch.no_grad()
    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([obs, goal], dim=-1)))


def random_segments(seed: int, B: int = 16, c: int = 10, step: float = 0.3):
    """States as a random walk (so s_{t+k} - s_t is a plausible goal), random actions, lengths in 1..c with a full and a
    length-1 segment always present. Returns goals (B, G), obs_seq (B, c+1, S), achieved_seq (B, c+1, G),
    actions_seq (B, c, A), lengths (B,)."""
    g = torch.Generator().manual_seed(seed)
    obs_seq = torch.cumsum(step * torch.randn(B, c + 1, S, generator=g), dim=1)  # (B, c+1, S)
    actions_seq = 2 * torch.rand(B, c, A, generator=g) - 1  # (B, c, A)
    goals = GOAL_LOW + (GOAL_HIGH - GOAL_LOW) * torch.rand(B, G, generator=g)  # (B, G), inside the range
    lengths = torch.randint(1, c + 1, (B,), generator=g)
    lengths[0], lengths[1] = c, 1
    return goals, obs_seq, obs_seq[..., GOAL_DIMS], actions_seq, lengths


def loop_scores(candidates, obs_seq, achieved_seq, actions_seq, lengths, policy) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: one policy call per (sample, candidate, step), the goal carried by h step by step, argmax by hand.
    Returns scores (B, K) and the first maximising candidate (B,)."""
    B, K, _ = candidates.shape
    scores = torch.zeros(B, K)
    choice = torch.zeros(B, dtype=torch.int64)
    for b in range(B):
        for k in range(K):
            goal = candidates[b, k]
            total = 0.0
            for i in range(int(lengths[b])):
                pred = policy(obs_seq[b, i][None], goal[None])[0]  # one row
                total -= float(((actions_seq[b, i] - pred) ** 2).sum())
                goal = goal_transition(achieved_seq[b, i], goal, achieved_seq[b, i + 1])
            scores[b, k] = total
            if scores[b, k] > scores[b, choice[b]]:
                choice[b] = k
    return scores, choice


def actions_from_goals(goals, obs_seq, achieved_seq, lengths, policy) -> torch.Tensor:
    """Plant: the actions the policy takes when pursuing `goals` (carried by h); zero past each segment's length."""
    B, c1, _ = obs_seq.shape
    actions_seq = torch.zeros(B, c1 - 1, A)
    for b in range(B):
        goal = goals[b]
        for i in range(int(lengths[b])):
            actions_seq[b, i] = policy(obs_seq[b, i][None], goal[None])[0]
            goal = goal_transition(achieved_seq[b, i], goal, achieved_seq[b, i + 1])
    return actions_seq


# --- goal transition and intrinsic reward --------------------------------------------------------------------------


def test_goal_transition_and_reward_by_hand_numpy():
    s, g, s_next = np.array([1.0, 2.0]), np.array([3.0, -1.0]), np.array([0.5, 4.0])
    # s + g - s' = (1 + 3 - 0.5, 2 - 1 - 4) = (3.5, -3); reward -sqrt(3.5^2 + 3^2) = -sqrt(21.25)
    np.testing.assert_allclose(goal_transition(s, g, s_next), [3.5, -3.0])
    np.testing.assert_allclose(intrinsic_reward(s, g, s_next), -np.sqrt(21.25))
    # reached the target exactly: s' = s + g -> next goal 0, reward 0
    np.testing.assert_allclose(goal_transition(s, g, s + g), [0.0, 0.0])
    assert intrinsic_reward(s, g, s + g) == 0.0
    assert isinstance(goal_transition(s, g, s_next), np.ndarray)


def test_goal_transition_and_reward_by_hand_torch_batched():
    # (B=2, K=3, G=2); row [b, k] differs only through s' so every result is checkable by hand
    s = torch.tensor([1.0, 2.0]).expand(2, 3, 2)
    g = torch.tensor([[[3.0, -1.0]] * 3, [[0.0, 0.0]] * 3])  # (2, 3, 2)
    s_next = torch.tensor([[0.5, 4.0], [4.0, 1.0], [1.0, 2.0]]).expand(2, 3, 2)
    expected = torch.tensor(
        [
            [[3.5, -3.0], [0.0, 0.0], [3.0, -1.0]],  # 1 + 3 - s'_0, 2 - 1 - s'_1
            [[0.5, -2.0], [-3.0, 1.0], [0.0, 0.0]],  # 1 - s'_0, 2 - s'_1
        ]
    )
    out = goal_transition(s, g, s_next)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 2)
    torch.testing.assert_close(out, expected)
    reward = intrinsic_reward(s, g, s_next)
    assert reward.shape == (2, 3)
    torch.testing.assert_close(
        reward, -torch.tensor([[21.25**0.5, 0.0, 10**0.5], [4.25**0.5, 10**0.5, 0.0]]), rtol=0, atol=1e-6
    )
    # numpy and torch agree on a (B, K, T, G) batch
    x = np.random.default_rng(0).normal(size=(3, 4, 5, 6, G))
    np.testing.assert_allclose(intrinsic_reward(*torch.from_numpy(x)).numpy(), intrinsic_reward(*x), rtol=1e-12)
    assert intrinsic_reward(*x).shape == (4, 5, 6)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_goal_transition_telescopes(backend):
    rng = np.random.default_rng(1)
    states = np.cumsum(rng.normal(size=(50, G)), axis=0)  # s_0 .. s_49
    goal0 = rng.normal(size=G)
    if backend == "torch":
        states, goal0 = torch.from_numpy(states), torch.from_numpy(goal0)
    goal = goal0
    for i in range(1, len(states)):
        # the reward at step i-1 is minus the norm of the goal handed to step i
        assert float(intrinsic_reward(states[i - 1], goal, states[i])) == pytest.approx(
            -float(np.linalg.norm(np.asarray(goal_transition(states[i - 1], goal, states[i])))), abs=1e-12
        )
        goal = goal_transition(states[i - 1], goal, states[i])
        closed_form = goal0 + states[0] - states[i]  # g_i = g_0 + s_0 - s_i
        np.testing.assert_allclose(np.asarray(goal), np.asarray(closed_form), rtol=0, atol=1e-6)


# --- the batched correction against a per-row loop -----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_correction_matches_a_per_row_loop(seed):
    policy = LowPolicy(seed)
    goals, obs_seq, achieved_seq, actions_seq, lengths = random_segments(seed, B=16, c=10)
    assert (lengths < 10).any() and (lengths == 1).any()
    candidates = hiro_candidates(
        goals, achieved_seq, lengths, GOAL_LOW, GOAL_HIGH, 8, torch.Generator().manual_seed(100 + seed)
    )
    assert candidates.shape == (16, 10, G)

    scores = score_candidates(candidates, obs_seq, achieved_seq, actions_seq, lengths, policy)
    ref_scores, ref_choice = loop_scores(candidates, obs_seq, achieved_seq, actions_seq, lengths, policy)
    assert scores.shape == (16, 10)
    torch.testing.assert_close(scores, ref_scores, rtol=1e-4, atol=1e-4)

    out = hiro_relabel_goals(
        goals, obs_seq, achieved_seq, actions_seq, lengths, policy, GOAL_LOW, GOAL_HIGH, 8,
        torch.Generator().manual_seed(100 + seed),
    )  # fmt: skip
    torch.testing.assert_close(out.choice, ref_choice, rtol=0, atol=0)
    torch.testing.assert_close(out.goals, candidates[torch.arange(16), ref_choice], rtol=0, atol=0)
    # random actions: not every sample keeps its goal, so the comparison covers real choices
    assert (out.choice != 0).any()


@pytest.mark.parametrize("chunk_rows", [0, 1, 7, 160, 1600, 5000])
def test_correction_in_row_blocks_matches_the_loop(chunk_rows):
    """Feeding the actor in blocks of rows (cache blocking) gives the loop's scores and choices for any block size,
    including blocks that do not divide B x K x c = 1600 and blocks cutting through a segment."""
    policy = LowPolicy(4)
    goals, obs_seq, achieved_seq, actions_seq, lengths = random_segments(4, B=16, c=10)
    candidates = hiro_candidates(goals, achieved_seq, lengths, GOAL_LOW, GOAL_HIGH, 8, torch.Generator().manual_seed(9))
    ref_scores, ref_choice = loop_scores(candidates, obs_seq, achieved_seq, actions_seq, lengths, policy)
    scores = score_candidates(candidates, obs_seq, achieved_seq, actions_seq, lengths, policy, chunk_rows)
    torch.testing.assert_close(scores, ref_scores, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(scores.argmax(1), ref_choice, rtol=0, atol=0)


# --- planted goals -------------------------------------------------------------------------------------------------


def test_planted_original_goal_is_kept_exactly():
    policy = LowPolicy(7)
    goals, obs_seq, achieved_seq, _, lengths = random_segments(7, B=16, c=10)
    actions_seq = actions_from_goals(goals, obs_seq, achieved_seq, lengths, policy)
    out = hiro_relabel_goals(goals, obs_seq, achieved_seq, actions_seq, lengths, policy, GOAL_LOW, GOAL_HIGH)
    assert out.choice.tolist() == [0] * 16
    assert torch.equal(out.goals, goals)


def test_planted_achieved_change_wins_over_a_wrong_stored_goal():
    policy = LowPolicy(8)
    _, obs_seq, achieved_seq, _, lengths = random_segments(8, B=16, c=10, step=0.2)
    B = len(lengths)
    delta = achieved_seq[torch.arange(B), lengths] - achieved_seq[:, 0]  # (B, G): s_{t+k} - s_t
    assert ((delta > GOAL_LOW) & (delta < GOAL_HIGH)).all(), "the planted goal must lie inside the goal range"
    actions_seq = actions_from_goals(delta, obs_seq, achieved_seq, lengths, policy)
    wrong = torch.where(delta > 0, GOAL_LOW, GOAL_HIGH)  # the far corner of the range
    out = hiro_relabel_goals(wrong, obs_seq, achieved_seq, actions_seq, lengths, policy, GOAL_LOW, GOAL_HIGH)
    assert out.choice.tolist() == [1] * B
    torch.testing.assert_close(out.goals, delta, rtol=0, atol=0)


def test_planted_gaussian_candidate_is_found():
    policy = LowPolicy(9)
    goals, obs_seq, achieved_seq, _, lengths = random_segments(9, B=16, c=10)
    candidates = hiro_candidates(goals, achieved_seq, lengths, GOAL_LOW, GOAL_HIGH, 8, torch.Generator().manual_seed(5))
    actions_seq = actions_from_goals(candidates[:, 5], obs_seq, achieved_seq, lengths, policy)
    out = hiro_relabel_goals(
        goals, obs_seq, achieved_seq, actions_seq, lengths, policy, GOAL_LOW, GOAL_HIGH, 8,
        torch.Generator().manual_seed(5),
    )  # fmt: skip
    assert out.choice.tolist() == [5] * 16
    torch.testing.assert_close(out.goals, candidates[:, 5], rtol=0, atol=0)


# --- short segments ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", ["large", "nan"])
def test_padding_past_the_length_does_not_change_scores(garbage):
    policy = LowPolicy(11)
    goals, obs_seq, achieved_seq, actions_seq, lengths = random_segments(11, B=16, c=10)
    candidates = hiro_candidates(goals, achieved_seq, lengths, GOAL_LOW, GOAL_HIGH, 8, torch.Generator().manual_seed(0))
    before = score_candidates(candidates, obs_seq, achieved_seq, actions_seq, lengths, policy)

    steps = torch.arange(11)[None, :]  # (1, c+1)
    state_pad = steps > lengths[:, None]  # (B, c+1): rows after s_{t+k}
    action_pad = steps[:, :10] >= lengths[:, None]  # (B, c): rows from a_{t+k} on
    fill = float("nan") if garbage == "nan" else 1e4
    obs2, achieved2, actions2 = obs_seq.clone(), achieved_seq.clone(), actions_seq.clone()
    obs2[state_pad] = fill
    achieved2[state_pad] = -fill
    actions2[action_pad] = fill
    after = score_candidates(candidates, obs2, achieved2, actions2, lengths, policy)
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    # and the candidates themselves only read s_t and s_{t+k}
    again = hiro_candidates(goals, achieved2, lengths, GOAL_LOW, GOAL_HIGH, 8, torch.Generator().manual_seed(0))
    torch.testing.assert_close(again, candidates, rtol=0, atol=0)


def test_achieved_change_uses_the_segment_length_not_c():
    # one segment of length 2 inside c = 4: s_{t+2} - s_t = (1, 1, 1); the padded rows say otherwise
    achieved_seq = torch.tensor([[[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [1.0, 1.0, 1.0], [9.0, 9.0, 9.0], [9.0, 9.0, 9.0]]])
    lengths = torch.tensor([2])
    goals = torch.zeros(1, G)
    candidates = hiro_candidates(goals, achieved_seq, lengths, GOAL_LOW, GOAL_HIGH, 3, torch.Generator().manual_seed(0))
    assert candidates.shape == (1, 5, G)
    torch.testing.assert_close(candidates[0, 1], torch.tensor([1.0, 1.0, 1.0]))
    # the full-length reading (9, 9, 9) would be clipped to the top of the range instead
    assert not torch.equal(candidates[0, 1], GOAL_HIGH)


# --- candidate clipping and spread ---------------------------------------------------------------------------------


def test_candidates_are_clipped_to_the_goal_range():
    B = 64
    g = torch.Generator().manual_seed(3)
    goals = 4 * torch.randn(B, G, generator=g)  # many outside the range: the original is clipped too
    achieved_seq = torch.zeros(B, 3, G)
    achieved_seq[:, 1:] = 3 * torch.randn(B, 1, G, generator=g)  # achieved changes in and out of the range
    lengths = torch.full((B,), 2)
    cand = hiro_candidates(goals, achieved_seq, lengths, GOAL_LOW, GOAL_HIGH, 50, g)
    assert cand.shape == (B, 52, G)
    assert ((cand >= GOAL_LOW) & (cand <= GOAL_HIGH)).all()
    torch.testing.assert_close(cand[:, 0], goals.clamp(GOAL_LOW, GOAL_HIGH), rtol=0, atol=0)
    torch.testing.assert_close(cand[:, 1], achieved_seq[:, 2].clamp(GOAL_LOW, GOAL_HIGH), rtol=0, atol=0)
    assert (cand == GOAL_LOW).any() and (cand == GOAL_HIGH).any()  # the clipping was exercised


def test_candidate_noise_is_half_the_half_range():
    # sigma = 0.5 * (high - low) / 2 per goal dim: here (1, 1.5, 0.125)
    low, high = torch.tensor([-2.0, -1.0, 0.0]), torch.tensor([2.0, 5.0, 0.5])
    sigma = torch.tensor([1.0, 1.5, 0.125])
    B, n = 4, 50_000
    centre = (low + high) / 2
    achieved_seq = torch.zeros(B, 2, G)
    achieved_seq[:, 1] = centre  # achieved change = the centre of the range, so clipping sits at +-2 sigma
    cand = hiro_candidates(
        torch.zeros(B, G),
        achieved_seq,
        torch.ones(B, dtype=torch.int64),
        low,
        high,
        n,
        torch.Generator().manual_seed(0),
    )
    noise = (cand[:, 2:] - centre).reshape(-1, G)  # (B * n, G)
    # Clipping at 2 sigma shrinks the plain std, so estimate sigma from the interquartile range (1.349 sigma for a
    # normal), which clipping does not touch; and check the std of the unclipped draws against a truncated normal.
    q = torch.quantile(noise.double(), torch.tensor([0.25, 0.75], dtype=torch.float64), dim=0)
    torch.testing.assert_close((q[1] - q[0]) / 1.3490, sigma.double(), rtol=0.05, atol=0)
    clipped = (noise.abs() >= 2 * sigma - 1e-6).double().mean(0)  # P(|z| >= 2) = 0.0455
    torch.testing.assert_close(clipped, torch.full((G,), 0.0455, dtype=torch.float64), rtol=0.1, atol=0)
    inside = noise.abs() < 2 * sigma - 1e-6
    std_inside = torch.stack([noise[inside[:, j], j].std() for j in range(G)])
    torch.testing.assert_close(std_inside, 0.8796 * sigma, rtol=0.05, atol=0)  # std of N(0,1) truncated to +-2


# --- the segment buffer --------------------------------------------------------------------------------------------

C, SEG_S, SEG_A, SEG_G = 5, 4, 2, 3


def segment(k: int, code: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
    """A segment of k steps whose every number encodes `code`: state row i = code + i, action row i = -(code + i)."""
    states = (code + np.arange(k + 1, dtype=np.float32))[:, None].repeat(SEG_S, 1)  # (k+1, S)
    actions = -(code + np.arange(k, dtype=np.float32))[:, None].repeat(SEG_A, 1)  # (k, A)
    return states, actions, np.full(SEG_G, code, np.float32), 10 * code, k < C


def make_buffer(capacity: int = 3, c: int = C) -> SegmentBuffer:
    return SegmentBuffer(capacity, SEG_S, SEG_A, SEG_G, c)


def test_segment_buffer_pads_short_segments():
    buf = make_buffer()
    buf.add(*segment(5, 100.0))
    buf.add(*segment(3, 200.0))
    assert (len(buf), int(buf.written[0])) == (2, 2)
    np.testing.assert_array_equal(buf.lengths[:2], [5, 3])
    np.testing.assert_array_equal(buf.states[0, :, 0], [100, 101, 102, 103, 104, 105])
    np.testing.assert_array_equal(buf.states[1, :, 0], [200, 201, 202, 203, 203, 203])  # rows past k: the last state
    np.testing.assert_array_equal(buf.actions[1, :, 0], [-200, -201, -202, 0, 0])  # rows past k: zero
    np.testing.assert_array_equal(buf.terminated[:2], [False, True])
    np.testing.assert_array_equal(buf.rewards[:2], [1000.0, 2000.0])


def test_segment_buffer_sample_reads_s_t_plus_k():
    buf = make_buffer()
    buf.add(*segment(5, 100.0))
    buf.add(*segment(3, 200.0))
    batch = buf.sample(32, np.random.default_rng(0))
    idx = batch.indices.numpy()
    assert set(idx.tolist()) == {0, 1}
    assert batch.states_seq.shape == (32, C + 1, SEG_S) and batch.actions_seq.shape == (32, C, SEG_A)
    assert batch.lengths.dtype == torch.int64 and batch.terminated.dtype == torch.float32
    code = np.where(idx == 0, 100.0, 200.0)
    k = np.where(idx == 0, 5, 3)
    np.testing.assert_array_equal(batch.lengths.numpy(), k)
    np.testing.assert_array_equal(batch.next_states.numpy(), (code + k)[:, None].repeat(SEG_S, 1))  # s_{t+k}
    np.testing.assert_array_equal(batch.goals.numpy()[:, 0], code)
    np.testing.assert_array_equal(batch.rewards.numpy(), 10 * code)
    np.testing.assert_array_equal(batch.terminated.numpy(), (idx == 1).astype(np.float32))


def test_segment_buffer_wraps_around_and_overwrites_padding():
    buf = make_buffer(capacity=3)
    for code, k in [(100.0, 5), (200.0, 3), (300.0, 5)]:
        buf.add(*segment(k, code))
    assert (len(buf), int(buf.written[0])) == (3, 3)
    buf.add(*segment(2, 400.0))  # overwrites slot 0, which held a full segment
    assert (len(buf), int(buf.written[0])) == (3, 4)
    np.testing.assert_array_equal(buf.states[0, :, 0], [400, 401, 402, 402, 402, 402])
    np.testing.assert_array_equal(buf.actions[0, :, 0], [-400, -401, 0, 0, 0])  # no rows of the old segment left
    np.testing.assert_array_equal(buf.lengths, [2, 3, 5])
    np.testing.assert_array_equal(buf.goals[:, 0], [400, 200, 300])


def test_segment_buffer_save_load_round_trip(tmp_path):
    buf = make_buffer(capacity=4)
    for code, k in [(100.0, 5), (200.0, 3), (300.0, 1)]:
        buf.add(*segment(k, code))
    np.savez(tmp_path / "seg.npz", **buf.state_dict())
    other = make_buffer(capacity=4)
    with np.load(tmp_path / "seg.npz", allow_pickle=False) as data:
        other.load_state_dict(data)
    assert (len(other), int(other.written[0])) == (3, 3)
    for name in ("states", "actions", "goals", "rewards", "terminated", "lengths", "ep_start", "ep_end"):
        a, b = getattr(buf, name), getattr(other, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    x, y = buf.sample(16, np.random.default_rng(4)), other.sample(16, np.random.default_rng(4))
    for u, v in zip(x, y, strict=True):
        assert (u is None and v is None) or torch.equal(u, v)


def test_segment_buffer_load_with_another_shape_raises_and_leaves_the_buffer_alone(tmp_path):
    buf = make_buffer(capacity=3, c=5)
    for code in (100.0, 200.0, 300.0):  # full: a ring of 2 cannot take it
        buf.add(*segment(5, code))
    np.savez(tmp_path / "seg.npz", **buf.state_dict())
    for other in (make_buffer(capacity=3, c=4), make_buffer(capacity=2, c=5), SegmentBuffer(3, SEG_S, SEG_A, 2, 5)):
        states, actions, goal, reward, terminated = segment(1, 7.0)
        other.add(states, actions, goal[: other.goals.shape[1]], reward, terminated)
        saved = {k: np.copy(v) for k, v in other.state_dict().items()}
        with np.load(tmp_path / "seg.npz", allow_pickle=False) as data, pytest.raises(HrlkitError, match="shape"):
            other.load_state_dict(data)
        for k, v in other.state_dict().items():
            np.testing.assert_array_equal(v, saved[k], err_msg=k)


def test_segment_buffer_rejects_bad_segments():
    buf = make_buffer()
    states, actions, goal, reward, terminated = segment(3, 1.0)
    with pytest.raises(ValueError):
        buf.add(states, actions[:0], goal, reward, terminated)  # k = 0
    with pytest.raises(ValueError):
        buf.add(*segment(C + 1, 1.0))  # k > c
    with pytest.raises(ValueError):
        buf.add(states[:-1], actions, goal, reward, terminated)  # k states instead of k + 1
    with pytest.raises(ValueError):
        buf.add(np.concatenate([states, states[-1:]]), actions, goal, reward, terminated)  # k + 2 states
    assert len(buf) == 0 and buf.written[0] == 0
    with pytest.raises(HrlkitError):
        buf.sample(1, np.random.default_rng(0))


def test_segment_buffer_bad_goal_never_half_overwrites_a_stored_segment():
    buf = make_buffer()
    buf.add(*segment(3, 1.0))
    before = {k: v.copy() for k, v in buf.state_dict().items()}
    buf.written[0] = 3  # capacity 3: the next add would overwrite the stored segment in row 0
    before = {k: v.copy() for k, v in buf._arrays().items()}
    states, actions, goal, reward, terminated = segment(3, 7.0)
    with pytest.raises(ValueError, match="goal"):
        buf.add(states, actions, np.concatenate([goal, goal]), reward, terminated)
    for k, v in buf._arrays().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert buf.written.tolist() == [3]


@pytest.mark.parametrize(
    "broken", [{"drop": "written"}, {"written": [-1]}, {"written": [1, 1]}, {"drop": "running_start"}]
)
def test_segment_buffer_load_refuses_bad_counters(tmp_path, broken):
    buf = make_buffer()
    buf.add(*segment(3, 1.0))
    state = dict(buf.state_dict())
    if "drop" in broken:
        del state[broken["drop"]]
        if broken["drop"] == "written":
            state["pos"] = np.array(10**6)  # what an old-format buffer would hold instead, out of range
    else:
        state["written"] = np.array(broken["written"])
    with pytest.raises(HrlkitError, match="pos/full|written/running_start"):
        make_buffer().load_state_dict(state)

    with pytest.raises(HrlkitError):
        SegmentBuffer(0, SEG_S, SEG_A, SEG_G, C)


def test_segment_buffer_bytes_per_segment():
    # c=5, S=4, A=2, G=3: states 6*4*4 = 96, actions 5*2*4 = 40, goal 3*4 = 12, reward 4, terminated 1, length 8,
    # episode start and end 16; with a 2-dim task goal, achieved goals 6*2*4 = 48 and the desired goal 8 more
    assert make_buffer().bytes_per_segment == 96 + 40 + 12 + 4 + 1 + 8 + 16 == 177
    assert make_buffer(capacity=100).bytes_per_segment == 177
    assert SegmentBuffer(3, SEG_S, SEG_A, SEG_G, C, task_goal_dim=2).bytes_per_segment == 177 + 48 + 8


@pytest.mark.parametrize("chunk_rows", [0, 1, 7, 160, 1600, 5000])
def test_factored_correction_matches_the_loop(chunk_rows):
    """The low actor with its first layer split (the state half once per segment and step, broadcast over the
    candidates, blocks of whole segments) gives the loop's scores and choices for any block size."""
    policy = LowPolicy(5)
    first, rest = policy.net[0], policy.net[1:]
    factored = FactoredPolicy(
        lambda s: nn.functional.linear(s, first.weight[:, :S], first.bias),
        lambda part, g: torch.tanh(rest(part + nn.functional.linear(g, first.weight[:, S:]))),
    )
    goals, obs_seq, achieved_seq, actions_seq, lengths = random_segments(5, B=16, c=10)
    candidates = hiro_candidates(goals, achieved_seq, lengths, GOAL_LOW, GOAL_HIGH, 8, torch.Generator().manual_seed(3))
    ref_scores, ref_choice = loop_scores(candidates, obs_seq, achieved_seq, actions_seq, lengths, policy)
    with torch.no_grad():
        scores = score_candidates(candidates, obs_seq, achieved_seq, actions_seq, lengths, factored, chunk_rows)
    torch.testing.assert_close(scores, ref_scores, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(scores.argmax(1), ref_choice, rtol=0, atol=0)
    assert (ref_choice != 0).any()
