"""The on-policy training loop: PPO, TRPO, NPG, VPG, and the online tabular learners.

collect one vector-env step -> the agent stores it in its rollout -> when the rollout is full, update from it ->
(evaluate, log, checkpoint when their period comes round; see `hrlkit.training.loop` for episodes, periods,
callbacks, Ctrl-C and exact resume)

A rollout is `n_steps` vector-env steps (PPO's 2048 x n_envs transitions; 1 for online tabular Q-learning, which so
learns from each transition once, right after it). Periods fire at any env step, also inside a rollout: a checkpoint
there holds the half-collected rollout (`Agent.replay_state`), so a resume continues it exactly. The budget ends the
run at exactly `total_env_steps`; a rollout left incomplete then is kept in the final checkpoint, and a later `learn`
with a larger budget completes it.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym

from hrlkit.agents.base import OnPolicyAgent
from hrlkit.config import RunConfig
from hrlkit.logging import Logger
from hrlkit.training.callbacks import Callback
from hrlkit.training.loop import LoopState, Periods, env_step


def train_on_policy(
    agent: OnPolicyAgent,
    envs: gym.vector.VectorEnv,
    eval_env: gym.Env | None,
    run: RunConfig,
    logger: Logger,
    state: LoopState,
    checkpoint: Callable[[LoopState], None] | None = None,
    progress_bar: bool = False,
    callback: Callback | None = None,
) -> LoopState:
    """Train until `run.total_env_steps` (or a callback stops it). `state` comes from `start_episodes` or a
    checkpoint (after `restore_episodes`)."""
    periods = Periods(agent, eval_env, run, logger, state, checkpoint, progress_bar, callback or Callback())
    with periods:
        while state.env_steps < run.total_env_steps:
            # ---- collect
            before = state.env_steps
            env_step(agent, envs, state, agent.act(state.obs, deterministic=False))

            # ---- learn
            if agent.rollout_full:
                remaining = 1.0 - state.env_steps / run.total_env_steps
                logger.record_dict(agent.update(remaining), prefix="")
                state.n_updates += 1

            # ---- evaluate, log, checkpoint
            if periods.after_step(before):
                break
    return state
