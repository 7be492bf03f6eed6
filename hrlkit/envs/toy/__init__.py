"""Small fast envs in plain numpy for tests and examples; importing this module registers their ids."""

import gymnasium as gym

from hrlkit.envs.toy.point_maze import PointMazeEnv

if "hrlkit/PointUMaze-v0" not in gym.registry:
    gym.register("hrlkit/PointUMaze-v0", entry_point=PointMazeEnv, max_episode_steps=100)

__all__ = ["PointMazeEnv"]
