"""Goal-conditioned HIRO: the segment buffer's per-env rings and episode structure, hindsight at the high level by hand
on a stored two-segment episode (which goals, which recomputed rewards, shortened segments, order with the
off-policy correction), and what the goal-conditioned agent stores and feeds its high level."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from hrlkit.agents.base import Transition
from hrlkit.agents.hiro import HIROAgent, HIROConfig
from hrlkit.agents.hiro.config import HindsightConfig
from hrlkit.agents.hiro.hindsight import SegmentHindsight
from hrlkit.buffers.segments import SegmentBuffer
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.errors import HrlkitError
from hrlkit.goals.functions import neg_distance_reward
from hrlkit.learners import TD3Config

C, S, A, G, D = 3, 2, 1, 2, 2


def seg(code: float, k: int) -> dict[str, Any]:
    states = code + np.arange(k + 1, dtype=np.float32)[:, None].repeat(S, 1)  # (k+1, S)
    return {
        "states": states, "actions": np.zeros((k, A), np.float32), "goal": np.full(G, code, np.float32),
        "reward": code, "terminated": False, "achieved": states.copy(), "desired": np.full(D, -code, np.float32),
    }  # fmt: skip


# ------------------------------------------------------------------------------------------- per-env rings
def test_each_env_has_its_own_ring_in_order_with_episode_bounds() -> None:
    """Two envs, 2 rows each (capacity 4). Env 0 writes an episode of 3 segments (numbers 0, 1, 2: number 0 is
    overwritten by number 2), env 1 one segment of a running episode. Flat index = row * 2 + env."""
    buf = SegmentBuffer(4, S, A, G, C, n_envs=2, task_goal_dim=D)
    buf.add(**seg(10.0, 3), env=0)
    buf.add(**seg(20.0, 3), env=1)
    buf.add(**seg(11.0, 3), env=0)
    buf.add(**seg(12.0, 2), env=0, episode_end=True)  # number 2 -> row 0
    assert buf.written.tolist() == [3, 1] and len(buf) == 3
    np.testing.assert_array_equal(buf.goals[[0, 1, 2], 0], [12.0, 20.0, 11.0])  # flat 0 = (row 0, env 0), ...
    numbers, envs = buf.global_numbers(np.array([0, 2, 1]))
    assert numbers.tolist() == [2, 1, 0] and envs.tolist() == [0, 0, 1]
    first, last = buf.valid_episode_bounds(np.array([0, 2, 1]))
    assert first.tolist() == [1, 1, 0]  # env 0's episode began at number 0, no longer stored: clipped to 1
    assert last.tolist() == [2, 2, 0]  # closed at 2; env 1's episode still runs: its newest segment
    np.testing.assert_array_equal(buf.achieved[0, :, 0], [12, 13, 14, 14])  # padded with the last achieved goal
    np.testing.assert_array_equal(buf.desired[0], [-12.0, -12.0])
    # Uniform over the 3 stored segments (never the empty row 1 of env 1, flat index 3).
    drawn = buf.sample_indices(3000, np.random.default_rng(0))
    assert set(drawn.tolist()) == {0, 1, 2}
    assert np.allclose(np.bincount(drawn) / 3000, 1 / 3, atol=0.03)


def test_task_goals_of_the_wrong_shape_are_refused_before_any_write() -> None:
    buf = SegmentBuffer(4, S, A, G, C, task_goal_dim=D)
    bad = seg(1.0, 2)
    bad["achieved"] = bad["achieved"][:2]
    with pytest.raises(ValueError, match="achieved"):
        buf.add(**bad)
    assert len(buf) == 0 and buf.written[0] == 0


def test_old_single_ring_state_loads_with_one_env(tmp_path) -> None:
    """A buffer saved before the per-env rings (pos/full, no episode bounds) loads into a one-env buffer; each segment
    is then its own episode."""
    buf = SegmentBuffer(3, S, A, G, C)
    for code in (1.0, 2.0, 3.0, 4.0):
        buf.add(**{k: v for k, v in seg(code, 2).items() if k not in ("achieved", "desired")})
    state = {k: v for k, v in buf.state_dict().items() if k not in ("written", "running_start", "ep_start", "ep_end")}
    state |= {"pos": np.array(1), "full": np.array(True)}
    other = SegmentBuffer(3, S, A, G, C)
    other.load_state_dict(state)
    assert other.written.tolist() == [4] and len(other) == 3
    first, last = other.valid_episode_bounds(np.arange(3))
    assert first.tolist() == last.tolist() == [3, 1, 2]
    with pytest.raises(HrlkitError, match="one ring shared by all envs"):
        SegmentBuffer(6, S, A, G, C, n_envs=2).load_state_dict(
            {**{k: np.concatenate([v, v]) for k, v in state.items() if k not in ("pos", "full")}, "pos": np.array(1),
             "full": np.array(True)}
        )  # fmt: skip


# ------------------------------------------------------------------------------------------------- hindsight
def two_segment_episode() -> SegmentBuffer:
    return fill(SegmentBuffer(8, S, A, G, C, task_goal_dim=D))


def fill(buf: SegmentBuffer) -> SegmentBuffer:
    """One env, c = 3: an episode of two segments, then the start of the next episode.

    Segment 0: achieved goals (0,0) (1,0) (2,0) (3,0), length 3. Segment 1: (3,0) (3,1) (3,2), length 2, truncated
    (episode end, not terminated). Segment 2 (next episode): (9,9) (9,9), length 1. States = achieved goals.
    """
    ach0 = np.array([[0, 0], [1, 0], [2, 0], [3, 0]], np.float32)
    ach1 = np.array([[3, 0], [3, 1], [3, 2]], np.float32)
    ach2 = np.array([[9, 9], [9, 9]], np.float32)
    desired = np.array([5.0, 5.0], np.float32)
    buf.add(ach0, np.zeros((3, A), np.float32), np.zeros(G, np.float32), -1.0, False, achieved=ach0, desired=desired)
    buf.add(
        ach1, np.zeros((2, A), np.float32), np.zeros(G, np.float32), -2.0, False, episode_end=True, achieved=ach1,
        desired=desired,
    )  # fmt: skip
    buf.add(ach2, np.zeros((1, A), np.float32), np.zeros(G, np.float32), -3.0, False, achieved=ach2, desired=desired)
    return buf


def reward_fn(achieved: np.ndarray, desired: np.ndarray, infos: Any) -> np.ndarray:
    return neg_distance_reward(achieved, desired)


def within_half(achieved: np.ndarray, desired: np.ndarray, infos: Any) -> np.ndarray:
    return np.linalg.norm(achieved - desired, axis=-1) < 0.5


@pytest.mark.parametrize("with_termination", [False, True])
def test_final_strategy_by_hand(with_termination: bool) -> None:
    """Strategy final, every segment relabelled (k large). The episode's final goal is segment 1's end, (3, 2).

    Segment 0 with g' = (3, 2): steps reach (1,0) (2,0) (3,0), at distances sqrt(8), sqrt(5), 2; reward = 0.1 x
    -(sqrt 8 + sqrt 5 + 2), never within 0.5: length 3, not terminated.
    Segment 1: (3,1) (3,2): distances 1, 0: reward 0.1 x -1; the last step reaches g' (terminated with a
    compute_terminated, else the stored False), length 2 either way.
    Segment 2 (the next episode, still running): its own end (9, 9), reached at its only step.
    """
    buf = two_segment_episode()
    hindsight = SegmentHindsight(buf, reward_fn, within_half if with_termination else None, 0.1, "final", 10**6)
    batch = buf.gather(np.array([0, 1, 2]))
    out, stats = hindsight(batch)
    np.testing.assert_allclose(out.desired.numpy(), [[3, 2], [3, 2], [9, 9]])
    expected = 0.1 * -np.array([np.sqrt(8) + np.sqrt(5) + 2, 1.0, 0.0])
    np.testing.assert_allclose(out.rewards.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(out.lengths.numpy(), [3, 2, 1])
    np.testing.assert_array_equal(out.terminated.numpy(), [0, 1, 1] if with_termination else [0, 0, 0])
    np.testing.assert_array_equal(out.next_states.numpy(), batch.next_states.numpy())
    assert stats["hiro/hindsight_relabeled"] == 1.0
    # The stored batch is untouched (transforms return a new batch).
    np.testing.assert_array_equal(batch.rewards.numpy(), [-1.0, -2.0, -3.0])


def test_a_goal_reached_inside_a_segment_shortens_it() -> None:
    """Segment 0 relabelled with (2, 0), reached at its second step: with compute_terminated the transition ends
    there: length 2, terminated, reward 0.1 x -(1 + 0), next state s_{t+2}."""
    buf = two_segment_episode()
    hindsight = SegmentHindsight(buf, reward_fn, within_half, 0.1, "future", 10**6)
    hindsight.new_goals = lambda flat: (np.ones(len(flat), bool), np.array([[2.0, 0.0]] * len(flat)))  # type: ignore
    out, stats = hindsight(buf.gather(np.array([0])))
    assert out.lengths.tolist() == [2] and out.terminated.tolist() == [1.0]
    np.testing.assert_allclose(out.rewards.numpy(), [0.1 * -1.0])
    np.testing.assert_array_equal(out.next_states.numpy(), [[2.0, 0.0]])
    assert stats["hiro/hindsight_shortened"] == 1.0


def test_future_goals_come_from_this_or_later_segments_of_the_same_episode() -> None:
    buf = two_segment_episode()
    hindsight = SegmentHindsight(buf, reward_fn, None, 0.1, "future", 10**6, seed=3)
    mask, goals = hindsight.new_goals(np.repeat(np.array([0, 1, 2]), 200))
    assert mask.all()
    ends = {tuple(g) for g in goals[:200].tolist()}
    assert ends == {(3.0, 0.0), (3.0, 2.0)}  # segment 0: its own end or segment 1's
    assert {tuple(g) for g in goals[200:400].tolist()} == {(3.0, 2.0)}  # segment 1: the episode's last
    assert {tuple(g) for g in goals[400:].tolist()} == {(9.0, 9.0)}  # the next episode: never the previous one's


def test_relabel_share_follows_n_sampled_goal() -> None:
    buf = two_segment_episode()
    mask, _ = SegmentHindsight(buf, reward_fn, None, 0.1, "future", 4).new_goals(np.zeros(20_000, np.int64))
    assert abs(mask.mean() - 0.8) < 0.01
    mask, _ = SegmentHindsight(buf, reward_fn, None, 0.1, "future", 0).new_goals(np.zeros(100, np.int64))
    assert not mask.any()


def test_hindsight_runs_before_the_correction_which_sees_the_shortened_segments() -> None:
    """The agent's high-level pipeline: sample, hindsight, correction, update. With every segment relabelled to
    (1, 0), segment 0 ends at its first step (k' = 1), so the correction (which scores steps i < length only) is
    handed length 1 for it; segments 1 and 2 keep theirs (2 and 1)."""
    agent = make_agent(hindsight=HindsightConfig(enabled=True), terminated_fn=within_half)
    assert agent.high_pipeline.transforms == [agent.hindsight, agent.correct_goals]
    fill(agent.high_buffer)
    assert agent.hindsight is not None
    agent.hindsight.new_goals = lambda flat: (np.ones(len(flat), bool), np.array([[1.0, 0.0]] * len(flat)))  # type: ignore
    seen: list[tuple[list[int], list[int]]] = []

    def spy(batch):
        seen.append((batch.indices.tolist(), batch.lengths.tolist()))
        return agent.correct_goals(batch)

    agent.high_pipeline.transforms[1] = spy
    stats = agent.high_pipeline.step(np.random.default_rng(0))
    indices, lengths = seen[0]
    assert lengths == [{0: 1, 1: 2, 2: 1}[i] for i in indices] and 0 in indices
    assert "hiro/relabel_kept_original" in stats and stats["hiro/hindsight_relabeled"] == 1.0


# ------------------------------------------------------------------------------------------- the agent
GOAL_OBS = gym.spaces.Dict(
    {
        "observation": gym.spaces.Box(-10.0, 10.0, (S,), np.float32),
        "achieved_goal": gym.spaces.Box(-10.0, 10.0, (D,), np.float32),
        "desired_goal": gym.spaces.Box(-10.0, 10.0, (D,), np.float32),
    }
)
ACT = gym.spaces.Box(-1.0, 1.0, (A,), np.float32)
TINY = TD3Config(hidden=(8,), batch_size=4)


def make_agent(terminated_fn: Any = None, **changes: Any) -> HIROAgent:
    cfg = HIROConfig(
        high=TINY, low=replace(TINY), high_level_interval=C, goal_indices=(0, 1), goal_low=(-2.0,), goal_high=(2.0,),
        state_keys=("observation",), goal_conditioned=True, high_buffer_size=16,
    )  # fmt: skip
    for k, v in changes.items():
        setattr(cfg, k, v)
    return HIROAgent(
        GOAL_OBS,
        ACT,
        cfg,
        1,
        RunConfig(seed=0, torch_threads=1),
        ReplayConfig(buffer_size=64),
        (reward_fn, terminated_fn),
    )


def goal_obs(x: float, goal: float = 5.0) -> dict[str, np.ndarray]:
    pos = np.array([[x, 0.0]], np.float32)
    return {"observation": pos, "achieved_goal": pos.copy(), "desired_goal": np.full((1, D), goal, np.float32)}


def test_goal_conditioned_agent_stores_task_goals_and_feeds_them_to_the_high_level() -> None:
    agent = make_agent(hindsight=HindsightConfig(enabled=True))
    assert agent.high.flatten.dim == S + D and agent.low.flatten.dim == S + G
    xs = [0.0, 1.0, 2.0, 3.0]
    for t in range(3):
        actions = agent.act(goal_obs(xs[t]))
        agent.observe(
            Transition(goal_obs(xs[t]), actions, np.array([-1.0]), goal_obs(xs[t + 1]), np.array([False]),
                       np.array([False]), [{}])
        )  # fmt: skip
    buf = agent.high_buffer
    assert len(buf) == 1 and buf.lengths[0] == 3
    np.testing.assert_array_equal(buf.achieved[0, :, 0], xs)
    np.testing.assert_array_equal(buf.desired[0], [5.0, 5.0])
    batch = buf.gather(np.array([0]))
    learner_batch = agent.high_transitions(batch)
    np.testing.assert_array_equal(learner_batch.obs.numpy(), [[0.0, 0.0, 5.0, 5.0]])  # [s_t, g*]
    np.testing.assert_array_equal(learner_batch.next_obs.numpy(), [[3.0, 0.0, 5.0, 5.0]])  # [s_{t+k}, g*]
    # predict takes the same path: its goals come from [state, desired goal].
    a1, _ = agent.predict({k: v[0] for k, v in goal_obs(0.0, goal=5.0).items()})
    a2, _ = agent.predict({k: v[0] for k, v in goal_obs(0.0, goal=-5.0).items()})
    assert a1.shape == (A,) and not np.array_equal(a1, a2)


@pytest.mark.parametrize(
    ("changes", "obs_space", "message"),
    [
        ({"goal_conditioned": False, "hindsight": HindsightConfig(enabled=True)}, GOAL_OBS, "set goal_conditioned"),
        ({"state_keys": ("observation", "desired_goal")}, GOAL_OBS, "drop it from state_keys"),
        ({"state_keys": ("observation",)}, gym.spaces.Dict({"observation": GOAL_OBS["observation"]}), "goal env"),
    ],
)
def test_goal_conditioning_errors(changes: dict[str, Any], obs_space: gym.Space, message: str) -> None:
    cfg = HIROConfig(
        high=TINY, low=replace(TINY), goal_indices=(0, 1), state_keys=("observation",), goal_conditioned=True
    )
    for k, v in changes.items():
        setattr(cfg, k, v)
    with pytest.raises(HrlkitError, match=message):
        HIROAgent(obs_space, ACT, cfg, 1, RunConfig(seed=0), ReplayConfig(buffer_size=64), (reward_fn, None))
