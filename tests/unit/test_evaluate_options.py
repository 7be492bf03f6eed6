"""`evaluate` on an option agent: how long its options run in evaluation, counted by hand."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from hrlkit.training.evaluate import evaluate


class SixSteps(gym.Env):
    """Episodes of exactly six steps, reward 1 each."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return np.zeros(1, np.float32), 1.0, False, self.t >= 6, {}


class ScriptedOptions:
    """Runs the options of `script` (one per step), restarting it at each episode's start; the state is the step."""

    def __init__(self, script: list[int]) -> None:
        self.script = script

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):  # noqa: ANN201
        step = 0 if state is None or episode_start[0] else state + 1
        return np.zeros(1, np.int64)[0], step

    def active_option(self, state: Any) -> np.ndarray:
        return np.array([self.script[state]])


def test_option_run_length_counts_runs_of_one_option() -> None:
    # runs: [0, 0] [1, 1, 1] [0] -> 6 steps in 3 runs per episode
    out = evaluate(ScriptedOptions([0, 0, 1, 1, 1, 0]), SixSteps(), episodes=2)
    assert out["mean_length"] == 6 and out["option_run_length"] == pytest.approx(2.0)
    assert evaluate(ScriptedOptions([2] * 6), SixSteps(), episodes=1)["option_run_length"] == 6.0  # one run
    assert evaluate(ScriptedOptions([0, 1] * 3), SixSteps(), episodes=1)["option_run_length"] == 1.0


def test_agents_without_options_report_no_run_length() -> None:
    class Flat:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):  # noqa: ANN001, ANN201
            return 0, None

    assert "option_run_length" not in evaluate(Flat(), SixSteps(), episodes=1)
