"""Small fast envs in plain numpy for tests and examples; importing this module registers their ids."""

import gymnasium as gym

from hrlkit.envs.toy.bit_flipping import BitFlippingEnv
from hrlkit.envs.toy.four_rooms import FourRoomsEnv
from hrlkit.envs.toy.hdqn_chain import HDQNChainEnv
from hrlkit.envs.toy.point_maze import PointMazeEnv

if "hrlkit/PointUMaze-v0" not in gym.registry:
    gym.register("hrlkit/PointUMaze-v0", entry_point=PointMazeEnv, max_episode_steps=100)
if "hrlkit/FourRooms-v0" not in gym.registry:
    gym.register("hrlkit/FourRooms-v0", entry_point=FourRoomsEnv, max_episode_steps=1000)
if "hrlkit/HDQNChain-v0" not in gym.registry:
    gym.register("hrlkit/HDQNChain-v0", entry_point=HDQNChainEnv, max_episode_steps=100)
# No max_episode_steps: the env truncates itself after n_bits steps (its `max_steps`), whatever n_bits is passed.
if "hrlkit/BitFlipping-v0" not in gym.registry:
    gym.register("hrlkit/BitFlipping-v0", entry_point=BitFlippingEnv)

__all__ = ["BitFlippingEnv", "FourRoomsEnv", "HDQNChainEnv", "PointMazeEnv"]
