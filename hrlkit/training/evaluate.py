"""Deterministic evaluation on a separate env: mean return, success rate when the env reports one, optional video."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np


class Predictor(Protocol):
    def predict(
        self, obs: Any, state: Any = None, episode_start: np.ndarray | None = None, deterministic: bool = True
    ) -> tuple[np.ndarray, Any]: ...


def episode_success(info: dict[str, Any]) -> float | None:
    """`is_success` (gymnasium-robotics, Stable-Baselines3) or `success` (Meta-World), when the env reports one."""
    for key in ("is_success", "success"):
        if key in info:
            return float(np.asarray(info[key]).item())
    return None


def evaluate(
    agent: Predictor,
    env: gym.Env,
    episodes: int = 10,
    seed: int = 0,
    deterministic: bool = True,
    video_path: str | Path | None = None,
    frame_hook: Any = None,
) -> dict[str, float]:
    """Run `episodes` episodes, seeding episode k with `seed + k`, so every evaluation sees the same start states.

    Args:
        agent: anything with Stable-Baselines3's `predict(obs, state, episode_start, deterministic)`.
        env: a single (not vector) env; with `video_path` it must have render_mode="rgb_array".
        frame_hook: optional `f(frame, agent_state) -> frame` to draw on frames (HIRO draws its subgoal).

    Returns:
        `mean_return`, `std_return`, `mean_length`, and `success_rate` (fraction of episodes whose last step reported
        success) when the env reports it.
    """
    returns, lengths, successes = [], [], []
    frames: list[np.ndarray] = []
    for k in range(episodes):
        obs, info = env.reset(seed=seed + k)
        state, start = None, np.ones(1, dtype=bool)
        done, ep_return, ep_len = False, 0.0, 0
        while not done:
            action, state = agent.predict(obs, state, start, deterministic)
            start = np.zeros(1, dtype=bool)
            obs, reward, terminated, truncated, info = env.step(action)
            ep_return += float(reward)
            ep_len += 1
            done = bool(terminated or truncated)
            if video_path is not None:
                from hrlkit.training.video import render_frame

                frame = render_frame(env)
                frames.append(frame_hook(frame, state) if frame_hook is not None else frame)
        returns.append(ep_return)
        lengths.append(ep_len)
        success = episode_success(info)
        if success is not None:
            successes.append(success)
    if video_path is not None:
        from hrlkit.training.video import write_video

        fps = int(env.metadata.get("render_fps", 30) or 30)
        write_video(frames, video_path, fps=fps)
    out = {
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "mean_length": float(np.mean(lengths)),
    }
    if successes:
        out["success_rate"] = float(np.mean(successes))
    return out
