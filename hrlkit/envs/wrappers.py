"""Small wrappers selected by name from the run config (`--run.wrappers neg_distance`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from hrlkit.errors import HrlkitError, close_matches
from hrlkit.goals.functions import neg_distance_reward


class NegativeDistanceReward(gym.Wrapper):
    """reward = -||achieved_goal - desired_goal||_2 for Dict goal envs (gymnasium-robotics mazes, Fetch).

    HIRO's maze protocol rewards the agent by the negative distance to the goal; gymnasium-robotics offers only a
    sparse reward and a dense exp(-distance). Terminations and infos are the env's own. `compute_reward` gives the
    same reward for any (achieved, desired) pair, vectorised (hindsight relabelling calls it), through the same
    function as `step` (`hrlkit.goals.functions.neg_distance_reward`).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        if not (isinstance(space, gym.spaces.Dict) and {"achieved_goal", "desired_goal"} <= set(space.spaces)):
            raise HrlkitError("the neg_distance wrapper needs a Dict observation with achieved_goal and desired_goal")

    def step(self, action: Any):
        obs, _, terminated, truncated, info = self.env.step(action)
        reward = float(neg_distance_reward(np.asarray(obs["achieved_goal"]), np.asarray(obs["desired_goal"])))
        return obs, reward, terminated, truncated, info

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> np.ndarray:
        return neg_distance_reward(np.asarray(achieved_goal), np.asarray(desired_goal))


def atari(env: gym.Env) -> gym.Env:
    """The standard DQN preprocessing (Mnih et al. 2015; Machado et al. 2018) from Gymnasium's own wrappers.

    Up to 30 no-op actions at reset, 4 frames per action with the max over the last two, 84 x 84 grayscale, 4 frames
    stacked: observations are uint8 (4, 84, 84). No life-loss terminations (Machado et al. advise against them), and
    rewards stay unclipped here so that logged returns are game scores: DQN clips them in its target
    (`--clip-rewards true`, set in the Atari presets). The ALE env must be made with `frameskip=1` (the presets pass
    `env_kwargs: {frameskip: 1}`) since the wrapper does the skipping.
    """
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    if getattr(env.unwrapped, "_frameskip", 1) != 1:
        raise HrlkitError(
            "the atari wrapper skips frames itself: make the env with --env-kwargs '{frameskip: 1}' (the Atari presets "
            "do)"
        )
    env = AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, terminal_on_life_loss=False)
    return FrameStackObservation(env, 4)


WRAPPERS: dict[str, Callable[[gym.Env], gym.Env]] = {"neg_distance": NegativeDistanceReward, "atari": atari}


def apply_wrappers(env: gym.Env, names: tuple[str, ...] | list[str]) -> gym.Env:
    for name in names:
        if name not in WRAPPERS:
            raise HrlkitError(
                f"unknown wrapper {name!r}{close_matches(name, WRAPPERS)}; available: {', '.join(WRAPPERS)}"
            )
        env = WRAPPERS[name](env)
    return env
