"""Making envs from ids: registry checks with suggestions, seeding, vector envs with auto-reset switched off.

The training loop resets finished sub-envs itself (`autoreset_mode=DISABLED` plus `reset_mask`), with a seed drawn
from the run's own generator for every episode. That choice is what makes exact resume possible: an episode in flight
at a checkpoint is reproduced by resetting with its recorded seed and replaying its recorded actions.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from hrlkit.errors import HrlkitError, close_matches

# Packages that register more env ids when imported; imported lazily, and only when the id is not yet known.
_REGISTERING_PACKAGES = ("gymnasium_robotics", "ale_py", "metaworld", "hrlkit.envs.toy")


def _ensure_registered(env_id: str) -> None:
    if env_id in gym.registry:
        return
    if ":" in env_id:  # Gymnasium's "module:EnvId": importing the module registers the id
        module, _ = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise HrlkitError(f"cannot import {module!r} for env id {env_id!r}: {e}") from None
        return
    # The bundled envs first for their own namespace: importing the robotics, Atari and Meta-World packages takes ~0.7 s.
    packages = (
        sorted(_REGISTERING_PACKAGES, key=lambda p: p != "hrlkit.envs.toy")
        if env_id.startswith("hrlkit/")
        else _REGISTERING_PACKAGES
    )
    for pkg in packages:
        try:
            # gymnasium-robotics prints a notice about Adroit envs to stderr on import: keep it out of a one-line error
            with contextlib.redirect_stderr(io.StringIO()):
                mod = importlib.import_module(pkg)
        except ImportError:
            continue
        if pkg == "gymnasium_robotics" and hasattr(gym, "register_envs"):
            gym.register_envs(mod)
        if env_id in gym.registry:
            return


def check_env_id(env_id: str) -> None:
    """Raise a one-line `HrlkitError` for an unknown id, with the closest registered ids."""
    _ensure_registered(env_id)
    if env_id.split(":", 1)[-1] not in gym.registry:
        raise HrlkitError(
            f"unknown env id {env_id!r}{close_matches(env_id, gym.registry.keys())}; "
            "list the ids with `python -c 'import gymnasium; gymnasium.pprint_registry()'`"
        )


class FiniteCheck(gym.Wrapper):
    """The env's side of the contract, checked where it is broken, in one line naming the env: the first `reset` and
    `step` return what the spaces declare (observation shapes and Dict keys, the five-tuple of `step`, a number as
    reward); every observation and reward is finite (a reward also within float32, which the replay stores); an
    exception raised inside the env's `step` or `reset` names the env and the line that raised it."""

    REWARD_LIMIT = float(np.finfo(np.float32).max)

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        self._checked_reset = self._checked_step = False

    def _check(self, obs: Any, reward: float | None = None) -> None:
        values = obs.values() if isinstance(obs, dict) else [obs]
        for v in values:
            arr = np.asarray(v)
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                raise HrlkitError(
                    f"env {self._name} returned a non-finite observation {arr}: check the env or its wrappers"
                )
        if reward is not None and not np.isfinite(reward):
            raise HrlkitError(f"env {self._name} returned a non-finite reward {reward}: check the env or its wrappers")
        if reward is not None and abs(reward) > self.REWARD_LIMIT:
            raise HrlkitError(
                f"env {self._name} returned a reward of {reward:g}, beyond float32's range (3.4e38) in which rewards "
                "are stored: scale the env's rewards down (a wrapper such as gymnasium.wrappers.TransformReward)"
            )

    def _check_obs_fits(self, obs: Any, where: str) -> None:
        space = self.observation_space
        if isinstance(space, gym.spaces.Dict):
            if not isinstance(obs, dict) or set(obs) != set(space.spaces):
                got = sorted(obs) if isinstance(obs, dict) else type(obs).__name__
                raise HrlkitError(
                    f"env {self._name}'s {where} returned an observation with keys {got}, its observation space "
                    f"declares {sorted(space.spaces)}: make the env return what its observation_space declares"
                )
            pairs = [(f"[{k!r}]", obs[k], sub) for k, sub in space.spaces.items()]
        else:
            pairs = [("", obs, space)]
        for key, value, sub in pairs:
            shape = np.shape(value)
            if sub.shape is not None and shape != sub.shape:
                raise HrlkitError(
                    f"env {self._name}'s {where} returned an observation{key} of shape {shape}, its observation space "
                    f"declares {sub.shape}: make the env return what its observation_space declares"
                )

    def _call(self, where: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HrlkitError:
            raise
        except Exception as e:  # the user's env failed: say whose code it was, and where
            import traceback

            frame = traceback.extract_tb(e.__traceback__)[-1]
            if "passive_env_checker" in frame.filename:  # Gymnasium's own check of the first reset and step
                raise HrlkitError(
                    f"env {self._name}'s {where} broke Gymnasium's env contract: {str(e).splitlines()[0]}: make the env "
                    "return what its spaces declare"
                ) from e
            raise HrlkitError(
                f"env {self._name} raised {type(e).__name__} in {where}: {str(e).splitlines()[0] if str(e) else ''} "
                f"({frame.filename}:{frame.lineno}): the error is in the env"
            ) from e

    def reset(self, **kwargs):
        out = self._call("reset()", self.env.reset, **kwargs)
        if not self._checked_reset:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise HrlkitError(
                    f"env {self._name}'s reset() returned {type(out).__name__}, not (observation, info): it follows an "
                    "API older than Gymnasium's; wrap it or update it to return (obs, info)"
                )
            self._check_obs_fits(out[0], "reset()")
            self._checked_reset = True
        obs, info = out
        self._check(obs)
        return obs, info

    def step(self, action):
        out = self._call("step()", self.env.step, action)
        if not self._checked_step:
            if not (isinstance(out, tuple) and len(out) == 5):
                n = len(out) if isinstance(out, tuple) else type(out).__name__
                raise HrlkitError(
                    f"env {self._name}'s step() returned {n} values, not the five (obs, reward, terminated, truncated, "
                    "info) of Gymnasium's API: a four-tuple is the old Gym API; update the env or wrap it"
                )
            self._check_obs_fits(out[0], "step()")
            if not isinstance(out[1], int | float | np.number) and np.shape(out[1]) != ():
                raise HrlkitError(
                    f"env {self._name}'s step() returned a reward of type {type(out[1]).__name__}, not a number: make "
                    "it return a float"
                )
            self._checked_step = True
        obs, reward, terminated, truncated, info = out
        if reward is None:
            raise HrlkitError(f"env {self._name}'s step() returned None as reward: make it return a float")
        self._check(obs, float(reward))
        return obs, reward, terminated, truncated, info


class SeededTaskSampling(gym.Wrapper):
    """Makes `reset(seed=s)` choose the same task every time, for envs that sample a task before seeding.

    Meta-World's `RandomTaskSelectWrapper` draws the task (object and goal positions) from the env's generator *before*
    passing the seed on, so the task of `reset(seed=s)` depends on the episodes before it, and a resumed run could
    not rebuild its episode in flight. Seeding the generator first makes the task a function of s alone.
    """

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.env.unwrapped.np_random = np.random.default_rng(seed)
        return self.env.reset(seed=seed, options=options)


def _samples_tasks_before_seeding(env: gym.Env) -> bool:
    while isinstance(env, gym.Wrapper):
        if type(env).__name__ == "RandomTaskSelectWrapper":
            return True
        env = env.env
    return False


def make_env(
    env_id: str,
    render_mode: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    wrappers: tuple[str, ...] | list[str] = (),
) -> gym.Env:
    """One env with the named wrappers and the finite-value check; the caller seeds it through `reset(seed=...)`."""
    from hrlkit.envs.wrappers import apply_wrappers

    check_env_id(env_id)
    try:
        # render_mode only when one is asked for: an env whose constructor takes none is made as gym.make makes it
        render = {"render_mode": render_mode} if render_mode is not None else {}
        env = gym.make(env_id, **render, **(env_kwargs or {}))
    except TypeError as e:
        raise HrlkitError(f"cannot make {env_id} with env_kwargs {env_kwargs}: {e}") from None
    if _samples_tasks_before_seeding(env):
        env = SeededTaskSampling(env)
    return FiniteCheck(apply_wrappers(env, wrappers))


def make_eval_env(run: Any, render_mode: str | None = None) -> gym.Env:
    """The evaluation env of a run config (a `RunConfig` or its dict from a checkpoint's meta.json)."""
    get = run.get if isinstance(run, dict) else lambda k, d=None: getattr(run, k, d)
    kwargs = get("eval_env_kwargs")
    kwargs = get("env_kwargs") or {} if kwargs is None else kwargs
    return make_env(get("env"), render_mode, kwargs, tuple(get("wrappers") or ()))


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    render_mode: str | None = None,
    wrappers: tuple[str, ...] | list[str] = (),
) -> gym.vector.SyncVectorEnv:
    """`n_envs` copies in a SyncVectorEnv with auto-reset disabled (the loop resets, see the module docstring).

    Sync, not async: on a few CPU cores the learner's arithmetic dominates and subprocesses only add copying.
    """
    if n_envs < 1:
        raise HrlkitError(f"n_envs must be >= 1, got {n_envs}")
    check_env_id(env_id)
    fns: list[Callable[[], gym.Env]] = [
        lambda: make_env(env_id, render_mode, env_kwargs, wrappers) for _ in range(n_envs)
    ]
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.DISABLED)
