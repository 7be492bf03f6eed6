"""HER: the replay buffer's episode bookkeeping, goal rows of each strategy by hand, the transform's rewards and
relabelled fraction, and goals that never come from another env, another episode or an overwritten row."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

from hrlkit.agents.her import HindsightRelabel
from hrlkit.buffers import ReplayBuffer
from hrlkit.errors import HrlkitError
from hrlkit.goals.functions import neg_distance_reward
from hrlkit.goals.relabel import her_goal_rows

G = 1
BOX = gym.spaces.Box(-1e6, 1e6, (G,), np.float32)
GOAL_SPACE = gym.spaces.Dict({"observation": BOX, "achieved_goal": BOX, "desired_goal": BOX})
ACT = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)


def goal_obs(achieved: list[float], desired: float = -1.0) -> dict[str, np.ndarray]:
    a = np.array(achieved, np.float32).reshape(-1, G)
    return {"observation": a.copy(), "achieved_goal": a, "desired_goal": np.full_like(a, desired)}


def fill(buf: ReplayBuffer, steps: list[tuple[list[float], list[bool], list[bool]]]) -> None:
    """Each step: next achieved goal per env (the achieved goal after the step, 100 x global row + env by
    convention below), terminated and truncated per env."""
    for achieved, terminated, truncated in steps:
        n = len(achieved)
        buf.add(goal_obs([0.0] * n), np.zeros((n, 1)), np.zeros(n), goal_obs(achieved), np.array(terminated),
                np.array(truncated))  # fmt: skip


# --------------------------------------------------------------------------------------------- episode bookkeeping
def test_two_envs_interleaved_with_a_truncation() -> None:
    """env 0: episode A = rows 0..2 (terminated at 2), B = rows 3..4 (running). env 1: C = rows 0..1 (truncated at 1),
    D = rows 2..4 (running)."""
    buf = ReplayBuffer(8, GOAL_SPACE, ACT, n_envs=2)
    F, T = False, True
    fill(buf, [([0, 1], [F, F], [F, F]), ([100, 101], [F, F], [F, T]), ([200, 201], [T, F], [F, F]),
               ([300, 301], [F, F], [F, F]), ([400, 401], [F, F], [F, F])])  # fmt: skip
    assert buf.ep_start[:5, 0].tolist() == [0, 0, 0, 3, 3] and buf.ep_end[:5, 0].tolist() == [2, 2, 2, -1, -1]
    assert buf.ep_start[:5, 1].tolist() == [0, 0, 2, 2, 2] and buf.ep_end[:5, 1].tolist() == [1, 1, -1, -1, -1]
    first, last = buf.valid_episode_bounds(np.array([1, 3, 0, 2]), np.array([0, 0, 1, 1]))
    assert first.tolist() == [0, 3, 0, 2] and last.tolist() == [2, 4, 1, 4]  # running episodes end at the newest row


def test_an_episode_partly_overwritten_by_the_ring() -> None:
    """capacity 4, one env, one episode of 6 steps: rows 0, 1 now hold global rows 4, 5; the stored part is 2..5."""
    buf = ReplayBuffer(4, GOAL_SPACE, ACT)
    fill(buf, [([100.0 * g], [g == 5], [False]) for g in range(6)])
    assert buf.written == 6 and buf.oldest == 2
    assert buf.global_rows(np.array([0, 1, 2, 3])).tolist() == [4, 5, 2, 3]
    first, last = buf.valid_episode_bounds(np.array([0, 2, 3]), np.zeros(3, np.int64))
    assert first.tolist() == [2, 2, 2] and last.tolist() == [5, 5, 5]  # start 0 clipped to the oldest stored row 2


def test_episode_bookkeeping_survives_a_state_dict_round_trip() -> None:
    buf = ReplayBuffer(4, GOAL_SPACE, ACT, n_envs=2)
    fill(buf, [([g, g], [g == 2, False], [False, g == 3]) for g in range(6)])
    copy = ReplayBuffer(4, GOAL_SPACE, ACT, n_envs=2)
    copy.load_state_dict(buf.state_dict())
    for name in ("ep_start", "ep_end", "running_start"):
        assert np.array_equal(getattr(copy, name), getattr(buf, name)), name
    assert copy.written == buf.written == 6


# ----------------------------------------------------------------------------------------------------- strategies
def test_goal_rows_of_each_strategy_by_hand() -> None:
    t, first, last = np.array([5, 5, 7]), np.array([2, 2, 7]), np.array([8, 8, 7])
    assert her_goal_rows(t, first, last, "final", np.random.default_rng(0)).tolist() == [8, 8, 7]
    future = np.stack([her_goal_rows(t, first, last, "future", np.random.default_rng(s)) for s in range(300)])
    episode = np.stack([her_goal_rows(t, first, last, "episode", np.random.default_rng(s)) for s in range(300)])
    assert set(future[:, 0]) == {5, 6, 7, 8} and set(future[:, 2]) == {7}  # t..last, every value reached
    assert set(episode[:, 0]) == {2, 3, 4, 5, 6, 7, 8}
    with pytest.raises(ValueError, match="unknown HER strategy"):
        her_goal_rows(t, first, last, "past", np.random.default_rng(0))


# ------------------------------------------------------------------------------------------------------ transform
def make_transform(buf: ReplayBuffer, strategy: str = "future", k: int = 4, terminated_fn=None) -> HindsightRelabel:
    reward = lambda achieved, desired, info: neg_distance_reward(achieved, desired)  # noqa: E731
    return HindsightRelabel(buf, reward, terminated_fn, strategy, k, seed=0)


def test_new_goals_come_from_the_same_env_and_episode_and_never_an_overwritten_row() -> None:
    """capacity 6, 2 envs; next achieved goal = 100 x global row + env, so each goal names where it came from."""
    buf = ReplayBuffer(6, GOAL_SPACE, ACT, n_envs=2)
    ends = {0: {3, 6, 9}, 1: {4, 9}}  # terminated rows per env
    fill(buf, [([100.0 * g, 100.0 * g + 1], [g in ends[0], g in ends[1]], [False, False]) for g in range(10)])
    her = make_transform(buf, "episode", k=10**6)  # relabel (almost) everything
    flat = np.arange(12)
    for _ in range(50):
        mask, goals = her.new_goals(flat)
        rows, envs = np.divmod(flat, 2)
        src = goals[mask, 0]
        src_row, src_env = (src // 100).astype(int), (src % 100).astype(int)
        assert np.array_equal(src_env, envs[mask])  # same env
        assert src_row.min() >= buf.oldest  # never an overwritten row (global rows 0..3 are gone)
        first, last = buf.valid_episode_bounds(rows[mask], envs[mask])
        assert np.all((first <= src_row) & (src_row <= last))  # same episode


@pytest.mark.filterwarnings("ignore:HER. the env ended an episode")  # no compute_terminated here: said elsewhere
def test_relabelled_rewards_equal_compute_reward_and_the_fraction_is_k_over_k_plus_1() -> None:
    buf = ReplayBuffer(64, GOAL_SPACE, ACT)
    fill(buf, [([float(g)], [g % 16 == 15], [False]) for g in range(64)])
    her = make_transform(buf, "future", k=4)
    batch = buf.gather(np.random.default_rng(0).integers(0, 64, 4000))
    out, stats = her(batch)
    changed = out.obs["desired_goal"][:, 0] != -1.0
    assert stats["her/relabeled"] == pytest.approx(0.8, abs=0.02)  # 1 - 1/(4 + 1)
    assert changed.sum().item() == round(stats["her/relabeled"] * 4000)
    assert torch.equal(out.next_obs["desired_goal"], out.obs["desired_goal"])
    expected = -torch.abs(out.next_obs["achieved_goal"][:, 0] - out.obs["desired_goal"][:, 0])
    torch.testing.assert_close(out.rewards[changed], expected[changed])
    torch.testing.assert_close(out.rewards[~changed], batch.rewards[~changed])  # real goals keep their rewards
    # future: a goal achieved at the sampled step or later in its episode (16-step episodes, goals = global rows)
    rows = batch.indices[changed].numpy()
    goal_rows = out.obs["desired_goal"][changed, 0].numpy().astype(int)
    assert np.all((goal_rows >= rows) & (goal_rows // 16 == rows // 16))


def test_terminated_is_recomputed_only_for_relabelled_samples() -> None:
    buf = ReplayBuffer(8, GOAL_SPACE, ACT)
    fill(buf, [([float(g)], [False], [g == 7]) for g in range(8)])  # one truncated episode: never terminal
    reached = lambda achieved, desired, info: (achieved == desired).all(-1)  # noqa: E731
    her = make_transform(buf, "future", k=10**6, terminated_fn=reached)
    out, _ = her(buf.gather(np.arange(8)))
    # the goal achieved at the sampled step itself ends the episode for that goal; a later one does not
    achieved_here = out.obs["desired_goal"][:, 0] == out.next_obs["achieved_goal"][:, 0]
    assert torch.equal(out.terminated.bool(), achieved_here)


def test_a_stored_termination_kept_for_a_new_goal_is_said_once() -> None:
    # an env that ends episodes but has no compute_terminated: relabelled samples keep the flag of their original goal
    buf = ReplayBuffer(8, GOAL_SPACE, ACT)
    fill(buf, [([float(g)], [g == 3], [False]) for g in range(8)])
    her = make_transform(buf, "future", k=10**6)
    with pytest.warns(RuntimeWarning, match="has no compute_terminated"):
        out, _ = her(buf.gather(np.arange(8)))
    assert out.terminated.tolist() == [0, 0, 0, 1, 0, 0, 0, 0]  # the stored flags, as the warning says
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per transform: the next batch is quiet
        her(buf.gather(np.arange(8)))
    quiet = make_transform(ReplayBuffer(8, GOAL_SPACE, ACT))
    fill(quiet.buffer, [([float(g)], [False], [g == 7]) for g in range(8)])  # no termination stored: nothing to say
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet(quiet.buffer.gather(np.arange(8)))


def test_non_goal_space_is_refused() -> None:
    with pytest.raises(HrlkitError, match="HER needs a goal env"):
        make_transform(ReplayBuffer(4, BOX, ACT))


# ------------------------------------------------------------------------------------ vectorised termination
@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [("PointMaze_UMaze-v3", {"continuing_task": False}), ("PointMaze_UMaze-v3", {"continuing_task": True}),
     ("AntMaze_UMaze-v5", {"continuing_task": False}), ("FetchReach-v4", {})],
)  # fmt: skip
def test_vectorised_terminated_equals_the_envs_own_function_row_by_row(env_id: str, kwargs: dict) -> None:
    """gymnasium-robotics' maze and robot envs answer `compute_terminated` with one value for a whole batch; the
    vectorised stand-in gives, per row, what the env's own method gives for that row alone (distances around the
    maze's 0.45 included)."""
    import gymnasium as gym
    import gymnasium_robotics

    from hrlkit.agents.her import env_goal_functions
    from hrlkit.envs.wrappers import NegativeDistanceReward

    gym.register_envs(gymnasium_robotics)
    env = NegativeDistanceReward(gym.make(env_id, **kwargs))
    _, terminated = env_goal_functions(env)
    own = env.unwrapped.compute_terminated
    assert terminated is not None and terminated is not own
    rng = np.random.default_rng(0)
    G = env.observation_space["achieved_goal"].shape[0]
    desired = rng.uniform(-2, 2, (200, G))
    offsets = rng.standard_normal((200, G))
    offsets *= rng.uniform(0.0, 0.9, (200, 1)) / np.linalg.norm(offsets, axis=1, keepdims=True)
    achieved = desired + offsets
    expected = np.array([bool(own(a, d, {})) for a, d in zip(achieved, desired, strict=True)])
    np.testing.assert_array_equal(np.asarray(terminated(achieved, desired, [{}] * 200)), expected)
    env.close()


def test_normalisation_comes_after_relabelling_with_the_statistics_of_the_moment() -> None:
    from hrlkit.agents.flat import NormalizeObs
    from hrlkit.agents.pipeline import UpdatePipeline
    from hrlkit.buffers import ObsNormalizer

    buf = ReplayBuffer(16, GOAL_SPACE, ACT)
    fill(buf, [([float(g)], [False], [g == 15]) for g in range(16)])
    norm = ObsNormalizer(GOAL_SPACE, clip=5.0, shared={"desired_goal": "achieved_goal"})
    norm.load_state_dict(
        {"observation.mean": np.array([1.0]), "observation.var": np.array([4.0]), "observation.count": np.array(9.0),
         "achieved_goal.mean": np.array([8.0]), "achieved_goal.var": np.array([16.0]),
         "achieved_goal.count": np.array(9.0)}
    )  # fmt: skip
    seen = []

    class Recorder:
        def update(self, batch):
            from hrlkit.types import UpdateResult

            seen.append(batch)
            return UpdateResult({}, None)

    her = make_transform(buf, "future", k=10**6)
    pipeline = UpdatePipeline(buf, Recorder(), 16, [her, NormalizeObs(norm)])  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    pipeline.step(rng)
    batch = buf.sample(16, np.random.default_rng(0))
    relabelled, _ = make_transform(buf, "future", k=10**6)(batch)  # the same draws: a transform with the same seed
    out = seen[0]
    # goals relabelled first (raw achieved goals 0..15), then mapped by the shared goal statistics: (g - 8) / 4
    torch.testing.assert_close(out.obs["desired_goal"], (relabelled.obs["desired_goal"] - 8.0) / 4.0)
    torch.testing.assert_close(out.next_obs["achieved_goal"], (relabelled.next_obs["achieved_goal"] - 8.0) / 4.0)
    torch.testing.assert_close(out.obs["observation"], (relabelled.obs["observation"] - 1.0) / 2.0)
    torch.testing.assert_close(out.rewards, relabelled.rewards)  # rewards come from the raw goals
    # the buffer keeps raw observations
    assert buf.next_obs["achieved_goal"][15, 0, 0] == 15.0
