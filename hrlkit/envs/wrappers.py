"""Small wrappers selected by name from the run config (`--run.wrappers neg_distance`)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from hrlkit.errors import HrlkitError, close_matches


class NegativeDistanceReward(gym.Wrapper):
    """reward = -||achieved_goal - desired_goal||_2 for Dict goal envs (gymnasium-robotics mazes, Fetch).

    HIRO's maze protocol rewards the agent by the negative distance to the goal; gymnasium-robotics offers only a
    sparse reward and a dense exp(-distance). Terminations and infos are the env's own.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        if not (isinstance(space, gym.spaces.Dict) and {"achieved_goal", "desired_goal"} <= set(space.spaces)):
            raise HrlkitError("the neg_distance wrapper needs a Dict observation with achieved_goal and desired_goal")

    def step(self, action: Any):
        obs, _, terminated, truncated, info = self.env.step(action)
        reward = -float(np.linalg.norm(np.asarray(obs["achieved_goal"]) - np.asarray(obs["desired_goal"])))
        return obs, reward, terminated, truncated, info


WRAPPERS: dict[str, type[gym.Wrapper]] = {"neg_distance": NegativeDistanceReward}


def apply_wrappers(env: gym.Env, names: tuple[str, ...] | list[str]) -> gym.Env:
    for name in names:
        if name not in WRAPPERS:
            raise HrlkitError(
                f"unknown wrapper {name!r}{close_matches(name, WRAPPERS)}; available: {', '.join(WRAPPERS)}"
            )
        env = WRAPPERS[name](env)
    return env
