"""Four Rooms (Bacon et al. 2017, arXiv:1609.05140, sec. 5.1) and the h-DQN chain (Kulkarni et al. 2016,
arXiv:1604.06057, sec. 4.1): layout, dynamics, goal change, rewards, seeding and rendering."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hrlkit.envs.toy  # noqa: F401  (registers the ids)
from hrlkit.envs.toy import FourRoomsEnv, HDQNChainEnv

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3


def _outcome_direction(before: tuple[int, int], after: tuple[int, int]) -> int:
    """Which direction the agent actually moved in, from an open cell (every neighbour free)."""
    step = (after[0] - before[0], after[1] - before[1])
    return {(-1, 0): UP, (1, 0): DOWN, (0, -1): LEFT, (0, 1): RIGHT}[step]


# ---- registration and the Gymnasium checker ----


@pytest.mark.parametrize(("env_id", "max_steps"), [("hrlkit/FourRooms-v0", 1000), ("hrlkit/HDQNChain-v0", 100)])
def test_check_env_passes_without_warnings(env_id, max_steps):
    env = gym.make(env_id)
    assert env.spec.max_episode_steps == max_steps
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports most problems as warnings
        check_env(env.unwrapped)


# ---- Four Rooms: layout ----


def test_four_rooms_layout_has_104_free_cells_and_index_round_trip():
    assert FourRoomsEnv.WALLS.shape == (13, 13)
    assert FourRoomsEnv.WALLS[0].all() and FourRoomsEnv.WALLS[-1].all()
    assert FourRoomsEnv.WALLS[:, 0].all() and FourRoomsEnv.WALLS[:, -1].all()
    assert (~FourRoomsEnv.WALLS).sum() == 104 == FourRoomsEnv.N_CELLS
    assert FourRoomsEnv().observation_space == gym.spaces.Discrete(104)
    for index in range(104):
        assert FourRoomsEnv.cell_to_index(*FourRoomsEnv.index_to_cell(index)) == index
    # row-major order: the first cell is the top-left free one, the last the bottom-right one
    assert FourRoomsEnv.index_to_cell(0) == (1, 1) and FourRoomsEnv.index_to_cell(103) == (11, 11)
    with pytest.raises(ValueError):
        FourRoomsEnv.cell_to_index(0, 0)


def _components(free: np.ndarray) -> int:
    """Number of 4-connected components of the True cells (plain flood fill)."""
    seen = np.zeros_like(free)
    count = 0
    for start in map(tuple, np.argwhere(free)):
        if seen[start]:
            continue
        count += 1
        stack = [start]
        seen[start] = True
        while stack:
            r, c = stack.pop()
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                n = (r + dr, c + dc)
                if free[n] and not seen[n]:
                    seen[n] = True
                    stack.append(n)
    return count


def test_four_rooms_has_four_one_cell_hallways_joining_four_rooms():
    walls = FourRoomsEnv.WALLS
    # a hallway: a free cell squeezed between two walls on opposite sides
    hallways = [
        (r, c)
        for r, c in np.argwhere(~walls)
        if (walls[r - 1, c] and walls[r + 1, c]) or (walls[r, c - 1] and walls[r, c + 1])
    ]
    assert sorted(FourRoomsEnv.cell_to_index(r, c) for r, c in hallways) == sorted(FourRoomsEnv.HALLWAYS)
    assert len(hallways) == 4
    free = ~walls
    assert _components(free) == 1
    without_hallways = free.copy()
    for r, c in hallways:
        without_hallways[r, c] = False
    assert _components(without_hallways) == 4  # the four rooms
    # the east hallway joins the two right-hand rooms (cells above and below it lie right of the middle wall)
    row, col = FourRoomsEnv.index_to_cell(FourRoomsEnv.EAST_HALLWAY)
    assert (row, col) == (7, 9) and FourRoomsEnv.EAST_HALLWAY == 62
    assert walls[row, col - 1] and walls[row, col + 1] and col > 6
    room = [FourRoomsEnv.index_to_cell(i) for i in FourRoomsEnv.LOWER_RIGHT_ROOM]
    assert len(room) == 20 and all(8 <= r <= 11 and 7 <= c <= 11 for r, c in room)


# ---- Four Rooms: dynamics ----


def test_wall_bumps_keep_the_position():
    cell = FourRoomsEnv.cell_to_index
    corner = cell(1, 1)
    assert FourRoomsEnv.next_cell(corner, UP) == corner
    assert FourRoomsEnv.next_cell(corner, LEFT) == corner
    assert FourRoomsEnv.next_cell(corner, DOWN) == cell(2, 1)
    assert FourRoomsEnv.next_cell(corner, RIGHT) == cell(1, 2)
    east = FourRoomsEnv.EAST_HALLWAY  # (7, 9): walls left and right
    assert FourRoomsEnv.next_cell(east, LEFT) == east and FourRoomsEnv.next_cell(east, RIGHT) == east
    assert FourRoomsEnv.next_cell(east, UP) == cell(6, 9) and FourRoomsEnv.next_cell(east, DOWN) == cell(8, 9)
    # through step(): from the corner every outcome is a stay, one down or one right; stays are up + left = 2/3 + 1/9
    env = FourRoomsEnv(goal_change_episodes=0)
    env.reset(seed=0)
    stays = 0
    n = 2000
    for _ in range(n):
        env.reset(options={"start": corner})
        obs, reward, terminated, truncated, info = env.step(UP)
        assert obs in (corner, cell(2, 1), cell(1, 2))
        assert info["cell"] == FourRoomsEnv.index_to_cell(obs)
        stays += obs == corner
    assert abs(stays / n - 7 / 9) < 0.04  # std ~0.009


@pytest.mark.parametrize("action", [UP, DOWN, LEFT, RIGHT])
def test_action_outcome_frequencies_are_two_thirds_and_one_ninth(action):
    # 3000 steps per action from an open cell: std of a frequency is ~0.0086 at 2/3 and ~0.0057 at 1/9, so
    # tolerances of 0.03 and 0.025 are about 3.5 and 4.4 std (the seed is fixed, so the test is deterministic)
    env = FourRoomsEnv(goal_change_episodes=0)
    start = FourRoomsEnv.cell_to_index(2, 2)
    assert all(FourRoomsEnv.next_cell(start, d) != start for d in range(4))
    env.reset(seed=123)
    n = 3000
    counts = np.zeros(4)
    for _ in range(n):
        env.reset(options={"start": start})
        _, _, _, _, info = env.step(action)
        counts[_outcome_direction((2, 2), info["cell"])] += 1
    freqs = counts / n
    for direction in range(4):
        if direction == action:
            assert abs(freqs[direction] - 2 / 3) < 0.03, freqs
        else:
            assert abs(freqs[direction] - 1 / 9) < 0.025, freqs


def test_reaching_the_goal_gives_reward_one_and_terminates():
    env = FourRoomsEnv(goal_change_episodes=0)
    obs, info = env.reset(seed=1, options={"start": FourRoomsEnv.cell_to_index(5, 9)})
    assert info["goal"] == 62
    for _ in range(200):  # pushing down from (5, 9) funnels into the hallway; the slips only delay it
        obs, reward, terminated, truncated, info = env.step(DOWN)
        assert not truncated
        if terminated:
            break
        assert reward == 0.0 and obs != 62
    assert terminated and reward == 1.0 and obs == 62 and info["cell"] == (7, 9)


def test_start_is_uniform_over_the_cells_other_than_the_goal():
    env = FourRoomsEnv(goal_change_episodes=0)
    env.reset(seed=7)
    starts = np.array([env.reset()[0] for _ in range(20_000)])
    assert (starts != 62).all()
    counts = np.bincount(starts, minlength=104)
    assert (np.delete(counts, 62) > 0).all()
    # expected ~194 per cell, std ~14: every cell within 7 std
    assert np.abs(np.delete(counts, 62) - 20_000 / 103).max() < 100


# ---- Four Rooms: goal change ----


def test_goal_is_the_east_hallway_then_moves_into_the_lower_right_room():
    env = FourRoomsEnv(goal_change_episodes=3)
    goals = [env.reset(seed=i)[1]["goal"] for i in range(6)]
    assert goals[:3] == [62, 62, 62]
    assert goals[3] in FourRoomsEnv.LOWER_RIGHT_ROOM and goals[3] != 62
    assert goals[3:] == [goals[3]] * 3
    assert env.episode_count == 6 and env.goal == goals[3]


def test_moved_goal_depends_on_goal_seed_only_and_episode_count_restores_it():
    counted = FourRoomsEnv(goal_change_episodes=3, goal_seed=5)
    for i in range(4):
        _, info = counted.reset(seed=100 + i)
    restored = FourRoomsEnv(goal_change_episodes=3, goal_seed=5)
    restored.episode_count = 3  # as a training loop does when it restores a checkpoint
    _, restored_info = restored.reset(seed=999)  # a different reset seed does not matter
    assert restored_info["goal"] == info["goal"] == counted.moved_goal
    # through gym.make's wrappers, via .unwrapped
    wrapped = gym.make("hrlkit/FourRooms-v0", goal_change_episodes=3, goal_seed=5)
    wrapped.unwrapped.episode_count = 10
    assert wrapped.reset(seed=0)[1]["goal"] == info["goal"]
    # every goal_seed gives a lower-right room cell, and they are not all the same
    moved = {FourRoomsEnv(goal_seed=s).moved_goal for s in range(20)}
    assert moved <= set(FourRoomsEnv.LOWER_RIGHT_ROOM) and len(moved) > 1


def test_goal_change_zero_disables_and_goal_kwarg_overrides():
    env = FourRoomsEnv(goal_change_episodes=0)
    env.episode_count = 10**6
    assert env.reset(seed=0)[1]["goal"] == 62
    custom = FourRoomsEnv(goal=0, goal_change_episodes=2)
    assert [custom.reset(seed=0)[1]["goal"] for _ in range(2)] == [0, 0]
    assert custom.reset()[1]["goal"] == custom.moved_goal
    with pytest.raises(ValueError):
        FourRoomsEnv(goal=104)


def test_goal_moved_uses_the_moved_goal_from_the_first_episode():
    # the moved goal of the same goal_seed, whatever the episode count: a run trained through the move is evaluated on
    # the goal it ended with
    trained = FourRoomsEnv(goal_seed=3)
    env = FourRoomsEnv(goal_seed=3, goal_moved=True)
    assert [env.reset(seed=k)[1]["goal"] for k in range(3)] == [trained.moved_goal] * 3 != [62] * 3


# ---- Four Rooms: seeding and rendering ----


def _rollout(env: gym.Env, seed: int, n_steps: int = 300) -> list:
    obs, _ = env.reset(seed=seed)
    actions = np.random.default_rng(0).integers(4, size=n_steps)
    trajectory = [obs]
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(int(action))
        trajectory.append((obs, reward, terminated))
        if terminated or truncated:
            obs, _ = env.reset()
            trajectory.append(obs)
    return trajectory


def test_four_rooms_same_seed_same_trajectory():
    a, b = gym.make("hrlkit/FourRooms-v0"), gym.make("hrlkit/FourRooms-v0")
    assert _rollout(a, 3) == _rollout(b, 3)
    assert _rollout(a, 3) != _rollout(b, 4)


def test_four_rooms_render_modes():
    env = gym.make("hrlkit/FourRooms-v0", render_mode="rgb_array")
    env.reset(seed=0, options={"start": 0})
    img = env.render()
    assert img.shape == (208, 208, 3) and img.dtype == np.uint8
    assert tuple(img[16 * 1 + 8, 16 * 1 + 8]) == (210, 40, 40)  # agent at (1, 1)
    assert tuple(img[16 * 7 + 8, 16 * 9 + 8]) == (40, 170, 60)  # goal at (7, 9)
    assert tuple(img[8, 8]) == (60, 60, 60)  # wall at (0, 0)
    text = gym.make("hrlkit/FourRooms-v0", render_mode="ansi")
    text.reset(seed=0, options={"start": 0})
    rows = text.render().splitlines()
    assert len(rows) == 13 and rows[1][1] == "A" and rows[7][9] == "G" and rows[0] == "#" * 13


# ---- h-DQN chain ----


def test_chain_scripted_episode_visiting_s6_gets_one():
    env = HDQNChainEnv(right_prob=1.0)  # deterministic 'right' so the script is exact
    obs, info = env.reset(seed=0)
    assert obs == 1 and info == {"visited_s6": False}
    states, rewards = [obs], []
    for action in [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]:  # s2 -> s6, one more 'right' stays at s6, then back to s1
        obs, reward, terminated, truncated, info = env.step(action)
        states.append(obs)
        rewards.append(reward)
    assert states == [1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0]
    assert rewards == [0.0] * 9 + [1.0]
    assert terminated and info["visited_s6"]


def test_chain_scripted_episode_not_visiting_s6_gets_one_hundredth():
    env = HDQNChainEnv(right_prob=1.0)
    env.reset(seed=0)
    steps = [env.step(a) for a in [1, 1, 0, 0, 0]]  # s3, s4, s3, s2, s1
    assert [s[0] for s in steps] == [2, 3, 2, 1, 0]
    assert [s[1] for s in steps] == [0.0, 0.0, 0.0, 0.0, 0.01]
    assert [s[2] for s in steps] == [False] * 4 + [True]
    assert not steps[-1][4]["visited_s6"]
    env.reset()
    obs, reward, terminated, _, _ = env.step(0)  # straight left from s2
    assert (obs, reward, terminated) == (0, 0.01, True)


def test_chain_reward_matches_hand_computation_with_default_dynamics():
    # a policy that heads right until s6, then left; the reward is recomputed from the visited states
    env = gym.make("hrlkit/HDQNChain-v0")
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        visited, total, terminated, truncated = [obs], 0.0, False, False
        while not (terminated or truncated):
            action = 0 if 5 in visited else 1
            obs, reward, terminated, truncated, info = env.step(action)
            assert abs(obs - visited[-1]) == 1 or obs == visited[-1] == 5
            visited.append(obs)
            total += reward
        if terminated:
            assert visited[-1] == 0 and 0 not in visited[:-1]
            assert total == (1.0 if 5 in visited else 0.01)
            assert info["visited_s6"] == (5 in visited)


def test_chain_left_is_deterministic_and_right_succeeds_half_the_time():
    env = HDQNChainEnv()
    env.reset(seed=0)
    for state in range(1, 6):
        for _ in range(50):
            env.state = state
            assert env.step(0)[0] == state - 1
    # 4000 'right' steps from s2: std of the success frequency ~0.0079, tolerance 0.03 (~3.8 std)
    n, successes = 4000, 0
    for _ in range(n):
        env.reset()
        obs = env.step(1)[0]
        assert obs in (0, 2)
        successes += obs == 2
    assert abs(successes / n - 0.5) < 0.03
    # at s6, 'right' either stays (success) or slips to s5
    outcomes = set()
    for _ in range(200):
        env.state = 5
        outcomes.add(env.step(1)[0])
    assert outcomes == {4, 5}


def test_chain_same_seed_same_trajectory_and_ansi():
    a, b = gym.make("hrlkit/HDQNChain-v0"), gym.make("hrlkit/HDQNChain-v0")
    actions = np.random.default_rng(0).integers(2, size=300)

    def rollout(env, seed):
        out = [env.reset(seed=seed)[0]]
        for action in actions:
            obs, reward, terminated, truncated, _ = env.step(int(action))
            out.append((obs, reward))
            if terminated or truncated:
                out.append(env.reset()[0])
        return out

    assert rollout(a, 1) == rollout(b, 1)
    assert rollout(a, 1) != rollout(b, 2)
    text = gym.make("hrlkit/HDQNChain-v0", render_mode="ansi")
    text.reset(seed=0)
    assert text.render().startswith("s1 [s2] s3 s4 s5 s6")


# ------------------------------------------------------------------------------ the toy maze as a goal env
def test_point_maze_goal_env_and_evaluation_distances() -> None:
    """`goal_env=True`: Dict observations with the position as observation and achieved goal, a vectorised
    compute_reward equal to the step reward; `evaluate` then reports the final distance and success within each of
    `success_distances`. A still agent ends where it starts, (1.5, 1.5) +- 0.1, 2 +- 0.1 from the goal (1.5, 3.5)."""
    from hrlkit.training.evaluate import evaluate

    env = gym.make("hrlkit/PointUMaze-v0", goal_env=True, start_noise=0.0)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"observation", "achieved_goal", "desired_goal"}
    obs, reward, *_ = env.step(np.array([1.0, 0.0], np.float32))
    np.testing.assert_allclose(obs["achieved_goal"], [1.75, 1.5])
    expected = -np.hypot(1.75 - 1.5, 1.5 - 3.5)
    assert reward == pytest.approx(expected, rel=1e-6)
    batch = env.unwrapped.compute_reward(np.stack([obs["achieved_goal"]] * 3), np.stack([obs["desired_goal"]] * 3))
    np.testing.assert_allclose(batch, [expected] * 3, rtol=1e-6)

    class Still:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            return np.zeros(2, np.float32), None

    result = evaluate(Still(), gym.make("hrlkit/PointUMaze-v0", goal_env=True), 3, success_distances=(1.0, 2.5))
    assert result["final_distance"] == pytest.approx(2.0, abs=0.15)
    assert result["success_within_1"] == 0.0 and result["success_within_2.5"] == 1.0
