"""Tiny envs for the tests: `PointForTests-v0` (Box obs and actions, numpy rendering) registers on import.

Used through Gymnasium's "module:EnvId" form, e.g. `--env tests.envs_for_tests:PointForTests-v0`, so the CLI can make
them in a subprocess (PYTHONPATH holds the repository root). Rendering draws with numpy, so videos need no pygame.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class PointEnv(gym.Env):
    """A point in the unit square pushed by its action towards the origin; 50-step episodes (TimeLimit).

    Args:
        nan_after: after this many `step` calls on this instance, the observation is NaN (None: never). Counts over
            episodes, so a fresh evaluation env stays finite while the training env fails.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None, nan_after: int | None = None) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.render_mode = render_mode
        self.nan_after = nan_after
        self.steps = 0  # over the instance's life
        self.t = 0  # in the episode
        self.pos = np.zeros(2, np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-1.0, 1.0, 2).astype(np.float32)
        self.t = 0
        return self.pos.copy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.steps += 1
        self.t += 1
        self.pos = np.clip(self.pos + 0.1 * np.asarray(action, np.float32), -1.0, 1.0)
        reward = -float(np.linalg.norm(self.pos))
        obs = self.pos.copy()
        if self.nan_after is not None and self.steps >= self.nan_after:
            obs[:] = np.nan
        return obs, reward, False, False, {}

    def render(self) -> np.ndarray:
        frame = np.full((32, 32, 3), 255, np.uint8)  # (H, W, 3)
        x, y = ((np.nan_to_num(self.pos) + 1.0) * 15.5).astype(int)
        frame[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = (200, 30, 30)
        frame[0, : self.t % 32] = 0  # the episode step as a bar, so no two frames of an episode are alike
        frame[1, : self.t // 32] = 0
        return frame


gym.register("PointForTests-v0", entry_point=PointEnv, max_episode_steps=50)


class NoRenderModeEnv(PointEnv):
    """A PointEnv whose constructor takes no `render_mode` (many user envs): `gym.make` makes it, so must hrlkit."""

    def __init__(self) -> None:
        super().__init__()


gym.register("NoRenderModeForTests-v0", entry_point=NoRenderModeEnv, max_episode_steps=50)
