"""Envs that break Gymnasium's contract, one way each, for the env-contract checks (`tests/smoke/test_env_contract.py`).

Each is a `PointEnv` (tests/envs_for_tests.py) with one method changed; `BROKEN` maps a name to the class and the words
the one-line error must hold.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from tests.envs_for_tests import PointEnv


class WrongResetShape(PointEnv):
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = super().reset(seed=seed)
        return np.zeros(3, np.float32), info


class WrongStepShape(PointEnv):
    def step(self, action):
        obs, *rest = super().step(action)
        return (np.zeros((2, 1), np.float32), *rest)


class MissingDictKey(PointEnv):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        box = self.observation_space
        self.observation_space = gym.spaces.Dict({"observation": box, "achieved_goal": box, "desired_goal": box})

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = super().reset(seed=seed)
        return {"observation": obs, "achieved_goal": obs}, info

    def step(self, action):
        obs, *rest = super().step(action)
        return ({"observation": obs, "achieved_goal": obs, "desired_goal": obs}, *rest)


class OldStepApi(PointEnv):
    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated or truncated, info


class NoneReward(PointEnv):
    def step(self, action):
        obs, _, *rest = super().step(action)
        return (obs, None, *rest)


class RaisesInStep(PointEnv):
    def step(self, action):
        if self.t >= 3:
            raise ValueError("the simulator lost its state")
        return super().step(action)


class HugeReward(PointEnv):
    def step(self, action):
        obs, reward, *rest = super().step(action)
        return (obs, reward * 1e300, *rest)


class OverflowingReward(PointEnv):
    """Finite float32 rewards so large that their squares (the critic's loss) overflow to inf."""

    def step(self, action):
        obs, reward, *rest = super().step(action)
        return (obs, -1e30, *rest)


BROKEN: dict[str, tuple[type[gym.Env], str]] = {
    "WrongResetShape-v0": (WrongResetShape, r"reset\(\) returned an observation of shape \(3,\), its observation space declares \(2,\)"),
    "WrongStepShape-v0": (WrongStepShape, r"step\(\) returned an observation of shape \(2, 1\)"),
    "MissingDictKey-v0": (MissingDictKey, r"reset\(\) (returned an observation with keys|broke Gymnasium's env contract: .*obs keys: \['observation', 'achieved_goal'\])"),
    "OldStepApi-v0": (OldStepApi, r"step\(\)"),
    "NoneReward-v0": (NoneReward, r"step\(\) returned (None as reward|a reward of type NoneType)"),
    "RaisesInStep-v0": (RaisesInStep, r"raised ValueError in step\(\): the simulator lost its state \(.*broken_envs.py:\d+\)"),
    "HugeReward-v0": (HugeReward, r"beyond float32's range"),
}  # fmt: skip

for _name, (_cls, _) in BROKEN.items():
    gym.register(_name, entry_point=_cls, max_episode_steps=50)
gym.register("OverflowingReward-v0", entry_point=OverflowingReward, max_episode_steps=50)
