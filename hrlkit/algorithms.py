"""The Python API in the style of Stable-Baselines3: `SAC(env, ...)`, `.learn()`, `.predict()`, `.save()`, `.load()`.

    from hrlkit import SAC, evaluate
    model = SAC("Pendulum-v1", seed=0, learning_starts=1000, actor_lr=3e-4)
    model.learn(20_000, progress_bar=True)
    model.save("pendulum_sac")                       # a checkpoint directory: safetensors + JSON
    model = SAC.load("pendulum_sac")
    print(evaluate(model, gymnasium.make("Pendulum-v1"), episodes=10))

Keyword arguments set any config field by name, the algorithm's (`actor_lr`), the loop's (`eval_freq`) or, for
off-policy algorithms, the replay's (`learning_starts`), with the same names as the command line.
`learn(total_env_steps)` trains until the run has seen that many env steps in total, so calling it again with a larger
number continues the same run. `learn(..., callback=...)` takes `hrlkit.training.callbacks` callbacks, which may stop
the run.

Structure: `Algorithm` (build, learn, predict, save, load, resume) with two families beneath it, `OffPolicyAlgorithm`
(replay; `hrlkit.training.off_policy`) and `OnPolicyAlgorithm` (rollouts, and online tabular learners;
`hrlkit.training.on_policy`). A concrete algorithm names itself, its config class and how to make its agent.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from hrlkit.agents import FlatAgent
from hrlkit.agents.base import Agent
from hrlkit.agents.exploration import epsilon_schedule
from hrlkit.agents.hdqn import HDQNAgent, HDQNConfig
from hrlkit.agents.her import GOAL_KEYS, HindsightRelabel, check_goal_space, env_goal_functions
from hrlkit.agents.hiro import HIROAgent, HIROConfig
from hrlkit.agents.option_critic import OptionCriticAgent, OptionCriticConfig
from hrlkit.agents.option_rollout import OptionRolloutAgent
from hrlkit.agents.rollout import RolloutAgent
from hrlkit.agents.tabular import TabularAgent
from hrlkit.buffers import ObsNormalizer, ReplayBuffer
from hrlkit.buffers.prioritized import make_sampler
from hrlkit.config import (
    REPLAY_FIELDS,
    ReplayConfig,
    RunConfig,
    TrainConfig,
    apply_mapping,
    apply_presets,
    check_values,
    save_yaml,
    set_value,
    to_dict,
)
from hrlkit.envs.make import FiniteCheck, make_eval_env, make_vec_env
from hrlkit.errors import HrlkitError
from hrlkit.learners import DDPGConfig, DQNConfig, DQNLearner, SACConfig, SACLearner, TD3Config, TD3Learner
from hrlkit.learners.option_ppo import DACConfig, DACLearner, PPOCConfig, PPOCLearner
from hrlkit.learners.ppo import PPOConfig, PPOLearner
from hrlkit.learners.qlearning import QLearningConfig, QLearningLearner
from hrlkit.learners.sac_discrete import SACDiscreteConfig, SACDiscreteLearner
from hrlkit.learners.trpo import NPGConfig, NPGLearner, TRPOConfig, TRPOLearner
from hrlkit.learners.vpg import VPGConfig, VPGLearner
from hrlkit.logging import Logger
from hrlkit.training.callbacks import Callback, CallbackList, as_callback
from hrlkit.training.checkpoint import (
    find_checkpoint,
    load_checkpoint,
    read_meta,
    remove_partial_checkpoints,
    restoring,
    save_checkpoint,
)
from hrlkit.training.lock import RunDirLock
from hrlkit.training.loop import LoopState, restore_episodes, start_episodes
from hrlkit.training.off_policy import train_off_policy
from hrlkit.training.on_policy import train_on_policy
from hrlkit.types import Subgoal


class Algorithm:
    """A trainable model: env, agent, loop state, logger and checkpoints of one run.

    Args:
        env: a Gymnasium id (a separate evaluation env is made from it) or an env object (evaluation then uses a
            copy of it, or `eval_env`).
        config: the algorithm's config dataclass, used as it is; defaults (and the preset's algo section) when None.
        run: the loop's config, used as it is; defaults (and the preset's run section) when None.
        replay: the replay config of an off-policy algorithm, used as it is; defaults (and the preset's) when None
            (on-policy algorithms have none).
        run_dir: where logs and checkpoints go; None keeps everything in memory (console logs only).
        verbose: 0 silent, 1 evaluation lines, 2 a table at every log dump.
        preset: as the CLI does, `True` applies the env's bundled preset (`hrlkit/presets/<env id>.yaml`, section of
            this algorithm) when `env` is an id and one exists; a name or path applies that preset file after it;
            `False` applies none. A preset fills only the groups (`config`, `run`, `replay`) not passed as objects;
            `overrides` apply last.
        **overrides: any config field by name (`actor_lr=1e-3`, `learning_starts=500`, `seed=3`).
    """

    name: ClassVar[str]
    config_cls: ClassVar[type]
    uses_replay: ClassVar[bool] = False

    def __init__(
        self,
        env: str | gym.Env | None = None,
        config: Any = None,
        run: RunConfig | None = None,
        run_dir: str | Path | None = None,
        verbose: int = 1,
        tensorboard: bool = True,
        replay: ReplayConfig | None = None,
        eval_env: gym.Env | None = None,
        preset: bool | str | Path = True,
        **overrides: Any,
    ) -> None:
        if replay is not None and not self.uses_replay:
            raise HrlkitError(f"{type(self).__name__} has no replay buffer: drop the replay config")
        if config is not None and not isinstance(config, self.config_cls):
            raise HrlkitError(f"{type(self).__name__} takes a {self.config_cls.__name__}, got {type(config).__name__}")
        if not isinstance(preset, bool | str | Path):
            raise HrlkitError(f"preset = {preset!r}: give True (the env's preset), False, or a preset name or path")
        config_ = TrainConfig(self.name, RunConfig(), self.config_cls(), ReplayConfig() if self.uses_replay else None)
        env_instance = None
        if run is not None:
            config_.run.env = run.env
        if isinstance(env, str):
            config_.run.env = env
        elif env is not None:
            env_instance = env
            if env.spec is not None:
                config_.run.env = env.spec.id
        # The env's preset only for an id: an env object is already built, and a preset's env_kwargs would not be its.
        applied = apply_presets(config_, None if isinstance(preset, bool) else preset, env_preset=(
            preset is not False and env_instance is None))  # fmt: skip
        for group, given in (("run", run), ("algo_config", config), ("replay", replay)):
            if given is not None:
                if group == "run":
                    given.env = config_.run.env  # the env argument wins over the run object's
                setattr(config_, group, given)
        if verbose:
            for line in applied:
                print(f"preset: {line}; objects and keyword arguments passed override it", file=sys.stderr)
        for k, v in overrides.items():
            set_value(config_, k, v)
        if eval_env is not None and not isinstance(eval_env, gym.Env):
            raise HrlkitError(f"eval_env must be a gymnasium.Env object, got {type(eval_env).__name__}")
        self._eval_env_given = eval_env
        self._setup(config_, run_dir, verbose, tensorboard, env_instance)

    @classmethod
    def _from_config(
        cls, config: TrainConfig, run_dir: str | Path | None, verbose: int, tensorboard: bool,
        env: gym.Env | None = None, resume_step: int | None = None, lock: RunDirLock | None = None,
        defer_run_dir: bool = False,
    ) -> Algorithm:  # fmt: skip
        """The constructor for a resolved `TrainConfig` (load, resume): the same set-up as `__init__`.

        `defer_run_dir`: write nothing into the run dir yet (no config.yaml, no logs) until `_open_run_dir`: a resume
        restores and checks the whole checkpoint first, so that a damaged one changes no file."""
        model = cls.__new__(cls)
        model._setup(config, run_dir, verbose, tensorboard, env, resume_step, lock, defer_run_dir)
        return model

    # ------------------------------------------------------------------------------------------------ construction
    def _setup(
        self, config: TrainConfig, run_dir: str | Path | None, verbose: int, tensorboard: bool,
        env_instance: gym.Env | None, resume_step: int | None = None, lock: RunDirLock | None = None,
        defer_run_dir: bool = False,
    ) -> None:  # fmt: skip
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.verbose, self.tensorboard = verbose, tensorboard
        check_values(config)  # every field's range, before anything is built or written
        # One writer per run dir (`hrlkit.training.lock`), taken before anything there is written.
        self._lock = lock if lock is not None or self.run_dir is None else RunDirLock.acquire(self.run_dir)
        try:
            self._build(resume_step, env_instance, defer_run_dir)
        except BaseException as e:
            self._release_lock()
            # numpy's MemoryError, or torch's "can't allocate memory": a network or buffer too large for this machine
            if isinstance(e, MemoryError) or isinstance(e, RuntimeError) and "allocate" in str(e):
                raise HrlkitError(
                    f"not enough memory to build the model ({str(e).splitlines()[0][:120]}): lower --hidden, "
                    "--batch-size or --buffer-size"
                ) from None
            raise

    def _release_lock(self) -> None:
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.release()

    def _build(self, resume_step: int | None, env_instance: gym.Env | None, defer_run_dir: bool = False) -> None:
        run = self.config.run
        check_run_config(run)
        # The networks are initialised from the run's seed in the run's own torch state (`_run_state`): the process's
        # generator and thread count are as they were once the model is built.
        with self._run_state(torch.Generator().manual_seed(run.seed).get_state()):
            self._build_parts(resume_step, env_instance, defer_run_dir)

    @contextlib.contextmanager
    def _run_state(self, torch_rng: torch.Tensor | None = None) -> Iterator[None]:
        """The run's process-wide torch settings while it builds or trains: its thread count and its own state of
        torch's global generator (which the networks' initialisation and sampling draw from; a checkpoint saves it).
        Outside, the process's own are put back, so that runs built or trained one after another in one process (two
        models in a notebook, trials sharing a Ray worker) do not draw from each other's generator."""
        outer_rng, outer_threads = torch.get_rng_state(), torch.get_num_threads()
        threads = self.config.run.torch_threads
        try:
            if threads > 0:
                torch.set_num_threads(threads)
            torch.set_rng_state(torch_rng if torch_rng is not None else self._torch_rng)
            yield
        finally:
            self._torch_rng = torch.get_rng_state()
            torch.set_rng_state(outer_rng)
            torch.set_num_threads(outer_threads)

    def _build_parts(self, resume_step: int | None, env_instance: gym.Env | None, defer_run_dir: bool) -> None:
        run = self.config.run
        if env_instance is not None:
            if run.n_envs != 1:
                raise HrlkitError(
                    f"n_envs = {run.n_envs} with an env object: an env object runs as one env; pass the env's id "
                    "(a string) to run several copies, or set n_envs to 1"
                )
            wrapped = FiniteCheck(env_instance)
            self.envs = gym.vector.SyncVectorEnv([lambda: wrapped], autoreset_mode=gym.vector.AutoresetMode.DISABLED)
        else:
            self.envs = make_vec_env(run.env, run.n_envs, run.env_kwargs, wrappers=run.wrappers)
        self.eval_env = self._evaluation_env(env_instance) if run.eval_freq > 0 else None
        self.agent: Any = self._make_agent()
        self.state: LoopState | None = None
        if defer_run_dir:
            self.logger = Logger(None, tensorboard=False, verbose=self.verbose)
        else:
            self._open_run_dir(resume_step)

    def _evaluation_env(self, env_instance: gym.Env | None) -> gym.Env | None:
        """The env of in-training evaluations: `eval_env=` when given; for a model trained on an env object, a copy of
        that object (so the user's wrappers stay: an env rebuilt from its id would drop them); else one made from the
        config like the training envs."""
        given = getattr(self, "_eval_env_given", None)
        if given is not None:
            return FiniteCheck(given)
        if env_instance is None:
            return make_eval_env(self.config.run)
        import copy

        try:
            return FiniteCheck(copy.deepcopy(env_instance))
        except Exception as e:  # noqa: BLE001 - an env that cannot be copied (an open simulator, a socket)
            print(
                f"warning: the env object cannot be copied for evaluation ({type(e).__name__}): no evaluation during "
                "training; pass eval_env= (an env like the training one, with the same wrappers)",
                file=sys.stderr,
            )
            return None

    def _open_run_dir(self, resume_step: int | None) -> None:
        """The logs (progress.csv cut back to `resume_step`, TensorBoard) and config.yaml of the run dir."""
        self.logger = Logger(
            self.run_dir, tensorboard=self.tensorboard and self.run_dir is not None, verbose=self.verbose,
            resume_step=resume_step,
        )  # fmt: skip
        if self.run_dir is not None:
            save_yaml(self.config, self.run_dir / "config.yaml")

    def _make_agent(self) -> Agent:
        raise NotImplementedError

    @property
    def observation_space(self) -> gym.Space:
        return self.envs.single_observation_space

    @property
    def action_space(self) -> gym.Space:
        return self.envs.single_action_space

    @property
    def env_steps(self) -> int:
        """Env steps trained: the loop's count, or, for a model from `load` that has not trained since, its
        checkpoint's."""
        return getattr(self, "_loaded_env_steps", 0) if self.state is None else self.state.env_steps

    # ------------------------------------------------------------------------------------------------------- train
    def learn(
        self,
        total_env_steps: int | None = None,
        progress_bar: bool = False,
        callback: Callback | list[Callback] | None = None,
        *,
        total_timesteps: int | None = None,
    ) -> Algorithm:
        """Train until the run has taken `total_env_steps` env steps in all (default: the config's), or until a
        callback returns False (`hrlkit.training.callbacks`). `total_timesteps` is Stable-Baselines3's name for the
        same budget."""
        if total_timesteps is not None:
            if total_env_steps is not None and int(total_env_steps) != int(total_timesteps):
                raise HrlkitError("give total_env_steps or total_timesteps (its Stable-Baselines3 name), not both")
            total_env_steps = total_timesteps
        run = self.config.run
        if total_env_steps is not None and int(total_env_steps) != run.total_env_steps:
            run.total_env_steps = int(total_env_steps)
            if self.run_dir is not None:
                save_yaml(self.config, self.run_dir / "config.yaml")  # the saved config stays the one that ran
        if self.state is None:
            self.state = start_episodes(self.envs, run.seed + 1)
        replay = self.config.replay
        if replay is not None and self.verbose and run.total_env_steps <= replay.learning_starts:
            print(
                f"warning: total_env_steps {run.total_env_steps} <= learning_starts {replay.learning_starts}: the run "
                "only collects random actions and never learns; raise --total-env-steps or lower --learning-starts",
                file=sys.stderr,
            )
        callbacks = CallbackList([_EvalLine(self), as_callback(callback)])
        callbacks.on_start(self)
        with self._run_state():
            self.state = self._train(callbacks, progress_bar)
        callbacks.on_end(self.env_steps, self.state.stopped)
        return self

    def _train(self, callback: Callback, progress_bar: bool) -> LoopState:
        raise NotImplementedError

    def _checkpoint_fn(self) -> Any:
        return self._save_run_checkpoint if self.run_dir is not None else None

    def predict(
        self, obs: Any, state: Any = None, episode_start: np.ndarray | None = None, deterministic: bool = True
    ) -> tuple[np.ndarray, Any]:
        """Actions for one observation or a batch, in env units (Stable-Baselines3's signature)."""
        return self.agent.predict(obs, state, episode_start, deterministic)

    def position(self, obs: Any) -> np.ndarray | None:
        """The goal dimensions of an observation, when the agent has goal dimensions (HIRO); None otherwise."""
        fn = getattr(self.agent, "position", None)
        return None if fn is None else fn(obs)

    def active_option(self, state: Any) -> np.ndarray | None:
        """The option each env runs in a `predict` state, (n,) int64; None for agents without options."""
        fn = getattr(self.agent, "active_option", None)
        return None if fn is None else fn(state)

    def subgoal(self, state: Any) -> Subgoal | None:
        """The subgoal in a `predict` state (see `hrlkit.types.Subgoal`); None for agents without subgoals."""
        fn = getattr(self.agent, "subgoal", None)
        return None if fn is None else fn(state)

    # --------------------------------------------------------------------------------------------- save and load
    def _meta(self) -> dict[str, Any]:
        return {
            "algo": self.name,
            "env": self.config.run.env,
            "env_steps": self.env_steps,
            "config": to_dict(self.config),
        }

    def _stored_experience(self) -> dict[str, np.ndarray] | None:
        """What a run checkpoint holds in replay.npz: the replay buffer, or an on-policy run's rollout."""
        return self.agent.replay_state()

    @classmethod
    def _needs_stored_experience(cls, config: TrainConfig) -> bool:
        """Whether a resume of a run with this config needs the checkpoint's replay.npz to be exact."""
        return False

    def _save_run_checkpoint(self, state: LoopState) -> None:
        assert self.run_dir is not None
        save_checkpoint(
            self.run_dir / "checkpoints" / str(state.env_steps),
            self._meta(),
            self.agent.state_tree(),
            {**state.to_tree(), "logger": self.logger.state_dict()},
            self._stored_experience(),
            keep=self.config.run.keep_checkpoints,
        )

    def save(self, path: str | Path, include_replay: bool = False) -> Path:
        """Write this model as a checkpoint directory at `path` (weights in safetensors, metadata in JSON)."""
        state = self.state.to_tree() if self.state is not None else {}
        replay = self.agent.replay_state() if include_replay else None
        return save_checkpoint(Path(path), self._meta(), self.agent.state_tree(), state, replay, keep=10**9)

    @classmethod
    def _resolve_class(cls, meta: dict[str, Any], ckpt: Path) -> type[Algorithm]:
        """The concrete class of a checkpoint: `cls` itself, or the one its metadata names when `cls` is a base."""
        concrete = "name" in vars(cls)
        model_cls = cls if concrete else algorithm_class(str(meta.get("algo", "?")))
        if not issubclass(model_cls, cls) or meta.get("algo") != model_cls.name:
            raise HrlkitError(
                f"{ckpt} holds a {meta.get('algo')!r} model, not {cls.__name__}: load it with that algorithm"
            )
        return model_cls

    @classmethod
    def load(
        cls,
        path: str | Path,
        env: str | gym.Env | None = None,
        device: str | None = None,
        checkpoint: int | None = None,
    ) -> Algorithm:
        """A model with the weights of a checkpoint (a run dir, its latest checkpoint, or a `save`d directory).

        A checkpoint of a run on a user env (`module:EnvId`) names a module; loading never imports it on the
        checkpoint's word: pass that id (or an env object) as `env`, or import the module first."""
        ckpt = find_checkpoint(path, checkpoint)
        meta = read_meta(ckpt)
        model_cls = cls._resolve_class(meta, ckpt)
        with restoring(ckpt, "meta.json: config"):
            config = config_from_dict(meta["config"])
        guard_checkpoint_env(config.run.env, env if isinstance(env, str) else None, ckpt, given_env=env is not None)
        config.run.eval_freq = 0
        if device is not None:
            config.run.device = device
        else:
            try:
                check_device(config.run.device)
            except HrlkitError:  # trained on a device this machine lacks: weights load onto the CPU
                config.run.device = "cpu"
        env_instance = None
        if isinstance(env, str):
            config.run.env = env
        elif env is not None:
            env_instance = env
        model = model_cls._from_config(config, None, verbose=0, tensorboard=False, env=env_instance)
        _, agent_state, _, _ = load_checkpoint(ckpt, with_replay=False)
        with restoring(ckpt, "agent"):
            model.agent.load_state_tree(agent_state)
        model._loaded_env_steps = int(meta["env_steps"])
        return model

    @classmethod
    def resume(
        cls, run_dir: str | Path, overrides: dict[str, Any] | None = None, verbose: int = 1, env: str | None = None
    ) -> Algorithm:
        """Continue a run from its latest checkpoint so that it logs what an uninterrupted run would have.

        `env`: the run's env id, to confirm a user env (`module:EnvId`) whose module the checkpoint names (see
        `load`)."""
        run_dir = Path(run_dir)
        ckpt = find_checkpoint(run_dir)
        lock = RunDirLock.acquire(run_dir)  # before anything in the run dir changes
        try:
            return cls._resume_locked(run_dir, ckpt, lock, overrides, verbose, env)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _resume_locked(
        cls, run_dir: Path, ckpt: Path, lock: RunDirLock, overrides: dict[str, Any] | None, verbose: int,
        env: str | None,
    ) -> Algorithm:  # fmt: skip
        meta, agent_state, loop_state, replay = load_checkpoint(ckpt)
        remove_partial_checkpoints(run_dir / "checkpoints")  # left by a run killed while it wrote one
        model_cls = cls._resolve_class(meta, ckpt)
        with restoring(ckpt, "meta.json: config"):
            config = config_from_dict(meta["config"])
        guard_checkpoint_env(config.run.env, env, ckpt)
        for k, v in (overrides or {}).items():
            set_value(config, k, v)
        # Rows logged after the checkpoint are dropped; so is a provisional last row at its step (see Logger.dump).
        with restoring(ckpt, "loop: logger"):
            logs = dict(loop_state.get("logger", {}))
        step = int(meta["env_steps"])
        resume_step = step - 1 if logs.get("provisional_step") == step else step
        model = model_cls._from_config(
            config, run_dir, verbose, True, resume_step=resume_step, lock=lock, defer_run_dir=True
        )
        with restoring(ckpt, "loop: logger"):
            model.logger.load_state_dict(logs)  # checked on the stand-in logger first
        with restoring(ckpt, "agent"):
            model.agent.load_state_tree(agent_state)
        if replay is not None:
            with restoring(ckpt, "replay.npz"):
                model.agent.load_replay_state(replay)
        elif model_cls._needs_stored_experience(config):
            raise HrlkitError(f"checkpoint {ckpt} has no replay.npz: it cannot resume exactly")
        with restoring(ckpt, "loop"), model._run_state():  # the checkpoint's generator state becomes the run's
            model.state = LoopState.from_tree(loop_state)
            model.state.check_fits(model.envs, step)
            restore_episodes(model.envs, model.state)
        # Everything restored and checked: only now is the run dir written (progress.csv cut back, config.yaml).
        model._open_run_dir(resume_step)
        model.logger.load_state_dict(logs)
        return model

    def init_from(self, path: str | Path) -> Algorithm:
        """Start this (new) run from the agent of another run's checkpoint (a run dir, its `checkpoints/STEP`, or a
        `save`d model): its weights, optimizer moments and normaliser statistics, and where its exploration schedule
        stood. The replay buffer, the env steps, the episodes and the logs start fresh. The algorithm and network
        sizes must be the checkpoint's. Returns self."""
        self.init_from_state(*read_agent_state(path, self.name))
        return self

    def init_from_state(self, ckpt: Path, agent_state: Any) -> None:
        """`init_from` with the state `read_agent_state` read (the CLI reads it before it writes the new run dir)."""
        if self.state is not None and self.state.env_steps > 0:
            raise HrlkitError("init_from starts a new run: call it before learn()")
        with restoring(ckpt, "agent"):
            self.agent.load_state_tree(agent_state)

    def close(self) -> None:
        """Close the logs and envs and give the run dir's lock back."""
        self.logger.close()
        self.envs.close()
        if self.eval_env is not None:
            self.eval_env.close()
        self._release_lock()


class _EvalLine(Callback):
    """The console line after each evaluation (verbose >= 1)."""

    def __init__(self, model: Algorithm) -> None:
        self.model = model

    def on_eval(self, env_steps: int, result: dict[str, float]) -> None:
        if self.model.verbose >= 1:
            text = f"eval @ {env_steps} env steps: return {result['mean_return']:.2f} +- {result['std_return']:.2f}"
            if "success_rate" in result:
                text += f", success rate {result['success_rate']:.2f}"
            self.model.logger.console.print(text)


class OffPolicyAlgorithm(Algorithm):
    """Algorithms that learn from replay (`hrlkit.training.off_policy`); their config has a `replay` group."""

    uses_replay = True
    flat_replay: ClassVar[bool] = False  # one learner over one replay buffer: HER and --normalize-obs apply

    def _make_agent(self) -> Agent:
        if self.replay.her.enabled and not self.flat_replay:
            raise HrlkitError(
                f"--her applies to sac, td3, ddpg, dqn and sac-discrete, not {self.name}: drop --her"
                + (" (HIRO's own hindsight at its high level: --hindsight.enabled true)" if self.name == "hiro" else "")
            )
        if self.replay.normalize_obs and not self.flat_replay:
            raise HrlkitError(
                f"--normalize-obs applies to sac, td3, ddpg, dqn and sac-discrete, not {self.name}: drop it"
            )
        return self._make_replay_agent()

    def _make_replay_agent(self) -> Agent:
        raise NotImplementedError

    @property
    def replay(self) -> ReplayConfig:
        assert self.config.replay is not None
        return self.config.replay

    def _train(self, callback: Callback, progress_bar: bool) -> LoopState:
        assert self.state is not None
        return train_off_policy(
            self.agent, self.envs, self.eval_env, self.config.run, self.replay, self.logger, self.state,
            self._checkpoint_fn(), progress_bar, callback,
        )  # fmt: skip

    def _stored_experience(self) -> dict[str, np.ndarray] | None:
        return self.agent.replay_state() if self.replay.save_replay_buffer else None

    @classmethod
    def _needs_stored_experience(cls, config: TrainConfig) -> bool:
        return config.replay is not None and config.replay.save_replay_buffer


class OnPolicyAlgorithm(Algorithm):
    """Algorithms that learn from their own rollouts, and online tabular learners (`hrlkit.training.on_policy`)."""

    def _train(self, callback: Callback, progress_bar: bool) -> LoopState:
        assert self.state is not None
        return train_on_policy(
            self.agent, self.envs, self.eval_env, self.config.run, self.logger, self.state, self._checkpoint_fn(),
            progress_bar, callback,
        )  # fmt: skip


class _FlatOffPolicy(OffPolicyAlgorithm):
    learner_cls: ClassVar[type]
    flat_replay = True

    def _make_replay_agent(self) -> FlatAgent:
        run, replay, cfg = self.config.run, self.replay, self.config.algo_config
        obs_space, act_space = self.envs.single_observation_space, self.envs.single_action_space
        learner = self.learner_cls(obs_space, act_space, cfg, device=run.device)
        rows = max(1, replay.buffer_size // run.n_envs)
        sampler = make_sampler(replay, rows * run.n_envs, replay.is_weight_anneal_env_steps or run.total_env_steps)
        buffer = ReplayBuffer(rows, obs_space, act_space, run.n_envs, device=run.device, sampler=sampler)
        transforms = []
        if replay.her.enabled:
            check_goal_space(obs_space)
            compute_reward, compute_terminated = env_goal_functions(self.envs.envs[0])
            her = replay.her
            transforms.append(
                HindsightRelabel(
                    buffer, compute_reward, compute_terminated, her.strategy, her.n_sampled_goal, seed=run.seed + 31
                )
            )
        obs_norm = None
        if replay.normalize_obs:
            goals = (
                {"desired_goal": "achieved_goal"} if set(GOAL_KEYS) <= set(getattr(obs_space, "spaces", {})) else None
            )
            # epsilon 1e-4: a standard deviation of at least 0.01, the HER paper's floor (`norm_eps`), so a feature
            # that hardly moves (FetchPush's blocked gripper fingers) is not stretched into unit-sized noise
            obs_norm = ObsNormalizer(obs_space, replay.obs_clip, epsilon=1e-4, shared=goals)
        return FlatAgent(
            learner, buffer, cfg.batch_size, seed=run.seed, exploration=self._exploration(), transforms=transforms,
            obs_norm=obs_norm,
        )  # fmt: skip

    def _exploration(self):
        return None


class SAC(_FlatOffPolicy):
    """Soft Actor-Critic with automatic entropy tuning (`hrlkit.learners.sac`)."""

    name = "sac"
    config_cls = SACConfig
    learner_cls = SACLearner


class TD3(_FlatOffPolicy):
    """Twin Delayed DDPG (`hrlkit.learners.td3`)."""

    name = "td3"
    config_cls = TD3Config
    learner_cls = TD3Learner


class DDPG(_FlatOffPolicy):
    """DDPG: TD3's update with one critic, no target smoothing, no delay (`hrlkit.learners.td3`)."""

    name = "ddpg"
    config_cls = DDPGConfig
    learner_cls = TD3Learner


class SACDiscrete(_FlatOffPolicy):
    """Soft Actor-Critic for discrete actions: twin Q(s, .) critics, a categorical policy, the expectations over
    actions computed exactly (`hrlkit.learners.sac_discrete`)."""

    name = "sac-discrete"
    config_cls = SACDiscreteConfig
    learner_cls = SACDiscreteLearner


class DQN(_FlatOffPolicy):
    """DQN with target network, Double and Dueling options, epsilon-greedy exploration (`hrlkit.learners.dqn`)."""

    name = "dqn"
    config_cls = DQNConfig
    learner_cls = DQNLearner

    def _exploration(self):
        cfg = self.config.algo_config
        return epsilon_schedule(cfg.exploration_initial, cfg.exploration_final, cfg.exploration_env_steps)


class QLearning(OnPolicyAlgorithm):
    """Tabular Q-learning with epsilon-greedy exploration, learning online from each transition once, in the
    on-policy loop with a one-step rollout (`hrlkit.learners.qlearning`, `hrlkit.agents.tabular`)."""

    name = "qlearning"
    config_cls = QLearningConfig

    def _make_agent(self) -> TabularAgent:
        run, cfg = self.config.run, self.config.algo_config
        learner = QLearningLearner(self.observation_space, self.action_space, cfg, device=run.device)
        exploration = epsilon_schedule(cfg.exploration_initial, cfg.exploration_final, cfg.exploration_env_steps)
        return TabularAgent(learner, run.seed, exploration)


class _RolloutOnPolicy(OnPolicyAlgorithm):
    learner_cls: ClassVar[type]

    def _make_agent(self) -> RolloutAgent:
        run, cfg = self.config.run, self.config.algo_config
        learner = self.learner_cls(self.observation_space, self.action_space, cfg, device=run.device)
        return RolloutAgent(learner, cfg, run.n_envs)

    @classmethod
    def _needs_stored_experience(cls, config: TrainConfig) -> bool:
        return True  # the half-collected rollout: without it a resume would start a new one


class PPO(_RolloutOnPolicy):
    """Proximal Policy Optimization with the clipped surrogate (`hrlkit.learners.ppo`)."""

    name = "ppo"
    config_cls = PPOConfig
    learner_cls = PPOLearner


class TRPO(_RolloutOnPolicy):
    """Trust Region Policy Optimization: natural gradient step with a KL line search (`hrlkit.learners.trpo`)."""

    name = "trpo"
    config_cls = TRPOConfig
    learner_cls = TRPOLearner


class NPG(_RolloutOnPolicy):
    """Natural Policy Gradient: TRPO's step scaled to the KL radius, without the line search (`hrlkit.learners.trpo`)."""

    name = "npg"
    config_cls = NPGConfig
    learner_cls = NPGLearner


class VPG(_RolloutOnPolicy):
    """Vanilla Policy Gradient with a learned value baseline and GAE (`hrlkit.learners.vpg`)."""

    name = "vpg"
    config_cls = VPGConfig
    learner_cls = VPGLearner


class _OptionRollout(_RolloutOnPolicy):
    def _make_agent(self) -> OptionRolloutAgent:
        run, cfg = self.config.run, self.config.algo_config
        learner = self.learner_cls(self.observation_space, self.action_space, cfg, device=run.device)
        return OptionRolloutAgent(learner, cfg, run.n_envs, run.seed)


class PPOC(_OptionRollout):
    """PPOC: Option-Critic with PPO's clipped objective for the intra-option policies (`hrlkit.learners.option_ppo`)."""

    name = "ppoc"
    config_cls = PPOCConfig
    learner_cls = PPOCLearner


class DAC(_OptionRollout):
    """DAC: options as two augmented MDPs, each learned by PPO (`hrlkit.learners.option_ppo`)."""

    name = "dac"
    config_cls = DACConfig
    learner_cls = DACLearner


class HDQN(OffPolicyAlgorithm):
    """h-DQN: a meta-controller picking subgoal states for a goal-conditioned controller, two DQNs
    (`hrlkit.agents.hdqn`)."""

    name = "hdqn"
    config_cls = HDQNConfig

    def _make_replay_agent(self) -> HDQNAgent:
        run = self.config.run
        return HDQNAgent(
            self.observation_space, self.action_space, self.config.algo_config, run.n_envs, run, self.replay
        )


class HIRO(OffPolicyAlgorithm):
    """HIRO: a high level setting goals every c steps for a goal-conditioned low level (`hrlkit.agents.hiro`)."""

    name = "hiro"
    config_cls = HIROConfig

    def _make_replay_agent(self) -> HIROAgent:
        run, cfg = self.config.run, self.config.algo_config
        goal_functions = env_goal_functions(self.envs.envs[0]) if cfg.hindsight.enabled else None
        agent = HIROAgent(self.observation_space, self.action_space, cfg, run.n_envs, run, self.replay, goal_functions)
        if agent.notice and self.verbose:
            print(agent.notice, file=sys.stderr)
        return agent


class OptionCritic(OffPolicyAlgorithm):
    """Option-Critic: options with learned intra-option policies and terminations (`hrlkit.agents.option_critic`)."""

    name = "option-critic"
    config_cls = OptionCriticConfig

    def _make_replay_agent(self) -> OptionCriticAgent:
        run = self.config.run
        return OptionCriticAgent(
            self.observation_space, self.action_space, self.config.algo_config, run.n_envs, run, self.replay
        )


ALGORITHMS: dict[str, type[Algorithm]] = {
    "sac": SAC,
    "td3": TD3,
    "ddpg": DDPG,
    "dqn": DQN,
    "sac-discrete": SACDiscrete,
    "qlearning": QLearning,
    "ppo": PPO,
    "trpo": TRPO,
    "npg": NPG,
    "vpg": VPG,
    "hdqn": HDQN,
    "hiro": HIRO,
    "option-critic": OptionCritic,
    "ppoc": PPOC,
    "dac": DAC,
}
PLANNED: tuple[str, ...] = ()


def algorithm_class(name: str) -> type[Algorithm]:
    from hrlkit.errors import close_matches

    if name in ALGORITHMS:
        return ALGORITHMS[name]
    if name in PLANNED:
        raise HrlkitError(
            f"algorithm {name!r} is not available in this version yet: use one of {', '.join(ALGORITHMS)}"
        )
    raise HrlkitError(
        f"unknown algorithm {name!r}{close_matches(name, [*ALGORITHMS, *PLANNED])}; use one of {', '.join(ALGORITHMS)}"
    )  # (PLANNED names algorithms announced but not yet in this version; none at the moment)


def check_run_config(run: RunConfig) -> None:
    """The loop's settings that would lose data or mislead if out of range, each refused with one line."""
    least = {"keep_checkpoints": 1, "n_envs": 1, "eval_episodes": 1, "total_env_steps": 1, "eval_freq": 0,
             "log_interval": 0, "checkpoint_freq": 0, "torch_threads": 0, "seed": 0}  # fmt: skip
    for name, low in least.items():
        value = getattr(run, name)
        if value < low:
            why = " (0 would delete the final checkpoint)" if name == "keep_checkpoints" else ""
            raise HrlkitError(f"--{name.replace('_', '-')} = {value}: it must be >= {low}{why}")
    if not run.env:
        raise HrlkitError(
            "--env is empty: name a Gymnasium env id, e.g. --env Pendulum-v1 (`hrlkit list` shows presets)"
        )
    check_device(run.device)
    for d in run.eval_success_distances:
        if isinstance(d, bool) or not isinstance(d, int | float) or not d > 0 or d != d or d == float("inf"):
            raise HrlkitError(f"--eval-success-distances {list(run.eval_success_distances)}: each must be a number > 0")


def read_agent_state(path: str | Path, algo: str) -> tuple[Path, Any]:
    """(checkpoint dir, agent state) of a run dir, its `checkpoints/STEP` or a `save`d model, refused in one line
    unless it holds an `algo` agent."""
    ckpt = find_checkpoint(path)
    meta = read_meta(ckpt)
    if meta["algo"] != algo:
        raise HrlkitError(f"{path} holds a {meta['algo']} agent, not {algo}: start from a {algo} run")
    _, agent_state, _, _ = load_checkpoint(ckpt, with_replay=False)
    return ckpt, agent_state


def check_device(device: str) -> None:
    """A device torch can parse, and that this machine has: one line otherwise (torch's own errors are tracebacks)."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise HrlkitError(f"--device = {device!r}: use cpu, cuda, cuda:N or mps") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise HrlkitError(
            f"--device = {device!r}, but CUDA is not available here (torch {torch.__version__}): use --device cpu"
        )
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise HrlkitError(f"--device = {device!r}: this machine has {torch.cuda.device_count()} CUDA devices")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise HrlkitError(f"--device = {device!r}, but MPS is not available here: use --device cpu")


def guard_checkpoint_env(env_id: str, confirmed: str | None, ckpt: Path, given_env: bool = False) -> None:
    """Refuse to import code a checkpoint names: a `module:EnvId` from a checkpoint is made only when the caller
    names the same id (`confirmed`), passes an env object (`given_env`), or has imported the module already."""
    if ":" not in env_id or given_env and confirmed is None or confirmed == env_id:
        return
    module = env_id.split(":", 1)[0]
    if module in sys.modules:
        return
    raise HrlkitError(
        f"{ckpt} was trained on {env_id!r}, whose module {module!r} would be imported; a checkpoint is never trusted "
        f"to name code to run: if you trust it, name the env yourself (--env {env_id}, or env={env_id!r} in Python)"
    )


def default_config(algo: str) -> TrainConfig:
    cls = algorithm_class(algo)
    return TrainConfig(algo, RunConfig(), cls.config_cls(), ReplayConfig() if cls.uses_replay else None)


def config_from_dict(d: dict[str, Any]) -> TrainConfig:
    """The inverse of `hrlkit.config.to_dict`.

    Configs saved before the replay group existed hold its fields under `run`; they move to `replay`, or are dropped
    for an algorithm that has none (tabular Q-learning ran through a one-row replay then). A HIRO level saved with
    the fields of both its possible learners keeps those of the learner it names.
    """
    tc = default_config(d["algo"])
    run = dict(d.get("run", {}))
    replay = dict(d.get("replay", {}))
    for key in REPLAY_FIELDS & set(run):
        value = run.pop(key)
        replay.setdefault(key, value)
    mapping = {"run": run, "algo": d.get("algo_config", {})}
    if tc.replay is not None:
        mapping["replay"] = replay
    # lenient: configs saved before HIRO's levels were learner configs list every learner's fields in each level
    apply_mapping(tc, mapping, "saved config", lenient=True)
    return tc
