"""The Four Rooms gridworld, in plain numpy: Option-Critic's tabular test bed.

Sutton, Precup & Singh (1999), "Between MDPs and semi-MDPs", section 3, as used by Bacon, Harb & Precup (2017),
"The Option-Critic Architecture" (arXiv:1609.05140), section 5.1. A 13x13 grid: an outer wall, and inner walls that
split it into four rooms joined by four one-cell hallways; 104 free cells.

    # # # # # # # # # # # # #        row 0
    # . . . . . # . . . . . #
    # . . . . . # . . . . . #
    # . . . . . H . . . . . #        H (3, 6)  = index 25: north hallway (upper-left <-> upper-right)
    # . . . . . # . . . . . #
    # . . . . . # . . . . . #
    # # H # # # # . . . . . #        H (6, 2)  = index 51: west hallway  (upper-left <-> lower-left)
    # . . . . . # # # G # # #        G (7, 9)  = index 62: east hallway  (upper-right <-> lower-right), initial goal
    # . . . . . # . . . . . #
    # . . . . . # . . . . . #
    # . . . . . H . . . . . #        H (10, 6) = index 88: south hallway (lower-left <-> lower-right)
    # . . . . . # . . . . . #
    # # # # # # # # # # # # #        row 12

Observation: `Discrete(104)`, the index of the agent's free cell in row-major order (the free cells read left to
right, top to bottom; `index_to_cell` / `cell_to_index` convert). Actions: `Discrete(4)`, 0 up, 1 down, 2 left,
3 right. The chosen direction is taken with probability 2/3, otherwise one of the other three, 1/9 each; a move into
a wall leaves the agent in place. Reward 1 and `terminated=True` on entering the goal cell, 0 otherwise. Each episode
starts in a free cell drawn uniformly (with `self.np_random`) among all but the goal.

Goal change (Bacon et al. 2017, section 5.1: "after 1000 episodes, the goal is moved to a random location in the lower
right room"): episodes are numbered from 0 by `episode_count`, the number of resets done before the current one.
Episode `k` uses `goal_for_episode(k)`: the initial goal (the east hallway, index 62, unless `goal` is given) while
`k < goal_change_episodes`, then `moved_goal`, a cell of the lower-right room's interior drawn once from
`np.random.default_rng(goal_seed)`, so envs built with the same kwargs agree whatever their reset seeds. The goal is
recomputed from `episode_count` at every reset, so a training loop that restores `episode_count` from a checkpoint
restores the goal too.

Deviation: the paper draws the moved goal at random; here it is a fixed function of `goal_seed` (default 0), for
reproducibility across vector envs and restarts.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

LAYOUT = (
    "#############",
    "#     #     #",
    "#     #     #",
    "#           #",
    "#     #     #",
    "#     #     #",
    "## ####     #",
    "#     ### ###",
    "#     #     #",
    "#     #     #",
    "#           #",
    "#     #     #",
    "#############",
)
_WALLS = np.array([[c == "#" for c in row] for row in LAYOUT], dtype=bool)  # (13, 13)
_FREE_CELLS = np.argwhere(~_WALLS)  # (104, 2)
# _INDEX[row, col] is the free-cell index, -1 on walls; e.g. _INDEX[1, 1] = 0, _INDEX[1, 7] = 5, _INDEX[7, 9] = 62
_INDEX = np.full(_WALLS.shape, -1, dtype=np.int64)
_INDEX[_FREE_CELLS[:, 0], _FREE_CELLS[:, 1]] = np.arange(len(_FREE_CELLS))
for _array in (_WALLS, _FREE_CELLS, _INDEX):
    _array.flags.writeable = False  # shared by every instance through the class attributes


class FourRoomsEnv(gym.Env):
    """Four Rooms gridworld with a noisy move and a goal that changes after `goal_change_episodes` episodes.

    Sutton, Precup & Singh (1999), section 3; Bacon, Harb & Precup (2017), arXiv:1609.05140, section 5.1. See the
    module docstring for the layout, dynamics and goal-change rule.

    Args:
        goal_change_episodes: episodes played with the initial goal before it moves to `moved_goal`; 0 disables.
        goal_seed: seed of the draw of `moved_goal` among the lower-right room's interior cells.
        goal: initial goal cell index; None means the east hallway (index 62). It still moves after
            `goal_change_episodes` episodes; pass `goal_change_episodes=0` to keep it for good.
        success_prob: probability that the chosen direction is taken (the paper's 2/3); the rest is spread evenly
            over the other three directions.
        goal_moved: every episode uses `moved_goal` (the goal of the same `goal_seed` after the move), from the first:
            to evaluate a run trained through the goal change on its moved goal (`hrlkit eval RUN --env-kwargs
            '{goal_moved: true}'`).
        render_mode: None, "rgb_array" (208x208x3 uint8, 16 pixels per cell) or "ansi".

    Attributes:
        episode_count: resets done so far; a training loop may set it (e.g. when restoring a checkpoint) and the next
            reset uses `goal_for_episode(episode_count)`.
        cell: the agent's current free-cell index.
        goal: the current episode's goal cell index.

    Shapes:
        obs: () int in [0, 104); action: () int in [0, 4); render("rgb_array"): (208, 208, 3) uint8.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 10}

    WALLS: np.ndarray = _WALLS  # (13, 13) bool, walls[row, col]
    FREE_CELLS: np.ndarray = _FREE_CELLS  # (104, 2) rows of (row, col), row-major: FREE_CELLS[i] is index i
    _INDEX: np.ndarray = _INDEX
    N_CELLS: int = len(FREE_CELLS)  # 104

    # (row, col) step of each action: 0 up, 1 down, 2 left, 3 right (row grows downwards)
    DIRECTIONS: np.ndarray = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)], dtype=np.int64)  # (4, 2)
    ACTION_NAMES: tuple[str, ...] = ("up", "down", "left", "right")

    HALLWAYS: tuple[int, ...] = (25, 51, 62, 88)  # (3, 6) north, (6, 2) west, (7, 9) east, (10, 6) south
    EAST_HALLWAY: int = 62  # (7, 9): the doorway between the two right-hand rooms; the paper's initial goal
    # interior of the lower-right room: rows 8..11, cols 7..11 (20 cells, hallways excluded)
    LOWER_RIGHT_ROOM: tuple[int, ...] = tuple(int(i) for i in _INDEX[8:12, 7:12].ravel())

    def __init__(
        self,
        goal_change_episodes: int = 1000,
        goal_seed: int = 0,
        goal: int | None = None,
        success_prob: float = 2 / 3,
        goal_moved: bool = False,
        render_mode: str | None = None,
    ) -> None:
        if goal is not None and not 0 <= goal < self.N_CELLS:
            raise ValueError(f"goal must be a free-cell index in [0, {self.N_CELLS}), got {goal}")
        if goal_change_episodes < 0:
            raise ValueError(f"goal_change_episodes must be >= 0, got {goal_change_episodes}")
        if not 0.0 <= success_prob <= 1.0:
            raise ValueError(f"success_prob must be in [0, 1], got {success_prob}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode}")
        self.goal_change_episodes, self.goal_seed = goal_change_episodes, goal_seed
        self.initial_goal = self.EAST_HALLWAY if goal is None else int(goal)
        # a fixed function of goal_seed, never of the reset seeds; excludes the initial goal so the goal really moves
        candidates = [c for c in self.LOWER_RIGHT_ROOM if c != self.initial_goal]
        self.moved_goal = int(candidates[np.random.default_rng(goal_seed).integers(len(candidates))])
        self.success_prob = float(success_prob)
        self.goal_moved = bool(goal_moved)
        self.observation_space = gym.spaces.Discrete(self.N_CELLS)
        self.action_space = gym.spaces.Discrete(4)
        self.render_mode = render_mode
        self.episode_count = 0
        self.goal = self.goal_for_episode(0)
        self.cell = 0 if self.goal != 0 else 1  # placeholder until reset()

    @classmethod
    def index_to_cell(cls, index: int) -> tuple[int, int]:
        """Free-cell index -> (row, col); e.g. 0 -> (1, 1), 62 -> (7, 9)."""
        row, col = cls.FREE_CELLS[index]
        return int(row), int(col)

    @classmethod
    def cell_to_index(cls, row: int, col: int) -> int:
        """(row, col) -> free-cell index; raises ValueError on a wall or outside the grid."""
        if not (0 <= row < cls.WALLS.shape[0] and 0 <= col < cls.WALLS.shape[1]) or cls.WALLS[row, col]:
            raise ValueError(f"({row}, {col}) is not a free cell")
        return int(cls._INDEX[row, col])

    @classmethod
    def next_cell(cls, index: int, direction: int) -> int:
        """The deterministic move once the direction is drawn: one step that way, or stay if it hits a wall."""
        row, col = cls.FREE_CELLS[index] + cls.DIRECTIONS[direction]
        # the outer wall means a neighbour of a free cell is always inside the grid
        return int(index) if cls.WALLS[row, col] else int(cls._INDEX[row, col])

    def position(self, obs: Any) -> np.ndarray:
        """(row, col) of a cell index, float64 (what evaluation records as the agent's position)."""
        return self.FREE_CELLS[int(np.asarray(obs).reshape(-1)[0])].astype(np.float64)

    def goal_for_episode(self, episode: int) -> int:
        """Goal cell index of episode `episode` (numbered from 0): the initial goal, then `moved_goal`."""
        if self.goal_moved or self.goal_change_episodes > 0 and episode >= self.goal_change_episodes:
            return self.moved_goal
        return self.initial_goal

    # EpisodeStateEnv (hrlkit.training.loop): the goal depends on how many episodes came before, so a resumed run
    # sets the count back before it replays the current episode.
    def episode_state(self) -> dict[str, Any]:
        return {"episode_count": int(self.episode_count)}

    def load_episode_state(self, state: dict[str, Any]) -> None:
        self.episode_count = int(state["episode_count"])

    def _info(self) -> dict[str, Any]:
        return {"cell": self.index_to_cell(self.cell), "goal": self.goal}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start episode number `episode_count`; `options={"start": index}` fixes the start cell (tests, plots)."""
        super().reset(seed=seed)
        self.goal = self.goal_for_episode(self.episode_count)
        self.episode_count += 1
        if options is not None and options.get("start") is not None:
            self.cell = int(options["start"])
        else:
            # uniform over the 103 cells other than the goal: draw k in [0, 103) and skip over the goal's index
            k = int(self.np_random.integers(self.N_CELLS - 1))
            self.cell = k + int(k >= self.goal)
        return self.cell, self._info()

    def step(self, action):
        action = int(action)
        # P(direction) = success_prob for the chosen one, (1 - success_prob) / 3 for each other (2/3 and 1/9)
        probs = np.full(4, (1.0 - self.success_prob) / 3)
        probs[action] = self.success_prob
        direction = int(self.np_random.choice(4, p=probs))
        self.cell = self.next_cell(self.cell, direction)
        terminated = self.cell == self.goal
        return self.cell, float(terminated), terminated, False, self._info()

    def render(self) -> np.ndarray | str | None:
        """ "rgb_array": walls dark grey, goal green, agent red, 16 pixels per cell; "ansi": `#` wall, `A`, `G`."""
        if self.render_mode == "ansi":
            chars = np.where(self.WALLS, "#", " ")  # (13, 13)
            chars[self.index_to_cell(self.goal)] = "G"
            chars[self.index_to_cell(self.cell)] = "A"
            return "\n".join("".join(row) for row in chars) + "\n"
        if self.render_mode == "rgb_array":
            scale = 16
            colours = np.full((*self.WALLS.shape, 3), 235, np.uint8)  # (13, 13, 3)
            colours[self.WALLS] = (60, 60, 60)
            colours[self.index_to_cell(self.goal)] = (40, 170, 60)
            colours[self.index_to_cell(self.cell)] = (210, 40, 40)
            return np.repeat(np.repeat(colours, scale, axis=0), scale, axis=1)  # (208, 208, 3)
        gym.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array' or 'ansi' to make().")
        return None
