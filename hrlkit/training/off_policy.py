"""The off-policy training loop, shared by every flat learner and every hierarchical agent.

collect one vector-env step -> store -> update -> (log, evaluate, checkpoint when their period comes round)

Episode handling: the vector env never auto-resets (`AutoresetMode.DISABLED`). When sub-envs finish, the loop records
their episode, draws a fresh seed for each from its own generator and resets exactly those sub-envs. So `next_obs`
handed to the agent is always the true final observation (never a reset one), and every episode is reproducible from
(seed, actions): a checkpoint stores each env's current seed and actions, and a resume replays them. That is what
lets a resumed run log exactly what an uninterrupted one would.

Periods (`log_interval`, `eval_freq`, `checkpoint_freq`) are in env steps and fire when the counter crosses a multiple,
so they work with any `n_envs`. Order at a boundary: evaluate, dump logs, checkpoint. The last step of a run also
dumps and checkpoints; when it falls inside a log period, that row is provisional (see `Logger.dump`).

Ctrl-C: the first SIGINT only asks the loop to stop after the env step in progress; it then checkpoints (a state in
which agent, buffer, RNGs and logs all agree, so the resume is exact) and raises KeyboardInterrupt. A second SIGINT
interrupts at once, without a checkpoint: one taken halfway through an update could not resume exactly.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from hrlkit.config import RunConfig
from hrlkit.errors import HrlkitError
from hrlkit.logging import Logger
from hrlkit.training.evaluate import evaluate
from hrlkit.training.progress import ProgressBar

SEED_HIGH = 2**31 - 1


@dataclass
class LoopState:
    """Everything the loop carries between steps; saved whole in each checkpoint."""

    env_steps: int = 0
    vec_steps: int = 0
    n_episodes: int = 0
    n_updates: int = 0
    obs: Any = None
    episode_seeds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    episode_actions: list[list[np.ndarray]] = field(default_factory=list)
    ep_returns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ep_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    env_episodes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # finished episodes per env
    recent_returns: deque = field(default_factory=lambda: deque(maxlen=100))
    recent_lengths: deque = field(default_factory=lambda: deque(maxlen=100))
    recent_successes: deque = field(default_factory=lambda: deque(maxlen=100))
    last_eval: dict[str, float] = field(default_factory=dict)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def to_tree(self) -> dict[str, Any]:
        return {
            "counters": [self.env_steps, self.vec_steps, self.n_episodes, self.n_updates],
            "obs": self.obs,
            "episode_seeds": self.episode_seeds,
            "episode_actions": [np.asarray(a) for a in self.episode_actions],
            "ep_returns": self.ep_returns,
            "ep_lengths": self.ep_lengths,
            "env_episodes": self.env_episodes,
            "recent": [list(self.recent_returns), list(self.recent_lengths), list(self.recent_successes)],
            "last_eval": self.last_eval,
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": _cuda_rng_states(),
        }

    @classmethod
    def from_tree(cls, tree: dict[str, Any]) -> LoopState:
        s = cls()
        s.env_steps, s.vec_steps, s.n_episodes, s.n_updates = (int(x) for x in tree["counters"])
        s.obs = tree["obs"]
        s.episode_seeds = np.asarray(tree["episode_seeds"])
        s.episode_actions = [list(a) for a in tree["episode_actions"]]
        s.ep_returns, s.ep_lengths = np.asarray(tree["ep_returns"]), np.asarray(tree["ep_lengths"])
        s.env_episodes = np.asarray(tree.get("env_episodes", np.zeros(len(s.ep_lengths), np.int64)))
        for q, values in zip((s.recent_returns, s.recent_lengths, s.recent_successes), tree["recent"], strict=False):
            q.extend(values)
        s.last_eval = dict(tree["last_eval"])
        s.rng.bit_generator.state = tree["rng"]
        torch.set_rng_state(tree["torch_rng"])
        _set_cuda_rng_states(tree.get("cuda_rng", []))
        return s


def _cuda_rng_states() -> list[torch.Tensor]:
    """One state per CUDA device once CUDA is in use (exploration and target noise, relabel samples draw there)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return list(torch.cuda.get_rng_state_all())
    return []


def _set_cuda_rng_states(states: list[torch.Tensor]) -> None:
    """Restores the saved CUDA generators; a run resumed without CUDA has none to restore (its noise comes from the
    CPU generator, so it cannot continue a CUDA run's draws exactly anyway)."""
    if states and torch.cuda.is_available():
        for device, state in enumerate(states[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, device)


def _where(mask: np.ndarray, a: Any, b: Any) -> Any:
    """Per-env choice between two batched observations (flat or Dict)."""
    if isinstance(a, dict):
        return {k: _where(mask, a[k], b[k]) for k in a}
    return np.where(mask.reshape(-1, *([1] * (np.ndim(a) - 1))), a, b)


def start_episodes(envs: gym.vector.VectorEnv, seed: int) -> LoopState:
    n = envs.num_envs
    state = LoopState(rng=np.random.default_rng(seed))
    state.episode_seeds = state.rng.integers(0, SEED_HIGH, size=n)
    state.obs, _ = envs.reset(seed=[int(s) for s in state.episode_seeds])
    state.episode_actions = [[] for _ in range(n)]
    state.ep_returns, state.ep_lengths = np.zeros(n), np.zeros(n, np.int64)
    state.env_episodes = np.zeros(n, np.int64)
    return state


def restore_episodes(envs: gym.vector.SyncVectorEnv, state: LoopState) -> None:
    """Bring each sub-env back to where the checkpoint left it: reset with the episode's seed, replay its actions.

    Envs whose task changes with the number of episodes they have run (Four Rooms moves its goal after
    `goal_change_episodes`) expose a settable `episode_count`; it is set to the env's finished episodes first.
    """
    for i, env in enumerate(envs.envs):
        if hasattr(env.unwrapped, "episode_count"):
            env.unwrapped.episode_count = int(state.env_episodes[i])
        obs, _ = env.reset(seed=int(state.episode_seeds[i]))
        for a in state.episode_actions[i]:
            obs, *_ = env.step(a)
        saved = {k: v[i] for k, v in state.obs.items()} if isinstance(state.obs, dict) else state.obs[i]
        same = (
            all(np.array_equal(obs[k], saved[k]) for k in saved)
            if isinstance(saved, dict)
            else np.array_equal(obs, saved)
        )
        if not same:
            raise HrlkitError(
                f"env {i} did not replay to its checkpointed state: the env is not deterministic given its seed and "
                "actions, so this run cannot resume exactly; start a new run from the checkpoint's weights instead"
            )


class _StopRequest:
    """Turns the first SIGINT into a request that the loop honours between env steps (see the module docstring)."""

    def __init__(self, console: Any, checkpoints: bool) -> None:
        self.console, self.checkpoints = console, checkpoints
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread, and only it receives SIGINT
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:
            return  # e.g. a background job: Ctrl-C is not meant for it
        self._previous, self._installed = previous, True
        signal.signal(signal.SIGINT, self._handle)

    def uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)
            self._installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        then = ", then a checkpoint" if self.checkpoints else ""
        self.console.print(f"Ctrl-C: stopping after this env step{then} (again: stop at once)")


def _crossed(before: int, after: int, period: int) -> bool:
    return period > 0 and after // period > before // period


def train_off_policy(
    agent: Any,
    envs: gym.vector.VectorEnv,
    eval_env: gym.Env | None,
    run: RunConfig,
    logger: Logger,
    state: LoopState,
    checkpoint: Callable[[LoopState], None] | None = None,
    progress_bar: bool = False,
    on_eval: Callable[[int, dict[str, float]], None] | None = None,
) -> LoopState:
    """Train until `run.total_env_steps`. `state` comes from `start_episodes` or a checkpoint (after `restore_episodes`).

    `agent` provides act, random_actions, observe and update (see `hrlkit.agents.FlatAgent`).
    """
    n_envs = envs.num_envs
    logger.reopen()  # a provisional last row of an earlier `learn` is taken back: this call continues its period
    bar = ProgressBar(run.total_env_steps, state.env_steps, logger.console) if progress_bar else None
    t0, steps0 = time.perf_counter(), state.env_steps
    obs = state.obs
    stop = _StopRequest(logger.console, checkpoints=checkpoint is not None)
    try:
        stop.install()
        while state.env_steps < run.total_env_steps:
            # ---- collect
            if state.env_steps < run.learning_starts:
                actions = agent.random_actions(n_envs, obs=obs)
            else:
                actions = agent.act(obs, deterministic=False)
            next_obs, rewards, terminated, truncated, infos = envs.step(actions)
            agent.observe(obs, actions, rewards, next_obs, terminated, truncated, infos)
            for i in range(n_envs):
                state.episode_actions[i].append(actions[i])
            state.ep_returns += rewards
            state.ep_lengths += 1
            done = terminated | truncated
            if done.any():
                next_obs = _end_episodes(envs, state, done, next_obs, infos)
            obs = state.obs = next_obs
            before = state.env_steps
            state.env_steps += n_envs
            state.vec_steps += 1

            # ---- learn
            if state.env_steps > run.learning_starts and state.vec_steps % run.train_freq == 0:
                logger.record_dict(agent.update(run.gradient_steps), prefix="")
                state.n_updates += run.gradient_steps

            # ---- evaluate, log, checkpoint
            now = state.env_steps
            if eval_env is not None and _crossed(before, now, run.eval_freq):
                state.last_eval = evaluate(agent, eval_env, run.eval_episodes, seed=run.seed + 1_000_000)
                for k, v in state.last_eval.items():
                    logger.record(f"eval/{k}", v)
                if on_eval is not None:
                    on_eval(now, state.last_eval)
            final = now >= run.total_env_steps
            log_due = _crossed(before, now, run.log_interval)
            if log_due or final:
                sps = (now - steps0) / max(time.perf_counter() - t0, 1e-9)
                _record_progress(logger, state, sps)
                logger.dump(now, provisional=not log_due)
            checkpointed = checkpoint is not None and (_crossed(before, now, run.checkpoint_freq) or final)
            if checkpointed:
                checkpoint(state)
            if bar is not None:
                sps = (now - steps0) / max(time.perf_counter() - t0, 1e-9)
                bar.update(now, sps, _eval_text(state.last_eval) if state.last_eval else None)
            if stop.requested and not final:
                if checkpoint is not None:
                    saved = "its checkpoint is saved" if checkpointed else "saving a checkpoint"
                    logger.console.print(f"interrupted at {now} env steps: {saved}")
                    if not checkpointed:
                        checkpoint(state)
                raise KeyboardInterrupt
    finally:
        stop.uninstall()
        if bar is not None:
            bar.close()
    return state


def _end_episodes(envs: gym.vector.VectorEnv, state: LoopState, done: np.ndarray, next_obs: Any, infos: dict) -> Any:
    """Record finished episodes, reset those sub-envs with fresh seeds, return obs with reset ones swapped in."""
    for i in np.flatnonzero(done):
        state.recent_returns.append(float(state.ep_returns[i]))
        state.recent_lengths.append(int(state.ep_lengths[i]))
        for key in ("is_success", "success"):
            if key in infos and infos.get(f"_{key}", np.ones(len(done), bool))[i]:
                state.recent_successes.append(float(infos[key][i]))
                break
        state.episode_actions[i] = []
        state.n_episodes += 1
    state.ep_returns[done] = 0.0
    state.ep_lengths[done] = 0
    state.env_episodes += done
    fresh = state.rng.integers(0, SEED_HIGH, size=len(done))
    state.episode_seeds = np.where(done, fresh, state.episode_seeds)
    reset_obs, _ = envs.reset(seed=[int(s) for s in state.episode_seeds], options={"reset_mask": done})
    return _where(done, reset_obs, next_obs)


def _record_progress(logger: Logger, state: LoopState, sps: float) -> None:
    if state.recent_returns:
        logger.record("rollout/ep_rew_mean", np.mean(state.recent_returns))
        logger.record("rollout/ep_len_mean", np.mean(state.recent_lengths))
    if state.recent_successes:
        logger.record("rollout/success_rate", np.mean(state.recent_successes))
    logger.record("time/episodes", state.n_episodes)
    logger.record("time/updates", state.n_updates)
    logger.record("time/fps", sps)


def _eval_text(last_eval: dict[str, float]) -> str:
    text = f"eval return {last_eval['mean_return']:.1f}"
    if "success_rate" in last_eval:
        text += f", success {last_eval['success_rate']:.2f}"
    return text
