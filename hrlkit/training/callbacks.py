"""Callbacks: user code the training loops call at evaluations and log dumps, which may stop the run.

In the spirit of Stable-Baselines3's callbacks, with the values handed over instead of read from the loop's locals:

    from hrlkit import PPO
    from hrlkit.training.callbacks import StopOnReward

    model = PPO("CartPole-v1", eval_freq=5_000)
    model.learn(200_000, callback=StopOnReward(475.0))      # stops at the first evaluation with mean return >= 475

A callback subclasses `Callback` and overrides what it needs. Returning `False` from `on_eval` or `on_log` stops the
run after the current env step: the loop writes its last log row and a checkpoint (as at the end of the budget), and
`learn` returns; `learn` again (or `hrlkit train --resume`) continues from there. Any other return value continues.
A list of callbacks may be passed where one is expected; they are all called, and any one of them can stop the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class Callback:
    """Base class: every hook does nothing and lets the run continue."""

    def on_start(self, model: Any) -> None:
        """Once per `learn` call, before the first env step; `model` is the `Algorithm` being trained."""

    def on_eval(self, env_steps: int, result: dict[str, float]) -> bool | None:
        """After each evaluation: `result` has `mean_return`, `std_return`, `mean_length` and, when the env
        reports it, `success_rate`. Return False to stop the run."""
        return None

    def on_log(self, env_steps: int, values: dict[str, float]) -> bool | None:
        """After each log dump, with the row just written (`rollout/ep_rew_mean`, `train/...`, `eval/...`,
        `time/env_steps`). Return False to stop the run."""
        return None

    def on_end(self, env_steps: int, stopped: bool) -> None:
        """When `learn` returns: at the end of the budget, or early (`stopped`) because a callback asked."""


class CallbackList(Callback):
    """Several callbacks as one; every hook is called on each, and any one of them may stop the run."""

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = list(callbacks)

    def on_start(self, model: Any) -> None:
        for c in self.callbacks:
            c.on_start(model)

    def on_eval(self, env_steps: int, result: dict[str, float]) -> bool | None:
        answers = [c.on_eval(env_steps, result) for c in self.callbacks]  # all of them run, then any may stop
        return False if any(a is False for a in answers) else None

    def on_log(self, env_steps: int, values: dict[str, float]) -> bool | None:
        answers = [c.on_log(env_steps, values) for c in self.callbacks]
        return False if any(a is False for a in answers) else None

    def on_end(self, env_steps: int, stopped: bool) -> None:
        for c in self.callbacks:
            c.on_end(env_steps, stopped)


def as_callback(callback: Callback | Iterable[Callback] | None) -> Callback:
    """One callback from None, a callback or a list of them."""
    if callback is None:
        return Callback()
    if isinstance(callback, Callback):
        return callback
    callbacks = list(callback)
    if not all(isinstance(c, Callback) for c in callbacks):
        from hrlkit.errors import HrlkitError

        raise HrlkitError("callback must be a hrlkit.training.callbacks.Callback or a list of them")
    return CallbackList(callbacks)


class StopOnReward(Callback):
    """Stop once an evaluation reaches `threshold` (Stable-Baselines3's StopTrainingOnRewardThreshold).

    Args:
        threshold: the value to reach (>=).
        key: which evaluation value: `mean_return` (default) or `success_rate`.
    """

    def __init__(self, threshold: float, key: str = "mean_return") -> None:
        self.threshold, self.key = float(threshold), key

    def on_eval(self, env_steps: int, result: dict[str, float]) -> bool | None:
        value = result.get(self.key)
        return False if value is not None and value >= self.threshold else None


class StopOnNoImprovement(Callback):
    """Stop when `patience` evaluations in a row have not improved on the best `key` by more than `min_delta`
    (Stable-Baselines3's StopTrainingOnNoModelImprovement)."""

    def __init__(self, patience: int, key: str = "mean_return", min_delta: float = 0.0) -> None:
        self.patience, self.key, self.min_delta = int(patience), key, float(min_delta)
        self.best, self.stale = -math.inf, 0

    def on_eval(self, env_steps: int, result: dict[str, float]) -> bool | None:
        value = result.get(self.key)
        if value is None:
            return None
        if value > self.best + self.min_delta:
            self.best, self.stale = value, 0
            return None
        self.stale += 1
        return False if self.stale >= self.patience else None
