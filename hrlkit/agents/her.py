"""Hindsight Experience Replay as a batch transform (Andrychowicz et al. 2017, arXiv:1707.01495).

A goal env's observation is a Dict with `observation`, `achieved_goal` and `desired_goal`. An episode that missed its
goal still shows how to reach the goals it *did* achieve: HER replays some sampled transitions with their desired goal
replaced by a goal achieved later in the same episode, and the reward (and termination) recomputed for that goal.

In the update pipeline (`hrlkit.agents.pipeline`) this runs on every sampled batch, after sampling and before the
update (relabelling at sampling time, as Stable-Baselines3's HerReplayBuffer does):

    relabel each sample with probability 1 - 1/(k+1)         k = n_sampled_goal: k relabelled per real one
    j     = her_goal_rows(t, episode bounds, strategy)         future / final / episode, same env, same episode
    g'    = achieved_goal of next_obs at row j                 never from an overwritten row (the bounds are clipped)
    obs.desired_goal = next_obs.desired_goal = g'
    r     = compute_reward(next_obs.achieved_goal, g', {})    the env's vectorised goal reward, or hrlkit's
    terminated = compute_terminated(...) when the env has it, else the stored flag (with a warning, once, the first
                 time a relabelled sample's stored flag is set: it belongs to the original goal)

A truncated step is never made terminal: truncation is not stored as termination (the buffer keeps `terminated`
alone), and `compute_terminated` decides only from goals. Episodes still running count with their steps so far.
The goal draws come from the transform's own generator, which the agent saves in its checkpoints.

Deviation: `info` is not stored, so `compute_reward` receives an empty dict per sample (the gymnasium-robotics and
    bundled goal rewards do not read it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from hrlkit.buffers import ReplayBuffer
from hrlkit.errors import HrlkitError
from hrlkit.goals.relabel import HER_STRATEGIES, her_goal_rows
from hrlkit.types import ReplayBatch

GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")
RewardFn = Callable[[np.ndarray, np.ndarray, Any], Any]


class HindsightRelabel:
    """The HER transform of one replay buffer.

    Args:
        buffer: the replay buffer the batches come from (its Dict observations and episode bookkeeping).
        compute_reward: vectorised `(achieved (B, G), desired (B, G), infos) -> (B,)`, the env's `compute_reward`.
        compute_terminated: the same for termination, or None to keep the stored flags.
        strategy: future, final or episode.
        n_sampled_goal: k; a sample is relabelled with probability 1 - 1/(k+1).
        seed: seeds the transform's generator.
    """

    def __init__(
        self,
        buffer: ReplayBuffer,
        compute_reward: RewardFn,
        compute_terminated: RewardFn | None,
        strategy: str = "future",
        n_sampled_goal: int = 4,
        seed: int = 0,
    ) -> None:
        check_goal_space(buffer.obs_space)
        if strategy not in HER_STRATEGIES:
            raise HrlkitError(f"unknown HER strategy {strategy!r}: use one of {', '.join(HER_STRATEGIES)}")
        if isinstance(n_sampled_goal, bool) or not isinstance(n_sampled_goal, int) or n_sampled_goal < 0:
            raise HrlkitError(f"her.n_sampled_goal = {n_sampled_goal!r}: it must be an integer >= 0")
        self.buffer, self.compute_reward, self.compute_terminated = buffer, compute_reward, compute_terminated
        self.strategy, self.n_sampled_goal = strategy, n_sampled_goal
        self.relabel_prob = 1.0 - 1.0 / (n_sampled_goal + 1)
        self.rng = np.random.default_rng(seed)
        self.warned_stored_termination = False

    def new_goals(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask (B,) bool: which samples are relabelled, goals (B, G): their new goals; rows not relabelled keep
        their own desired goal) for flat buffer indices (B,)."""
        buf = self.buffer
        rows, envs = np.divmod(flat, buf.n_envs)  # (B,), (B,)
        mask = self.rng.random(len(flat)) < self.relabel_prob  # (B,)
        first, last = buf.valid_episode_bounds(rows, envs)  # (B,), (B,) global rows
        j = her_goal_rows(buf.global_rows(rows), first, last, self.strategy, self.rng)  # (B,) global rows
        achieved = buf.next_obs["achieved_goal"][j % buf.capacity, envs]  # (B, G)
        desired = buf.obs["desired_goal"][rows, envs]  # (B, G)
        return mask, np.where(mask[:, None], achieved, desired)

    def __call__(self, batch: ReplayBatch) -> tuple[ReplayBatch, dict[str, float]]:
        flat = batch.indices.detach().cpu().numpy()
        mask, goals = self.new_goals(flat)
        if not mask.any():
            return batch, {"her/relabeled": 0.0}
        assert isinstance(batch.obs, dict) and isinstance(batch.next_obs, dict)
        next_achieved = batch.next_obs["achieved_goal"].detach().cpu().numpy()  # (B, G)
        infos = [{} for _ in range(len(flat))]
        rewards = per_sample(self.compute_reward, next_achieved, goals, infos).astype(np.float32)  # (B,)
        device = batch.rewards.device
        mask_t = torch.as_tensor(mask, device=device)
        goals_t = torch.as_tensor(goals, dtype=batch.obs["desired_goal"].dtype, device=device)
        obs = {**batch.obs, "desired_goal": torch.where(mask_t[:, None], goals_t, batch.obs["desired_goal"])}
        next_obs = {
            **batch.next_obs,
            "desired_goal": torch.where(mask_t[:, None], goals_t, batch.next_obs["desired_goal"]),
        }
        new_rewards = torch.where(mask_t, torch.as_tensor(rewards, device=device), batch.rewards)
        terminated = batch.terminated
        if self.compute_terminated is not None:
            term = per_sample(self.compute_terminated, next_achieved, goals, infos).astype(np.float32)  # (B,)
            terminated = torch.where(mask_t, torch.as_tensor(term, device=device), batch.terminated)
        elif not self.warned_stored_termination and bool(batch.terminated[mask_t].any()):
            self.warned_stored_termination = warn_stored_termination("HER")
        out = batch._replace(obs=obs, next_obs=next_obs, rewards=new_rewards, terminated=terminated)
        return out, {"her/relabeled": float(mask.mean())}

    # ---------------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


def per_sample(fn: RewardFn, achieved: np.ndarray, desired: np.ndarray, infos: list[dict]) -> np.ndarray:
    """fn over a batch: one vectorised call when fn answers with one value per row, else one call per row (some
    envs' `compute_terminated` treat their input as a single goal: gymnasium-robotics' mazes take one norm over all)."""
    out = np.asarray(fn(achieved, desired, infos))
    if out.shape == (len(achieved),):
        return out
    return np.array([np.asarray(fn(a, d, i)).item() for a, d, i in zip(achieved, desired, infos, strict=True)])


def warn_stored_termination(who: str) -> bool:
    """Say (once per transform: the caller keeps the returned True) that relabelled samples keep a termination flag
    that belongs to their original goal, because the env has no `compute_terminated`."""
    warnings.warn(
        f"{who}: the env ended an episode (terminated) but has no compute_terminated(achieved_goal, desired_goal, "
        "info), so relabelled samples keep the flag of their original goal; give the env a vectorised "
        "compute_terminated (gymnasium-robotics' GoalEnv API) so that each relabelled goal decides its own termination",
        RuntimeWarning,
        stacklevel=3,
    )
    return True


def check_goal_space(space: Any) -> None:
    """Refuse (one line) an observation space that is not a goal env's Dict."""
    if not set(GOAL_KEYS) <= set(getattr(space, "spaces", {})):
        raise HrlkitError(
            f"HER needs a goal env: a Dict observation with {', '.join(GOAL_KEYS)}, got {space}; drop --her"
        )


def env_goal_functions(env: Any) -> tuple[RewardFn, RewardFn | None]:
    """(compute_reward, compute_terminated or None) of an env, looked up through its wrappers, outermost first, so a
    wrapper that changes the reward (`neg_distance`) is the one asked."""
    try:
        reward = env.get_wrapper_attr("compute_reward")
    except AttributeError:
        raise HrlkitError(
            f"HER needs the env's vectorised compute_reward(achieved_goal, desired_goal, info); "
            f"{getattr(env.spec, 'id', type(env.unwrapped).__name__)} has none: drop --her"
        ) from None
    try:
        terminated = env.get_wrapper_attr("compute_terminated")
    except AttributeError:
        terminated = None
    return reward, vectorised_terminated(terminated)


def vectorised_terminated(fn: RewardFn | None) -> RewardFn | None:
    """The same function over a batch in one call, for the gymnasium-robotics `compute_terminated`s that answer one
    value for a whole batch (so `per_sample` would call them once per row: a third of goal-conditioned HIRO's time on
    the mazes): recognised by identity, the env's own method and no other, and checked against it in the tests.

        maze envs (PointMaze, AntMaze):  ||achieved - desired|| <= 0.45 per row, unless the task is continuing (never)
        robot envs (Fetch, hands):       never (their tasks are continuing)

    Any other function is returned as it is.
    """
    func, owner = getattr(fn, "__func__", None), getattr(fn, "__self__", None)
    if func is None or owner is None:
        return fn
    try:
        from gymnasium_robotics.envs.maze.maze_v4 import MazeEnv
        from gymnasium_robotics.envs.robot_env import BaseRobotEnv
    except ImportError:
        return fn
    if func is MazeEnv.compute_terminated:

        def maze_terminated(achieved: np.ndarray, desired: np.ndarray, info: Any = None) -> np.ndarray:
            achieved, desired = np.asarray(achieved), np.asarray(desired)
            if owner.continuing_task:
                return np.zeros(achieved.shape[:-1], bool)
            return np.linalg.norm(achieved - desired, axis=-1) <= 0.45

        return maze_terminated
    if func is BaseRobotEnv.compute_terminated:
        return lambda achieved, desired, info=None: np.zeros(np.shape(achieved)[:-1], bool)
    return fn
