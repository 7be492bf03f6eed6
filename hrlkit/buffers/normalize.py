"""Running statistics for normalising observations and rewards, as Stable-Baselines3's `VecNormalize` does.

Everything here is numpy (float64 statistics) and sits between the env and the agent: the agent updates the statistics
with what it collects and feeds the networks the normalised values, so the buffers store what the policy saw.

* `RunningMeanStd`: mean and variance of a stream of batches, merged with the parallel-variance formula of Chan, Golub
  and LeVeque (1979, "Updating formulae and a pairwise algorithm for computing sample variances", eq. 2.1b).
* `ObsNormalizer`: `clip((obs - mean) / sqrt(var + epsilon), -clip, clip)` per floating-point Box (per key of a Dict).
* `RewardNormalizer`: rewards divided by the standard deviation of a running discounted return, never centred (PPO's
  reward scaling; Engstrom et al. 2020, arXiv:2005.12729, sec. 3 "Reward scaling").

Why here and not in `hrlkit/nn`: these are numpy statistics over collected data, with no parameters to train.
"""

from __future__ import annotations

from collections.abc import Mapping

import gymnasium as gym
import numpy as np

from hrlkit.errors import HrlkitError


def _checked(state: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """`state[key]` as float64 after checking it exists, is numeric and has `shape`; HrlkitError otherwise."""
    if key not in state:
        raise HrlkitError(f"saved {what} has no array {key!r}: it was saved for another observation space or setting")
    arr = np.asarray(state[key])
    if shape == () and arr.shape == (1,):
        arr = arr.reshape(())  # a checkpoint stores scalars as one-element arrays (safetensors has no 0-d tensors)
    if arr.shape != shape or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise HrlkitError(
            f"saved {what} array {key!r} is {arr.dtype}{arr.shape}, expected numbers of shape {shape}: "
            "resume with the env and n_envs it was saved with"
        )
    return arr.astype(np.float64)


def _clip(x: np.ndarray, bound: float) -> np.ndarray:
    """`np.clip(x, -bound, bound)` as the two ufuncs it computes (NaN stays NaN), without np.clip's Python wrapper,
    which costs more than the clip itself on one step's observations."""
    return np.minimum(np.maximum(x, -bound), bound)


class RunningMeanStd:
    """Mean and (population) variance of every sample seen, updated one batch at a time.

    Merging a batch B into the statistics A so far (Chan et al. 1979), with n = n_A + n_B and delta = mean_B - mean_A:

        mean = mean_A + delta * n_B / n
        M2   = var_A * n_A + var_B * n_B + delta^2 * n_A * n_B / n      (M2: sum of squared deviations)
        var  = M2 / n

    This is exact for any split of the data into batches, and stays stable where the textbook `E[x^2] - E[x]^2` loses
    precision.

    Args:
        shape: the shape of one sample (the batch axis comes first in `update`).
        epsilon: the starting count, behind a prior of mean 0 and variance 1 (as in SB3): it keeps the first
            normalisations finite and weighs next to nothing once data arrives. 0 gives the exact sample statistics.

    Shapes:
        mean, var: `shape`, float64. count: float.
    """

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        if epsilon < 0:
            raise HrlkitError(f"RunningMeanStd epsilon (the starting count) must be >= 0, got {epsilon}")
        self.shape = tuple(shape)
        self.mean = np.zeros(self.shape, np.float64)
        self.var = np.ones(self.shape, np.float64)
        self.count = float(epsilon)

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch of samples of shape (B, *shape); an empty batch changes nothing."""
        batch = np.asarray(batch, dtype=np.float64)
        if batch.shape[1:] != self.shape:
            raise HrlkitError(f"RunningMeanStd of sample shape {self.shape} got a batch of shape {batch.shape}")
        if batch.shape[0] > 0:
            self.update_from_moments(batch.mean(axis=0), batch.var(axis=0), batch.shape[0])

    def update_from_moments(self, batch_mean: np.ndarray, batch_var: np.ndarray, batch_count: float) -> None:
        """Merge a batch given by its mean, population variance and size (Chan et al. 1979, eq. 2.1b)."""
        total = self.count + batch_count
        delta = batch_mean - self.mean  # shape
        m2 = self.var * self.count + batch_var * batch_count + np.square(delta) * self.count * batch_count / total
        self.mean = self.mean + delta * batch_count / total
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": np.array(self.count)}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore; refuses (HrlkitError) arrays of another shape before changing anything."""
        mean = _checked(state, "mean", self.shape, "running mean/std")
        var = _checked(state, "var", self.shape, "running mean/std")
        count = _checked(state, "count", (), "running mean/std")
        if not (np.isfinite(count) and count >= 0 and np.all(var >= 0)):
            raise HrlkitError("saved running mean/std has a negative or non-finite count or variance: it is corrupt")
        self.mean, self.var, self.count = mean, var, float(count)


def _normalisable(space: gym.Space) -> bool:
    # Only floating-point Boxes: uint8 frames are scaled by the CNN encoder and must stay one byte in the buffers, and
    # integer Boxes and Discrete entries are indices or counts that a float buffer of the same dtype could not hold.
    return isinstance(space, gym.spaces.Box) and np.issubdtype(space.dtype, np.floating)


class ObsNormalizer:
    """Per-feature observation normalisation with running statistics (SB3 `VecNormalize`'s observation part).

    `normalize(obs) = clip((obs - mean) / sqrt(var + epsilon), -clip, clip)` as float32, per floating-point Box: the
    whole observation for a Box space, each such key for a Dict space. Every other Dict entry (uint8 images, integer
    Boxes, Discrete) passes through unchanged, same array and dtype. A space with nothing to normalise (a Discrete, a
    uint8 image, a Dict without a floating Box) is refused with HrlkitError: asking for it is a configuration mistake.

    Args:
        space: the single-env observation space.
        clip: bound on the normalised values (in standard deviations).
        epsilon: added to the variance so a constant feature does not divide by zero.
        shared: Dict key -> the key whose statistics it uses; `update` feeds both keys' values into those statistics.
            A goal env's `{"desired_goal": "achieved_goal"}` maps both goals by one affine map, so their difference
            keeps its meaning, and the statistics cover the goals that HER puts in place of the desired ones.

    Shapes:
        obs_batch: (B, *obs_shape), or a dict of such arrays for Dict spaces; a single observation without the batch
            axis normalises too (broadcasting), but `update` needs the batch axis.
    """

    def __init__(
        self, space: gym.Space, clip: float = 10.0, epsilon: float = 1e-8, shared: Mapping[str, str] | None = None
    ) -> None:
        self.space, self.clip, self.epsilon = space, clip, epsilon
        self.is_dict = isinstance(space, gym.spaces.Dict)
        subspaces = dict(space.spaces) if self.is_dict else {"": space}
        self.shared = dict(shared or {})
        for key, owner in self.shared.items():
            if key not in subspaces or owner not in subspaces or subspaces[key].shape != subspaces[owner].shape:
                raise HrlkitError(
                    f"observation normaliser: {key!r} cannot share the statistics of {owner!r} in {space}"
                )
        # "" stands for the whole observation of a non-Dict space
        self.rms = {
            k: RunningMeanStd(s.shape) for k, s in subspaces.items() if _normalisable(s) and k not in self.shared
        }
        if not self.rms:
            raise HrlkitError(
                f"cannot normalise observations of {space}: only floating-point Box observations (or Dict entries) "
                "are normalised; turn observation normalisation off for this env"
            )

    @property
    def keys(self) -> list[str]:
        """The Dict keys that are normalised (`[""]` for a Box space), shared ones included."""
        return [*self.rms, *(k for k, owner in self.shared.items() if owner in self.rms)]

    def stats_of(self, key: str) -> RunningMeanStd:
        """The statistics that normalise `key` (its own, or those it shares)."""
        return self.rms[self.shared.get(key, key)]

    def moments(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(mean, divisor sqrt(var + epsilon)) of `key` ("" for a Box space), float64: the affine map `normalize`
        applies before clipping, for callers that apply it elsewhere (in torch: `hrlkit.agents.flat.NormalizeObs`)."""
        rms = self.stats_of(key)
        return rms.mean, np.sqrt(rms.var + self.epsilon)

    def update(self, obs_batch: np.ndarray | Mapping[str, np.ndarray]) -> None:
        """Add a batch (B, *obs_shape) to the statistics."""
        for k, rms in self.rms.items():
            if not self.is_dict:
                rms.update(obs_batch)
                continue
            sharing = [np.asarray(obs_batch[s]) for s, owner in self.shared.items() if owner == k]
            rms.update(np.concatenate([np.asarray(obs_batch[k]), *sharing]) if sharing else obs_batch[k])

    def normalize(self, obs_batch: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        """The normalised batch, float32, without updating the statistics; pass-through entries are not copied."""
        if not self.is_dict:
            return self._normalize(np.asarray(obs_batch), "")
        keys = set(self.keys)
        return {k: self._normalize(np.asarray(v), k) if k in keys else v for k, v in obs_batch.items()}

    def _normalize(self, x: np.ndarray, key: str) -> np.ndarray:
        mean, divisor = self.moments(key)
        scaled = (x - mean) / divisor  # (B, *shape) float64
        return _clip(scaled, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat name -> array (`mean`, `var`, `count`, prefixed `key.` for Dict spaces), for `np.savez`."""
        return {f"{k}.{n}" if k else n: v for k, rms in self.rms.items() for n, v in rms.state_dict().items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore every key; refuses (HrlkitError) a state of another space before changing anything."""
        restored = {}
        for k, rms in self.rms.items():
            prefix = f"{k}." if k else ""
            sub = {n[len(prefix) :]: v for n, v in state.items() if n.startswith(prefix)}
            copy = RunningMeanStd(rms.shape)
            try:
                copy.load_state_dict(sub)
            except HrlkitError as e:
                raise HrlkitError(f"observation normaliser{f' key {k!r}' if k else ''}: {e}") from None
            restored[k] = copy
        self.rms = restored


class RewardNormalizer:
    """Reward scaling by the running standard deviation of the discounted return (SB3 `VecNormalize`'s reward part).

    Each env keeps `ret = ret * gamma + r`; the variance of those returns (over all envs and steps) scales the rewards:
    `scaled = clip(r / sqrt(var + epsilon), -clip, clip)`. Rewards are not centred, so their sign is kept. Where an
    episode ended (terminated or truncated) the env's `ret` restarts at 0 *after* that step's reward was counted.

    The scale is that of the return, not of the reward (Engstrom et al. 2020, arXiv:2005.12729, sec. 3): it keeps the
    value targets near unit scale, while single rewards may end up far from 1.

    Args:
        n_envs: parallel envs (one running return each).
        gamma: the discount of the running return; use the learner's.
        clip: bound on the scaled rewards.
        epsilon: added to the variance so a constant return does not divide by zero.

    Shapes:
        rewards, dones: (n_envs,). returns: (n_envs,) float64.
    """

    def __init__(self, n_envs: int, gamma: float, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.n_envs, self.gamma, self.clip, self.epsilon = n_envs, gamma, clip, epsilon
        self.rms = RunningMeanStd(())
        self.returns = np.zeros(n_envs, np.float64)

    def update_and_scale(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Advance the running returns by one vector step, update the statistics, and scale this step's rewards.

        `dones` is `terminated | truncated`: both end the discounted sum of the episode.
        """
        rewards = np.asarray(rewards, dtype=np.float64)
        assert rewards.shape == (self.n_envs,), f"rewards {rewards.shape}, expected ({self.n_envs},)"
        self.returns = self.returns * self.gamma + rewards  # (n_envs,)
        self.rms.update(self.returns)
        scaled = self.scale(rewards)  # with the statistics that include this step, as SB3
        self.returns[np.asarray(dones, dtype=bool)] = 0.0  # the next episode's return starts from nothing
        return scaled

    def scale(self, rewards: np.ndarray) -> np.ndarray:
        """Rewards scaled by the current statistics, float32, without updating anything (evaluation, logging)."""
        scaled = np.asarray(rewards, dtype=np.float64) / np.sqrt(self.rms.var + self.epsilon)
        return _clip(scaled, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The return statistics (`mean`, `var`, `count`) and the per-env running `returns`."""
        return {**self.rms.state_dict(), "returns": self.returns.copy()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore; refuses (HrlkitError) a state of another n_envs before changing anything."""
        returns = _checked(state, "returns", (self.n_envs,), "reward normaliser")
        rms = RunningMeanStd(())
        rms.load_state_dict(state)
        self.rms, self.returns = rms, returns
