"""A point in a U-shaped maze, in plain numpy: HIRO's test bed when MuJoCo is too slow for a test.

The maze is a grid of unit cells (`1` wall, `0` free). The default U: start in the top-left corridor, goal in the
bottom-left one, with a wall between them, so the straight line to the goal runs into the wall and a greedy policy
gets stuck; the way round is about 6 units long.

    1 1 1 1 1
    1 r 0 0 1        r: start (1.5, 1.5)
    1 1 1 0 1
    1 g 0 0 1        g: goal  (1.5, 3.5)
    1 1 1 1 1

Observation: (x, y, goal_x, goal_y) in maze units (float32); with `goal_env=True` a goal env's Dict instead
(`observation` = achieved_goal = (x, y), `desired_goal` = (goal_x, goal_y)) with a vectorised `compute_reward`, the
same -distance through `hrlkit.goals.functions.neg_distance_reward`, for hindsight relabelling. With `random_goal=True` every episode draws its goal
uniformly inside a random free cell (HIRO's maze protocol trains on random goals and evaluates on the fixed one). Action: a velocity in [-1, 1]^2, moved by `max_step` per step; a move that
would end inside a wall is cut per axis (the point slides along walls). Reward: minus the distance to the goal.
`info["is_success"]`: within `success_distance` of the goal. Episodes last `max_episode_steps` (no early end), as in
HIRO's protocol where success is judged at the episode's end.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from hrlkit.goals.functions import neg_distance_reward

U_MAZE = ((1, 1, 1, 1, 1), (1, 0, 0, 0, 1), (1, 1, 1, 0, 1), (1, 0, 0, 0, 1), (1, 1, 1, 1, 1))


class PointMazeEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        maze: tuple[tuple[int, ...], ...] = U_MAZE,
        start: tuple[float, float] = (1.5, 1.5),
        goal: tuple[float, float] = (1.5, 3.5),
        max_step: float = 0.25,
        success_distance: float = 0.5,
        start_noise: float = 0.1,
        random_goal: bool = False,
        goal_env: bool = False,
        render_mode: str | None = None,
    ) -> None:
        self.walls = np.asarray(maze, dtype=bool)  # walls[row, col]; row = y, col = x
        self.start, self.goal = np.asarray(start, np.float64), np.asarray(goal, np.float64)
        self.fixed_goal, self.random_goal = self.goal.copy(), random_goal
        self.free_cells = np.argwhere(~np.asarray(maze, dtype=bool))  # (n, 2) rows of (row, col)
        self.max_step, self.success_distance, self.start_noise = max_step, success_distance, start_noise
        h, w = self.walls.shape
        high = np.array([w, h, w, h], np.float32)
        self.goal_env = goal_env
        if goal_env:
            xy = gym.spaces.Box(np.zeros(2, np.float32), high[:2], dtype=np.float32)
            self.observation_space = gym.spaces.Dict({"observation": xy, "achieved_goal": xy, "desired_goal": xy})
        else:
            self.observation_space = gym.spaces.Box(np.zeros(4, np.float32), high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.render_mode = render_mode
        self.pos = self.start.copy()
        self._markers: list[tuple[np.ndarray, tuple[int, int, int], float]] = []  # drawn by the next render only

    def _free(self, p: np.ndarray) -> bool:
        col, row = int(np.floor(p[0])), int(np.floor(p[1]))
        h, w = self.walls.shape
        return 0 <= row < h and 0 <= col < w and not self.walls[row, col]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.pos = self.start + self.np_random.uniform(-self.start_noise, self.start_noise, 2)
        if self.random_goal:
            row, col = self.free_cells[self.np_random.integers(len(self.free_cells))]
            self.goal = np.array([col, row], np.float64) + self.np_random.uniform(0.1, 0.9, 2)
        return self._obs(), {}

    def _obs(self) -> np.ndarray | dict[str, np.ndarray]:
        if self.goal_env:
            pos = self.pos.astype(np.float32)
            return {"observation": pos, "achieved_goal": pos.copy(), "desired_goal": self.goal.astype(np.float32)}
        return np.concatenate([self.pos, self.goal]).astype(np.float32)

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> np.ndarray:
        """-||achieved - desired||, vectorised over leading dims: the reward `step` gives (float32, like the obs)."""
        return neg_distance_reward(np.asarray(achieved_goal, np.float32), np.asarray(desired_goal, np.float32))

    def step(self, action):
        move = np.clip(np.asarray(action, np.float64), -1.0, 1.0) * self.max_step
        for axis in (0, 1):  # per axis, so the point slides along a wall instead of sticking to it
            trial = self.pos.copy()
            trial[axis] += move[axis]
            if self._free(trial):
                self.pos = trial
        distance = float(np.linalg.norm(self.pos - self.goal))
        info = {"is_success": distance <= self.success_distance, "distance": distance}
        obs = self._obs()
        if self.goal_env:  # the reward hindsight recomputes, from the float32 goals the agent stores
            return obs, float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"])), False, False, info
        return obs, -distance, False, False, info

    def add_marker(
        self, pos: np.ndarray, rgba: tuple[float, ...] = (1.0, 0.55, 0.0, 1.0), radius: float = 0.15
    ) -> None:
        """Draw a disc at `pos` (x, y in maze units) on top of the next `render()` only, like MuJoCo viewers' markers.

        Colour: `rgba` in [0, 1] (alpha ignored). HIRO's evaluation marks the current subgoal this way.
        """
        colour = tuple(int(round(255 * c)) for c in rgba[:3])
        self._markers.append((np.asarray(pos, np.float64)[:2], colour, float(radius)))  # type: ignore[arg-type]

    def render(self) -> np.ndarray:
        """A top-down picture: walls dark, goal green, point red, then any `add_marker` discs; 20 pixels per cell.

        Pixel (row, col) shows the point x = col / 20, y = row / 20: x grows to the right, y downwards.
        """
        scale = 20
        h, w = self.walls.shape
        img = np.full((h * scale, w * scale, 3), 235, np.uint8)
        img[np.kron(self.walls, np.ones((scale, scale), bool))] = (60, 60, 60)
        yy, xx = np.mgrid[0 : h * scale, 0 : w * scale]
        discs = [(self.goal, (40, 170, 60), 0.3), (self.pos, (210, 40, 40), 0.2), *self._markers]
        for centre, colour, radius in discs:
            mask = (xx / scale - centre[0]) ** 2 + (yy / scale - centre[1]) ** 2 <= radius**2
            img[mask] = colour
        self._markers.clear()
        return img
