"""Goal relabelling, as pure functions: HIRO's off-policy correction (below) and HER's goal sampling (`her_goal_rows`).

HIRO's off-policy correction (Nachum et al. 2018, arXiv:1805.08296, Section 3.3, Eq. 5), as one batched function.

A high-level transition (s_t, g_t, sum R, s_{t+c}) was collected while an *older* low-level policy pursued g_t. To
train the high level as if the *current* low level had been in charge, the stored goal is replaced by the goal that
makes the stored low-level actions most likely under the current low-level policy:

    g~ = argmax_{g~ in candidates} log mu_low(a_t:t+c-1 | s_t:t+c-1, g~_t:t+c-1)
       ~ argmax  -1/2 sum_i || (a_i - mu_low(s_i, g~_i)) / action_scale ||^2        (Gaussian around a deterministic mu)

with the candidate's goal carried along the segment by h, which telescopes:

    g~_{i+1} = s_i + g~_i - s_{i+1}    =>    g~_i = g~_0 + s_0 - s_i                                    (over goal dims)

Candidates (reference implementation): the original goal, the achieved change s_{t+c} - s_t, and `num_samples` draws
from N(s_{t+c} - s_t, (0.5 * goal_half_range)^2), all clipped to the goal range.

Everything runs as one batched forward of the low-level actor over (B x K x c) rows, fed in blocks of `CHUNK_ROWS` rows
so that each block's activations stay in the CPU cache (no loop over samples, candidates or steps); a segment cut short
by an episode end (length k < c) only scores its first k steps. Actions are in the learner's normalised space, where
dividing by the action scale is already done (a_norm = (a - centre) / half_range).

The K candidates of a step share its state: with a `FactoredPolicy` (an MLP actor whose first layer is linear in
[s, g]), W [s; g] + b = (W_s s + b) + W_g g, and the state half, the larger one when states have many more dimensions
than goals (the ant's 105 against 2), is computed once per (segment, step) instead of once per candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

CHUNK_ROWS = 1024
"""rows of the low-level actor's input per forward pass in the correction (0: all at once); see score_candidates"""


class FactoredPolicy(NamedTuple):
    """mu_low(s, g) = finish(state_part(s), g): the low level's deterministic action with its first layer split.

    Shapes:
        state_part: (N, S) -> (N, H), the first layer's W_s s + b; finish: (..., H), (..., G) -> (..., A), its
        arguments broadcast against each other (a segment's (b, 1, c, H) states against its (b, K, c, G) candidates)
    """

    state_part: Callable[[torch.Tensor], torch.Tensor]
    finish: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


LowPolicy = Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | FactoredPolicy
"""mu_low(s, g) -> normalised actions, as one function or with its first layer split (`FactoredPolicy`)"""


class Relabeled(NamedTuple):
    """The chosen goals and which candidate won.

    Shapes:
        goals: (B, G). choice: (B,) int64 candidate index: 0 original, 1 achieved change, 2.. Gaussian samples.
    """

    goals: torch.Tensor
    choice: torch.Tensor


def hiro_candidates(
    goals: torch.Tensor,
    achieved_seq: torch.Tensor,
    lengths: torch.Tensor,
    goal_low: torch.Tensor,
    goal_high: torch.Tensor,
    num_samples: int = 8,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The (B, K, G) candidate goals, K = num_samples + 2, clipped to [goal_low, goal_high].

    The achieved change uses the segment's real last state s_{t+k} (k = length), not the padded row c.

    Shapes:
        goals: (B, G); achieved_seq: (B, c+1, G); lengths: (B,) int64 in 1..c; goal_low, goal_high: (G,)
    """
    B, _, G = achieved_seq.shape
    last = achieved_seq[torch.arange(B, device=goals.device), lengths]  # (B, G): s_{t+k}
    delta = last - achieved_seq[:, 0]  # (B, G): s_{t+k} - s_t
    sigma = 0.5 * (goal_high - goal_low) / 2.0  # (G,): half of the half-range
    noise = torch.randn(B, num_samples, G, device=goals.device, generator=generator) * sigma  # (B, S, G)
    candidates = torch.cat([goals[:, None], delta[:, None], delta[:, None] + noise], dim=1)  # (B, K, G)
    return torch.maximum(torch.minimum(candidates, goal_high), goal_low)


def score_candidates(
    candidates: torch.Tensor,
    obs_seq: torch.Tensor,
    achieved_seq: torch.Tensor,
    actions_seq: torch.Tensor,
    lengths: torch.Tensor,
    low_policy: LowPolicy,
    chunk_rows: int = CHUNK_ROWS,
) -> torch.Tensor:
    """-sum over valid steps of ||a_i - mu_low(s_i, g~_i)||^2 for every candidate.

    Shapes:
        candidates: (B, K, G); obs_seq: (B, c+1, S); achieved_seq: (B, c+1, G); actions_seq: (B, c, A)
        lengths: (B,) -> scores (B, K)
    """
    B, K, G = candidates.shape
    c = actions_seq.shape[1]
    # g~_i = g~_0 + s_0 - s_i for i < c: the candidate carried along the segment by h.
    offset = achieved_seq[:, :1] - achieved_seq[:, :c]  # (B, c, G): s_0 - s_i
    goal_seq = candidates[:, :, None] + offset[:, None]  # (B, K, c, G)
    # One batched forward over all B*K*c rows, fed in blocks of about `chunk_rows` rows: a block's activations (chunk x
    # hidden) stay in the CPU cache between layers, where the whole batch's (25,600 x 300 floats at B = 128, c = 20)
    # do not.
    if isinstance(low_policy, FactoredPolicy):
        # the state half once per (segment, step), broadcast over the K candidates; blocks of whole segments
        part = low_policy.state_part(obs_seq[:, :c].reshape(B * c, -1)).reshape(B, 1, c, -1)  # (B, 1, c, H)
        per = max(1, chunk_rows // (K * c)) if chunk_rows > 0 else B
        blocks_f = zip(part.split(per), goal_seq.split(per), strict=True)
        pred = torch.cat([low_policy.finish(p, g) for p, g in blocks_f])  # (B, K, c, A)
    else:
        obs = obs_seq[:, None, :c].expand(B, K, c, obs_seq.shape[-1])  # (B, K, c, S), a view
        rows_obs, rows_goals = obs.reshape(B * K * c, -1), goal_seq.reshape(B * K * c, G)
        if chunk_rows <= 0 or B * K * c <= chunk_rows:
            pred = low_policy(rows_obs, rows_goals)
        else:
            blocks = zip(rows_obs.split(chunk_rows), rows_goals.split(chunk_rows), strict=True)
            pred = torch.cat([low_policy(o, g) for o, g in blocks])
    pred = pred.reshape(B, K, c, -1)  # (B, K, c, A)
    sq = (pred - actions_seq[:, None]).pow(2).sum(-1)  # (B, K, c)
    valid = torch.arange(c, device=lengths.device)[None, :] < lengths[:, None]  # (B, c): steps inside the segment
    # Select rather than multiply by the mask: padding that is inf or NaN would survive `* 0` as NaN.
    return -torch.where(valid[:, None], sq, 0.0).sum(-1)  # (B, K)


@torch.no_grad()
def hiro_relabel_goals(
    goals: torch.Tensor,
    obs_seq: torch.Tensor,
    achieved_seq: torch.Tensor,
    actions_seq: torch.Tensor,
    lengths: torch.Tensor,
    low_policy: LowPolicy,
    goal_low: torch.Tensor,
    goal_high: torch.Tensor,
    num_samples: int = 8,
    generator: torch.Generator | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Relabeled:
    """Replace each stored goal by the candidate that best explains the stored low-level actions.

    Args:
        goals: the goals stored with the segments.
        obs_seq: the low level's observations s_t..s_{t+c} (rows past the segment's length are padding).
        achieved_seq: the goal dimensions of those states.
        actions_seq: the low-level actions a_t..a_{t+c-1}, normalised to [-1, 1].
        lengths: steps in each segment (c, or fewer when the episode ended inside it).
        low_policy: the current low level's deterministic action, mu(obs, goal) -> normalised actions, or the same
            with its first layer split (`FactoredPolicy`; equal up to float rounding, and cheaper).
        goal_low, goal_high: the goal range.
        num_samples: Gaussian candidates besides the original goal and the achieved change.
        chunk_rows: rows per forward pass of the low-level actor (cache blocking; 0: one pass); the scores equal one
            pass's up to float rounding.

    Shapes:
        goals (B, G); obs_seq (B, c+1, S); achieved_seq (B, c+1, G); actions_seq (B, c, A); lengths (B,)
        -> Relabeled(goals (B, G), choice (B,))

    Ties go to the lower index, so the original goal wins when nothing explains the actions better.
    """
    assert obs_seq.shape[:2] == achieved_seq.shape[:2] and actions_seq.shape[1] == obs_seq.shape[1] - 1
    candidates = hiro_candidates(goals, achieved_seq, lengths, goal_low, goal_high, num_samples, generator)
    scores = score_candidates(candidates, obs_seq, achieved_seq, actions_seq, lengths, low_policy, chunk_rows)  # (B, K)
    choice = scores.argmax(dim=1)  # (B,): first maximum
    return Relabeled(candidates[torch.arange(len(goals), device=goals.device), choice], choice)


# ------------------------------------------------------------------------------------------------ hindsight (HER)
HER_STRATEGIES = ("future", "final", "episode")


def her_goal_rows(
    t: np.ndarray, first: np.ndarray, last: np.ndarray, strategy: str, rng: np.random.Generator
) -> np.ndarray:
    """The global rows whose achieved goal becomes each sampled step's new goal (Andrychowicz et al. 2017,
    arXiv:1707.01495, Section 3.3, "strategy for sampling goals for replay").

    Step t's transition leads to s_{t+1}, whose achieved goal is stored with row t (as `next_obs`). So row j stands for
    the goal achieved after step j, and:

        future:  j ~ U{t, ..., last}          a goal achieved at the same step or later in the episode
        final:   j = last                     the goal achieved at the end of the episode
        episode: j ~ U{first, ..., last}      any goal achieved in the (stored part of the) episode

    Worked example: t = [5, 5], first = [2, 2], last = [8, 8]: future draws from 5..8, final gives 8, episode 2..8.

    Shapes:
        t, first, last: (B,) int64 global rows, first <= t <= last -> (B,) int64 global rows
    """
    if strategy == "final":
        return last.copy()
    low = t if strategy == "future" else first
    if strategy not in HER_STRATEGIES:
        raise ValueError(f"unknown HER strategy {strategy!r}: use one of {', '.join(HER_STRATEGIES)}")
    # uniform integer in [low, last] for each row: floor(u * (last - low + 1)), u in [0, 1)
    return low + (rng.random(len(t)) * (last - low + 1)).astype(np.int64)
