"""Deterministic evaluation on a separate env: mean return, success rate when the env reports one, optional video,
optional trajectories (where the agent went, and the subgoals its high level chose) for `hrlkit plot --trajectories`.

Agents may offer two optional methods, which evaluation uses when present:
    position(obs) -> np.ndarray | None      the goal dimensions of one observation, (G,)
    subgoal(state) -> Subgoal | None        the subgoal in a `predict` state (`hrlkit.types.Subgoal`: target, new)
HIRO has both; flat agents have neither, and then a Dict observation's `achieved_goal` serves as the position.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from hrlkit.errors import HrlkitError
from hrlkit.training.divergence import check_actions


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


@dataclass
class Trajectory:
    """One evaluation episode as `evaluate(..., trajectories=[])` records it.

    Step t is the t-th action: it was chosen at `positions[t]` and led to `positions[t + 1]`.

    Shapes (T = length, G = goal dims, K = high-level decisions in the episode):
        positions: (T + 1, G) float64, from the reset observation to the last one; None when the agent cannot say
            where it is (a flat agent on a non-goal env).
        subgoal_steps: (K,) int64, the steps at which the high level chose a new subgoal (HIRO: 0, c, 2c, ...).
        subgoals: (K, G) float64, the absolute targets chosen at those steps. K = 0 for agents without subgoals.
        goal: (G',) the env's goal (`desired_goal`, or the env's `goal` attribute), None when it has none.
    """

    length: int
    ep_return: float
    positions: np.ndarray | None
    subgoal_steps: np.ndarray
    subgoals: np.ndarray
    goal: np.ndarray | None = None
    success: float | None = None
    options: np.ndarray | None = None
    """(T,) int64, the option that chose each step's action (option agents: Option-Critic, PPOC, DAC); None
    otherwise"""


def agent_position(agent: Any, obs: Any) -> np.ndarray | None:
    """(G,) goal dimensions of one observation: `agent.position(obs)`, else a Dict observation's `achieved_goal`."""
    fn = getattr(agent, "position", None)
    pos = fn(obs) if fn is not None else None
    if pos is None and isinstance(obs, dict) and "achieved_goal" in obs:
        pos = obs["achieved_goal"]
    return None if pos is None else np.asarray(pos, np.float64).reshape(-1)


def env_position(agent: Any, env: gym.Env, obs: Any) -> np.ndarray | None:
    """`agent_position`, else the env's own `position(obs)` (Four Rooms: the (row, col) of its cell index)."""
    pos = agent_position(agent, obs)
    fn = getattr(env.unwrapped, "position", None)
    if pos is None and callable(fn):
        pos = np.asarray(fn(obs), np.float64).reshape(-1)
    return pos


def env_goal(env: gym.Env, obs: Any) -> np.ndarray | None:
    """The task's goal: a Dict observation's `desired_goal`, else the env's `goal` attribute (the toy mazes)."""
    goal = obs["desired_goal"] if isinstance(obs, dict) and "desired_goal" in obs else None
    if goal is None:
        goal = getattr(env.unwrapped, "goal", None)
    return None if goal is None else np.array(goal, np.float64).reshape(-1)


def evaluate(
    agent: Predictor,
    env: gym.Env | str,
    episodes: int = 10,
    seed: int = 0,
    deterministic: bool = True,
    video_path: str | Path | None = None,
    frame_hook: Any = None,
    trajectories: list[Trajectory] | None = None,
    draw_subgoals: bool = True,
    success_distances: tuple[float, ...] | list[float] = (),
    max_episode_steps: int | None = None,
) -> dict[str, float]:
    """Run `episodes` episodes, seeding episode k with `seed + k`, so every evaluation sees the same start states.

    Args:
        agent: anything with Stable-Baselines3's `predict(obs, state, episode_start, deterministic)`.
        env: a single (not vector) env, or an env id (made here with its registered defaults, and the finite-value and
            contract checks); with `video_path` an env object must have render_mode="rgb_array".
        frame_hook: optional `f(frame, agent_state) -> frame` to draw on frames after rendering.
        trajectories: a list to append one `Trajectory` per episode to; None records nothing.
        draw_subgoals: with `video_path`, mark the agent's current subgoal target in every frame (agents with
            `subgoal`; envs `hrlkit.training.video.add_marker` can draw on, others are left unmarked).
        success_distances: goal envs: for each d, `success_within_<d>` is the share of episodes whose last
            observation has ||achieved_goal - desired_goal|| <= d.
        max_episode_steps: cut each episode after this many steps; None: the env's own time limit, or
            `EVAL_STEP_CAP` with a warning when it has none (an env that never ends would hang the evaluation).

    Returns:
        `mean_return`, `std_return`, `mean_length`, and `success_rate` (fraction of episodes whose last step reported
        success) when the env reports it; on goal envs (Dict observations with achieved_goal and desired_goal)
        `final_distance` (mean ||achieved_goal - desired_goal|| at the episodes' ends) and `success_within_<d>`;
        for option agents (with `active_option`) `option_run_length`, the evaluation steps per run of one option
        (consecutive steps with the same active option): how long options last in evaluation, where they may end
        otherwise than in training (PPOC and DAC end an option where beta > 0.5 when deterministic).
    """
    if max_episode_steps is not None and max_episode_steps < 1:
        raise HrlkitError(f"max_episode_steps = {max_episode_steps}: it must be >= 1 (or None: the env's limit)")
    if isinstance(env, str):  # an env id, made (and closed) here with the library's checks; no env_kwargs: an env
        # configured by a preset or by hand (a maze map, ...) is passed as an object
        from hrlkit.envs.make import make_env

        made = make_env(env, render_mode="rgb_array" if video_path is not None else None)
        try:
            return evaluate(
                agent, made, episodes, seed, deterministic, video_path, frame_hook, trajectories, draw_subgoals,
                success_distances, max_episode_steps,
            )  # fmt: skip
        finally:
            made.close()
    if episodes < 1:
        raise HrlkitError(f"episodes = {episodes}: it must be >= 1")
    limit = max_episode_steps or time_limit(env)
    if not limit:
        limit = EVAL_STEP_CAP
        print(
            f"warning: the evaluation env has no time limit: its episodes are cut at {limit} steps (give the env a "
            "max_episode_steps)",
            file=sys.stderr,
        )
    returns, lengths, successes, distances = [], [], [], []
    frames: list[np.ndarray] = []
    record = trajectories is not None
    subgoal_fn = getattr(agent, "subgoal", None)
    option_fn = getattr(agent, "active_option", None)
    option_steps = option_runs = 0
    for k in range(episodes):
        obs, info = env.reset(seed=seed + k)
        state, start = None, np.ones(1, dtype=bool)
        done, ep_return, ep_len = False, 0.0, 0
        positions = [env_position(agent, env, obs)] if record else []
        options: list[int] = []
        goal = env_goal(env, obs) if record else None
        decisions: list[tuple[int, np.ndarray]] = []  # (step, absolute target) per high-level decision
        while not done:
            action, state = agent.predict(obs, state, start, deterministic)
            start = np.zeros(1, dtype=bool)
            if option_fn is not None and (active := option_fn(state)) is not None:
                options.append(int(np.asarray(active).reshape(-1)[0]))
            subgoal = subgoal_fn(state) if subgoal_fn is not None else None
            target = None if subgoal is None else np.asarray(subgoal.target[0], np.float64)  # (G,)
            if record and subgoal is not None and bool(subgoal.new[0]):
                decisions.append((ep_len, target))
            check_actions(action, f"in evaluation episode {k}, step {ep_len}")
            obs, reward, terminated, truncated, info = env.step(action)
            ep_return += float(reward)
            ep_len += 1
            done = bool(terminated or truncated) or ep_len >= limit
            if record:
                positions.append(env_position(agent, env, obs))
            if video_path is not None:
                from hrlkit.training.video import add_marker, render_frame

                if draw_subgoals and target is not None:
                    add_marker(env, target)  # the target the low level steered to in the step this frame shows
                frame = render_frame(env)
                frames.append(frame_hook(frame, state) if frame_hook is not None else frame)
        returns.append(ep_return)
        lengths.append(ep_len)
        if options and len(options) == ep_len:
            option_steps += ep_len
            option_runs += 1 + int(np.count_nonzero(np.diff(options)))
        if isinstance(obs, dict) and "achieved_goal" in obs and "desired_goal" in obs:
            gap = np.asarray(obs["achieved_goal"], np.float64) - np.asarray(obs["desired_goal"], np.float64)
            distances.append(float(np.linalg.norm(gap)))
        success = episode_success(info)
        if success is not None:
            successes.append(success)
        if trajectories is not None:
            G = len(positions[0]) if positions[0] is not None else (len(decisions[0][1]) if decisions else 0)
            trajectories.append(
                Trajectory(
                    length=ep_len,
                    ep_return=ep_return,
                    positions=None if positions[0] is None else np.stack(positions),  # (T + 1, G)
                    subgoal_steps=np.array([t for t, _ in decisions], np.int64),  # (K,)
                    subgoals=np.array([g for _, g in decisions], np.float64).reshape(len(decisions), G),  # (K, G)
                    goal=goal,
                    success=success,
                    options=np.array(options, np.int64) if len(options) == ep_len else None,
                )
            )
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
    if option_runs:
        out["option_run_length"] = option_steps / option_runs
    if distances:
        out["final_distance"] = float(np.mean(distances))
        for d in success_distances:
            out[f"success_within_{d:g}"] = float(np.mean(np.asarray(distances) <= d))
    return out


EVAL_STEP_CAP = 100_000
"""steps after which an evaluation episode of an env without a time limit is cut"""


def time_limit(env: gym.Env) -> int | None:
    """The env's episode step limit: a `TimeLimit` wrapper's, else its spec's; None when it has neither."""
    inner: Any = env
    while inner is not None:
        if isinstance(inner, gym.wrappers.TimeLimit):
            return int(inner._max_episode_steps)
        inner = getattr(inner, "env", None)
    spec = getattr(env, "spec", None)
    return spec.max_episode_steps if spec is not None and spec.max_episode_steps else None


# ------------------------------------------------------------------------------------------------ trajectory files
TRAJECTORY_FILE = re.compile(r"trajectories_(\d+)\.npz")


def save_trajectories(path: str | Path, trajectories: list[Trajectory], **meta: Any) -> Path:
    """Write trajectories as plain arrays to an `.npz` (loadable with `allow_pickle=False`).

    Layout: `lengths` (E,), `returns` (E,), `successes` (E,) (NaN: not reported), `meta` (a JSON string of `meta`,
    e.g. env and env_kwargs), and per episode k: `ep{k}_positions` (T_k + 1, G) when known, `ep{k}_subgoal_steps`
    (K_k,), `ep{k}_subgoals` (K_k, G), `ep{k}_goal` when known. Episodes differ in length and in K, so each has its
    own keys rather than one padded array. Option agents add `ep{k}_options` (T_k,).
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        "lengths": np.array([t.length for t in trajectories], np.int64),
        "returns": np.array([t.ep_return for t in trajectories], np.float64),
        "successes": np.array([np.nan if t.success is None else t.success for t in trajectories], np.float64),
        "meta": np.array(json.dumps(meta)),
    }
    for k, t in enumerate(trajectories):
        arrays[f"ep{k}_subgoal_steps"] = t.subgoal_steps
        arrays[f"ep{k}_subgoals"] = t.subgoals
        if t.positions is not None:
            arrays[f"ep{k}_positions"] = t.positions
        if t.goal is not None:
            arrays[f"ep{k}_goal"] = t.goal
        if t.options is not None:
            arrays[f"ep{k}_options"] = t.options
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_trajectories(path: str | Path) -> tuple[list[Trajectory], dict[str, Any]]:
    """The trajectories and the `meta` dict that `save_trajectories` wrote."""
    with np.load(path, allow_pickle=False) as data:
        out = []
        columns = zip(data["lengths"], data["returns"], data["successes"], strict=True)
        for k, (length, ep_return, success) in enumerate(columns):
            out.append(
                Trajectory(
                    length=int(length),
                    ep_return=float(ep_return),
                    positions=data[f"ep{k}_positions"] if f"ep{k}_positions" in data else None,
                    subgoal_steps=data[f"ep{k}_subgoal_steps"],
                    subgoals=data[f"ep{k}_subgoals"],
                    goal=data[f"ep{k}_goal"] if f"ep{k}_goal" in data else None,
                    success=None if np.isnan(success) else float(success),
                    options=data[f"ep{k}_options"] if f"ep{k}_options" in data else None,
                )
            )
        meta = json.loads(str(data["meta"]))
    return out, meta


def latest_trajectories(eval_dir: str | Path) -> Path | None:
    """The `trajectories_<env steps>.npz` in `eval_dir` with the most env steps; None when there is none."""
    eval_dir = Path(eval_dir)
    found = [
        (int(m.group(1)), p) for p in eval_dir.glob("trajectories_*.npz") if (m := TRAJECTORY_FILE.fullmatch(p.name))
    ]
    return max(found)[1] if found else None
