"""What the off-policy and the on-policy loop share: episodes, periods, evaluation, logs, checkpoints, stopping.

Episode handling: the vector env never auto-resets (`AutoresetMode.DISABLED`). When sub-envs finish, the loop records
their episode, draws a fresh seed for each from its own generator and resets exactly those sub-envs. So `next_obs`
handed to the agent is always the true final observation (never a reset one), and every episode is reproducible from
(seed, actions): a checkpoint stores each env's current seed and actions, and a resume replays them. That is what
lets a resumed run log exactly what an uninterrupted one would. Envs that carry state across episodes (Four Rooms
moves its goal after a number of episodes) implement `EpisodeStateEnv`; the loop keeps what they report before each
reset and hands it back before the replay.

Periods (`log_interval`, `eval_freq`, `checkpoint_freq`) are in env steps and fire when the counter crosses a multiple,
so they work with any `n_envs`. Order at a boundary: evaluate, dump logs, checkpoint. The last step of a run also
dumps and checkpoints; when it falls inside a log period, that row is provisional (see `Logger.dump`). A callback
(`hrlkit.training.callbacks`) that returns False ends the run at that step the same way.

Ctrl-C and SIGTERM: the first SIGINT or SIGTERM only asks the loop to stop after the env step in progress; it then
checkpoints (a state in which agent, buffers, RNGs and logs all agree, so the resume is exact) and raises `Interrupted`
(a KeyboardInterrupt naming the signal). A second signal interrupts at once, without a checkpoint: one taken halfway
through an update could not resume exactly.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import torch

from hrlkit.agents.base import Agent, Transition
from hrlkit.config import RunConfig
from hrlkit.errors import HrlkitError
from hrlkit.logging import Logger
from hrlkit.training.callbacks import Callback
from hrlkit.training.divergence import check_actions
from hrlkit.training.evaluate import evaluate
from hrlkit.training.progress import ProgressBar

SEED_HIGH = 2**31 - 1


@runtime_checkable
class EpisodeStateEnv(Protocol):
    """An env whose episodes depend on what happened in earlier ones (a goal that moves after N episodes).

    `episode_state()` returns JSON-able values; `load_episode_state` puts them back. The loop calls `episode_state`
    right before each reset of the env and, on resume, `load_episode_state` with that value before it replays the
    current episode, so the env starts that episode exactly as it did the first time.
    """

    def episode_state(self) -> dict[str, Any]: ...

    def load_episode_state(self, state: dict[str, Any]) -> None: ...


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
    env_states: list[dict[str, Any] | None] = field(default_factory=list)  # EpisodeStateEnv before the last reset
    recent_returns: deque = field(default_factory=lambda: deque(maxlen=100))
    recent_lengths: deque = field(default_factory=lambda: deque(maxlen=100))
    recent_successes: deque = field(default_factory=lambda: deque(maxlen=100))
    last_eval: dict[str, float] = field(default_factory=dict)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    stopped: bool = False  # a callback ended the last `learn` early (not saved: a resume continues)

    def to_tree(self) -> dict[str, Any]:
        return {
            "counters": [self.env_steps, self.vec_steps, self.n_episodes, self.n_updates],
            "obs": self.obs,
            "episode_seeds": self.episode_seeds,
            "episode_actions": [np.asarray(a) for a in self.episode_actions],
            "ep_returns": self.ep_returns,
            "ep_lengths": self.ep_lengths,
            "env_episodes": self.env_episodes,
            "env_states": [s if s is not None else {} for s in self.env_states],
            "recent": [list(self.recent_returns), list(self.recent_lengths), list(self.recent_successes)],
            "last_eval": self.last_eval,
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": _cuda_rng_states(),
        }

    @classmethod
    def from_tree(cls, tree: dict[str, Any]) -> LoopState:
        s = cls()
        counters = tree["counters"]
        if not (isinstance(counters, list) and len(counters) == 4 and all(_is_count(x) for x in counters)):
            raise ValueError(f"counters {str(counters)[:60]} are not 4 counts >= 0")
        s.env_steps, s.vec_steps, s.n_episodes, s.n_updates = counters
        s.obs = tree["obs"]
        s.episode_seeds = np.asarray(tree["episode_seeds"])
        s.episode_actions = [list(a) for a in tree["episode_actions"]]
        s.ep_returns, s.ep_lengths = np.asarray(tree["ep_returns"]), np.asarray(tree["ep_lengths"])
        s.env_episodes = np.asarray(tree.get("env_episodes", np.zeros(len(s.ep_lengths), np.int64)))
        if "env_states" in tree:
            s.env_states = [dict(x) or None for x in tree["env_states"]]
        else:
            # Checkpoints written before `env_states` existed: the one env with such state (Four Rooms) had run as
            # many episodes before the current one's reset as the loop had seen finish.
            s.env_states = [{"episode_count": int(n)} for n in s.env_episodes]
        recent = tree["recent"]
        if not (isinstance(recent, list) and all(isinstance(v, list) for v in recent)) or any(
            not isinstance(x, int | float) or isinstance(x, bool) for v in recent for x in v
        ):
            raise ValueError("recent episode statistics are not lists of numbers")
        for q, values in zip((s.recent_returns, s.recent_lengths, s.recent_successes), recent, strict=False):
            q.extend(values)
        s.last_eval = dict(tree["last_eval"])
        s.rng.bit_generator.state = tree["rng"]
        torch_rng = tree["torch_rng"]
        if not (isinstance(torch_rng, torch.Tensor) and torch_rng.dtype == torch.uint8):
            raise ValueError("torch_rng is not a byte tensor")
        torch.set_rng_state(torch_rng)
        _set_cuda_rng_states(tree.get("cuda_rng", []))
        return s

    def check_fits(self, envs: gym.vector.VectorEnv, env_steps: int) -> None:
        """Raises ValueError unless every per-env array has one entry per env of `envs` and the observations have the
        env's shapes, and the env-step counter is the checkpoint's (a loop state from another run or a damaged one)."""
        n = envs.num_envs
        if self.env_steps != env_steps:
            raise ValueError(f"env_steps counter {self.env_steps} differs from meta.json's {env_steps}")
        for name in ("episode_seeds", "ep_returns", "ep_lengths", "env_episodes"):
            if np.shape(getattr(self, name)) != (n,):
                raise ValueError(f"{name} has shape {np.shape(getattr(self, name))}, expected ({n},)")
        if len(self.episode_actions) != n or len(self.env_states) != n:
            raise ValueError(f"episode actions or env states are not one per env ({n})")
        space = envs.single_observation_space
        spaces = space.spaces if isinstance(space, gym.spaces.Dict) else {None: space}
        for key, sub in spaces.items():
            obs = self.obs.get(key) if isinstance(self.obs, dict) else None if key is not None else self.obs
            if np.shape(obs) != (n, *sub.shape):
                raise ValueError(f"observation {key or ''} has shape {np.shape(obs)}, expected {(n, *sub.shape)}")
        action_shape = envs.single_action_space.shape
        for actions in self.episode_actions:
            if any(np.shape(a) != action_shape for a in actions):
                raise ValueError(f"an episode action does not have the action shape {action_shape}")


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**63


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


def _sub_envs(envs: gym.vector.VectorEnv) -> list[gym.Env]:
    return list(getattr(envs, "envs", []))


def _episode_states(envs: gym.vector.VectorEnv, mask: np.ndarray) -> list[dict[str, Any] | None]:
    """What each env in `mask` reports through `EpisodeStateEnv` right now (None for envs without such state)."""
    out: list[dict[str, Any] | None] = []
    for i, env in enumerate(_sub_envs(envs)):
        inner = env.unwrapped
        out.append(inner.episode_state() if mask[i] and isinstance(inner, EpisodeStateEnv) else None)
    return out


def start_episodes(envs: gym.vector.VectorEnv, seed: int) -> LoopState:
    n = envs.num_envs
    state = LoopState(rng=np.random.default_rng(seed))
    state.episode_seeds = state.rng.integers(0, SEED_HIGH, size=n)
    state.env_states = _episode_states(envs, np.ones(n, bool))
    state.obs, _ = envs.reset(seed=[int(s) for s in state.episode_seeds])
    state.episode_actions = [[] for _ in range(n)]
    state.ep_returns, state.ep_lengths = np.zeros(n), np.zeros(n, np.int64)
    state.env_episodes = np.zeros(n, np.int64)
    return state


def restore_episodes(envs: gym.vector.SyncVectorEnv, state: LoopState) -> None:
    """Bring each sub-env back to where the checkpoint left it: its cross-episode state, a reset with the episode's
    seed, then the episode's actions replayed."""
    for i, env in enumerate(envs.envs):
        saved_env_state = state.env_states[i] if i < len(state.env_states) else None
        if saved_env_state is not None and isinstance(env.unwrapped, EpisodeStateEnv):
            env.unwrapped.load_episode_state(saved_env_state)
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


class Interrupted(KeyboardInterrupt):
    """Training stopped by a signal after its checkpoint was written; `signum` is SIGINT (Ctrl-C) or SIGTERM."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _StopRequest:
    """Turns the first SIGINT or SIGTERM into a request that the loop honours between env steps (see the module
    docstring). SIGTERM is what schedulers, `timeout`, Ray and cluster managers send: it gets Ctrl-C's treatment."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, console: Any, checkpoints: bool) -> None:
        self.console, self.checkpoints = console, checkpoints
        self.requested: int | None = None  # the signal that asked
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread, and only it receives signals
        for signum in self.SIGNALS:
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN:
                continue  # e.g. a background job: the signal is not meant for it
            self._previous[signum] = previous
            signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            signal.signal(signum, previous if previous is not None else default)
        self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            raise Interrupted(signum)
        self.requested = signum
        then = ", then a checkpoint" if self.checkpoints else ""
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        self.console.print(f"{name}: stopping after this env step{then} (again: stop at once)")


def _crossed(before: int, after: int, period: int) -> bool:
    return period > 0 and after // period > before // period


def env_step(agent: Agent, envs: gym.vector.VectorEnv, state: LoopState, actions: np.ndarray) -> Transition:
    """One vector-env step: the agent observes it, finished episodes are recorded and reset, the counters move on."""
    check_actions(actions, f"at env step {state.env_steps}")
    next_obs, rewards, terminated, truncated, infos = envs.step(actions)
    transition = Transition(state.obs, actions, rewards, next_obs, terminated, truncated, infos)
    agent.observe(transition)
    for i in range(envs.num_envs):
        state.episode_actions[i].append(actions[i])
    state.ep_returns += rewards
    state.ep_lengths += 1
    done = terminated | truncated
    if done.any():
        next_obs = _end_episodes(envs, state, done, next_obs, infos)
    state.obs = next_obs
    state.env_steps += envs.num_envs
    state.vec_steps += 1
    return transition


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
    for i, s in enumerate(_episode_states(envs, done)):
        if done[i]:
            state.env_states[i] = s
    reset_obs, _ = envs.reset(seed=[int(s) for s in state.episode_seeds], options={"reset_mask": done})
    return _where(done, reset_obs, next_obs)


class Periods:
    """After each vector-env step: evaluate, log, checkpoint when their period comes round, call the callback,
    advance the progress bar, and honour a stop (budget reached, callback, Ctrl-C).

    Use as a context manager around the loop (it installs the Ctrl-C handler); `after_step(before)` returns True when
    the loop must end (budget reached or a callback asked), and raises KeyboardInterrupt after Ctrl-C.
    """

    def __init__(
        self,
        agent: Agent,
        eval_env: gym.Env | None,
        run: RunConfig,
        logger: Logger,
        state: LoopState,
        checkpoint: Callable[[LoopState], None] | None,
        progress_bar: bool,
        callback: Callback,
    ) -> None:
        self.agent, self.eval_env, self.run, self.logger, self.state = agent, eval_env, run, logger, state
        self.checkpoint, self.callback = checkpoint, callback
        self.bar = ProgressBar(run.total_env_steps, state.env_steps, logger.console) if progress_bar else None
        self.t0, self.steps0 = time.perf_counter(), state.env_steps
        self.stop = _StopRequest(logger.console, checkpoints=checkpoint is not None)

    def __enter__(self) -> Periods:
        self.logger.reopen()  # a provisional last row of an earlier `learn` is taken back: this call continues it
        self.state.stopped = False
        self.stop.install()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.uninstall()
        if self.bar is not None:
            self.bar.close()

    def sps(self) -> float:
        return (self.state.env_steps - self.steps0) / max(time.perf_counter() - self.t0, 1e-9)

    def after_step(self, before: int) -> bool:
        state, run, logger = self.state, self.run, self.logger
        now = state.env_steps
        halt = evaluated = False
        if self.eval_env is not None and _crossed(before, now, run.eval_freq):
            state.last_eval = evaluate(
                self.agent, self.eval_env, run.eval_episodes, seed=run.seed + 1_000_000,
                success_distances=run.eval_success_distances,
            )  # fmt: skip
            halt = self.callback.on_eval(now, state.last_eval) is False
            evaluated = True
        log_due = _crossed(before, now, run.log_interval)
        final = now >= run.total_env_steps or halt
        if evaluated:
            values = {f"eval/{k}": v for k, v in state.last_eval.items()}
            if log_due or final:
                for k, v in values.items():
                    logger.record(k, v)
            else:  # between two dumps: a row of its own at this step, or the next dump would restamp (or drop) it
                logger.write_row(now, values)
        if log_due or final:
            _record_progress(logger, state, self.sps())
            values = logger.dump(now, provisional=not log_due)
            halt = self.callback.on_log(now, values) is False or halt
            final = final or halt
        checkpointed = self.checkpoint is not None and (_crossed(before, now, run.checkpoint_freq) or final)
        if checkpointed:
            self.checkpoint(state)
        if self.bar is not None:
            self.bar.update(now, self.sps(), _eval_text(state.last_eval) if state.last_eval else None)
        if self.stop.requested is not None and not final:
            if self.checkpoint is not None:
                saved = "its checkpoint is saved" if checkpointed else "saving a checkpoint"
                logger.console.print(f"interrupted at {now} env steps: {saved}")
                if not checkpointed:
                    self.checkpoint(state)
            raise Interrupted(self.stop.requested)
        if halt:
            state.stopped = True
            if logger.verbose >= 1:
                logger.console.print(f"stopped by a callback at {now} env steps")
        return final


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
