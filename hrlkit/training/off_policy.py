"""The off-policy training loop, shared by every replay learner and every hierarchical agent.

collect one vector-env step -> the agent stores it -> update from replay -> (evaluate, log, checkpoint when their
period comes round; see `hrlkit.training.loop` for episodes, periods, callbacks, Ctrl-C and exact resume)

Warm-up: before `replay.learning_starts` env steps the agent acts uniformly at random (`random_actions`) and no update
runs; after it, `gradient_steps` updates every `train_freq` vector-env steps.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym

from hrlkit.agents.base import OffPolicyAgent
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.logging import Logger
from hrlkit.training.callbacks import Callback
from hrlkit.training.divergence import check_losses
from hrlkit.training.loop import LoopState, Periods, env_step


def train_off_policy(
    agent: OffPolicyAgent,
    envs: gym.vector.VectorEnv,
    eval_env: gym.Env | None,
    run: RunConfig,
    replay: ReplayConfig,
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
            if state.env_steps < replay.learning_starts:
                actions = agent.random_actions(envs.num_envs, obs=state.obs)
            else:
                actions = agent.act(state.obs, deterministic=False)
            before = state.env_steps
            env_step(agent, envs, state, actions)

            # ---- learn
            if state.env_steps > replay.learning_starts and state.vec_steps % replay.train_freq == 0:
                stats = agent.update(replay.gradient_steps)
                check_losses(stats, state.env_steps)
                logger.record_dict(stats, prefix="")
                state.n_updates += replay.gradient_steps

            # ---- evaluate, log, checkpoint
            if periods.after_step(before):
                break
    return state
