"""On-policy rollout storage and generalized advantage estimation (GAE).

GAE: Schulman, Moritz, Levine, Jordan and Abbeel 2016, "High-Dimensional Continuous Control Using Generalized Advantage
Estimation", arXiv:1506.02438, eq. 16. The rollout is laid out `(n_steps, n_envs, ...)` as in Stable-Baselines3 and
flattened step-major for the learner.

The non-obvious part is the bootstrap value of each step, `next_values[t]` = V(the observation that followed step t):

* inside the rollout it is V(obs[t+1]) = `values[t+1]` of the same env;
* at the rollout's end (t = T-1) it is V(the last observation), which the agent evaluates after collecting;
* where the episode was *truncated* at step t, obs[t+1] is already the next episode's reset observation, so the agent
  passes V(true final observation) at `add` time (`final_values`); the training loop keeps that observation because
  the vector env runs with `autoreset_mode=DISABLED` (see `hrlkit.envs.make`);
* where it *terminated*, the value is multiplied by 0 and never read.
"""

from __future__ import annotations

from collections.abc import Mapping

import gymnasium as gym
import numpy as np
import torch

from hrlkit.errors import HrlkitError
from hrlkit.types import RolloutBatch, TensorObs

ObsArray = np.ndarray | dict[str, np.ndarray]


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalized advantage estimates and TD(lambda) returns (Schulman et al. 2016, arXiv:1506.02438, eq. 16).

        delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
        A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},     done_t = terminated_t or truncated_t
        returns = A + values

    A terminated step does not bootstrap; a truncated one does, through `next_values` (the value of its final
    observation), but its advantage chain stops there as for any episode end. The last step of the rollout bootstraps
    from `next_values[T-1]` with A_T = 0, which is how an episode crossing the rollout boundary is cut.

    Numpy rather than torch: the recursion is a sequential loop over T, collection is numpy, and the result is
    computed once per rollout before the buffer converts everything to tensors.

    Args:
        rewards: r_t.
        values: V(s_t) of the step's start observation, from the collecting policy's critic.
        next_values: V of the observation that followed step t (see the module docstring).
        terminated, truncated: bool (or 0/1) episode ends at step t.
        gamma: discount.
        gae_lambda: the lambda of GAE (1: Monte-Carlo advantages, 0: one-step TD errors).

    Shapes:
        every array: (T, n_envs) -> advantages, returns: (T, n_envs) float32. (Any trailing shape works, time first.)
    """
    shape = np.shape(rewards)
    for name, x in (("values", values), ("next_values", next_values), ("terminated", terminated)):
        assert np.shape(x) == shape, f"gae: {name} has shape {np.shape(x)}, rewards {shape}"
    assert np.shape(truncated) == shape, f"gae: truncated has shape {np.shape(truncated)}, rewards {shape}"
    rewards, values, next_values = (np.asarray(x, np.float32) for x in (rewards, values, next_values))
    not_terminated = 1.0 - np.asarray(terminated, np.float32)  # (T, n_envs): 0 stops the bootstrap
    not_done = 1.0 - np.logical_or(terminated, truncated).astype(np.float32)  # (T, n_envs): 0 stops the chain

    # Eq. 16 is A_t = sum_{l >= 0} (gamma * lambda)^l * delta_{t+l}, summed until the episode ends. Splitting off the
    # first term gives A_t = delta_t + gamma * lambda * A_{t+1} while t+1 is in the same episode, and A_t = delta_t at
    # an episode's last step (done_t) or at the rollout's last step (A_T = 0: nothing beyond it was observed; the
    # future is summarised by next_values[T-1] inside delta_{T-1}). All deltas at once, then one backward pass over T
    # that is vectorised over envs. The loop writes each row in place through row views (no temporaries), with the
    # decay gamma * lambda * (1 - done_t) computed for all steps up front: the same float32 ops per element.
    deltas = rewards + gamma * not_terminated * next_values - values  # (T, n_envs)
    decay = gamma * gae_lambda * not_done  # (T, n_envs)
    advantages = np.empty_like(deltas)  # (T, n_envs)
    running = np.zeros_like(deltas[0])  # (n_envs,) A_{t+1}
    for delta, dec, adv in zip(deltas[::-1], decay[::-1], advantages[::-1], strict=True):  # rows t = T-1, ..., 0
        np.multiply(dec, running, out=adv)
        np.add(delta, adv, out=adv)  # A_t = delta_t + decay_t * A_{t+1}
        running = adv
    return advantages, advantages + values


def _stored_dtype(space: gym.Space) -> np.dtype:
    # float64 observations (MuJoCo) are kept as float32: the networks compute in float32 and it halves the rollout.
    if isinstance(space, gym.spaces.Discrete):
        return np.dtype(np.int64)
    return np.dtype(np.float32) if np.dtype(space.dtype) == np.float64 else np.dtype(space.dtype)


def _obs_array(space: gym.Space, n_steps: int, n_envs: int) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return np.zeros((n_steps, n_envs), np.int64)  # indices; the network one-hots or embeds them
    if isinstance(space, gym.spaces.Box):
        return np.zeros((n_steps, n_envs, *space.shape), _stored_dtype(space))
    raise HrlkitError(f"the rollout buffer stores Box, Discrete or Dict observations, not {space}")


def _nbytes(x: ObsArray) -> int:
    return sum(v.nbytes for v in x.values()) if isinstance(x, dict) else x.nbytes


class RolloutBuffer:
    """One rollout of `n_steps` vector steps from `n_envs` envs, with GAE, for PPO-style learners.

    Use: `add` once per vector step until `full`, then `finish(last_values)` computes next values, advantages and
    returns, `get()` returns the whole rollout flattened for the learner, and `reset()` starts the next one.

    Args:
        n_steps: T, vector steps per rollout.
        n_envs: envs written per `add`.
        obs_space: the single-env observation space: Box (flat features or uint8 images), Discrete (stored as int64
            indices) or Dict of those (one array per key). Arrays have the space's dtype, except float64, kept as
            float32 like the replay buffer.
        action_space: Box: the *unclipped* normalised sample the policy drew, float32 (its log-prob is the one
            stored); Discrete: int64 indices.
        device: where `get` puts its tensors.

    Shapes (stored): obs (T, n_envs, *obs_shape); actions (T, n_envs, *action_shape) float32 or (T, n_envs) int64;
        rewards, values, log_probs, next_values, advantages, returns (T, n_envs) float32; terminated, truncated
        (T, n_envs) bool.

    Memory (`bytes_per_step`, per env step): obs bytes + action bytes + 6 x 4 (rewards, values, log_probs,
    next_values, advantages, returns) + 2 (terminated, truncated). For Pendulum-v1 (3 float32 obs, 1 float32 action):
    12 + 4 + 24 + 2 = 42 bytes; a 2048 x 8 rollout is 688 kB. For Atari frames (4, 84, 84) uint8 with a Discrete
    action: 28224 + 8 + 26 = 28258 bytes per env step.
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_space: gym.Space,
        action_space: gym.Space,
        device: torch.device | str = "cpu",
    ) -> None:
        if n_steps < 1 or n_envs < 1:
            raise HrlkitError(f"a rollout needs n_steps >= 1 and n_envs >= 1, got {n_steps} and {n_envs}")
        self.n_steps, self.n_envs, self.device = n_steps, n_envs, torch.device(device)
        self.obs_space, self.action_space = obs_space, action_space
        if isinstance(obs_space, gym.spaces.Dict):
            self.obs: ObsArray = {k: _obs_array(s, n_steps, n_envs) for k, s in obs_space.spaces.items()}
        else:
            self.obs = _obs_array(obs_space, n_steps, n_envs)
        if isinstance(action_space, gym.spaces.Discrete):
            self.actions = np.zeros((n_steps, n_envs), np.int64)
        elif isinstance(action_space, gym.spaces.Box):
            self.actions = np.zeros((n_steps, n_envs, *action_space.shape), np.float32)
        else:
            raise HrlkitError(f"the rollout buffer stores Box or Discrete actions, not {action_space}")
        f32 = lambda: np.zeros((n_steps, n_envs), np.float32)  # noqa: E731
        self.rewards, self.values, self.log_probs = f32(), f32(), f32()
        self.next_values, self.advantages, self.returns = f32(), f32(), f32()
        self.terminated = np.zeros((n_steps, n_envs), np.bool_)
        self.truncated = np.zeros((n_steps, n_envs), np.bool_)
        self.pos = 0  # next step to write; steps [0, pos) hold data
        self.finished = False  # advantages and returns are those of steps [0, pos)

    # ----------------------------------------------------------------------------------------------------- sizes
    @property
    def full(self) -> bool:
        return self.pos == self.n_steps

    def __len__(self) -> int:
        """Env steps stored (steps x envs)."""
        return self.pos * self.n_envs

    @property
    def bytes_per_step(self) -> int:
        """Bytes per stored env step (one env, one step), over every array."""
        arrays = [self.obs, self.actions, self.rewards, self.values, self.log_probs, self.next_values]
        arrays += [self.advantages, self.returns, self.terminated, self.truncated]
        return sum(_nbytes(a) for a in arrays) // (self.n_steps * self.n_envs)

    # ------------------------------------------------------------------------------------------------------ write
    def add(
        self,
        obs: ObsArray | Mapping[str, np.ndarray],
        actions: np.ndarray,
        rewards: np.ndarray,
        values: np.ndarray,
        log_probs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        final_values: np.ndarray | None = None,
    ) -> None:
        """Write one vector step; every argument has a leading `n_envs` axis.

        Args:
            obs: the observation at the step's *start* (what the policy acted on, normalised if the agent normalises).
            actions: what the policy drew (unclipped, normalised, for Box actions).
            rewards: the rewards the learner trains on (scaled, if the agent scales rewards).
            values, log_probs: V(obs) and log pi(actions | obs) of the collecting policy.
            terminated, truncated: how the step ended each env's episode.
            final_values: V(true final observation) for the envs truncated at this step; entries of other envs are
                ignored. Required when any env is truncated and not terminated: without it the bootstrap would use the
                next episode's reset observation.

        Shapes:
            obs: (n_envs, *obs_shape) or a dict of such; actions: (n_envs, *action_shape) or (n_envs,); the rest:
            (n_envs,).
        """
        if self.full:
            raise HrlkitError(f"the rollout buffer is full ({self.n_steps} steps): call finish, get and reset first")
        n = self.n_envs
        for name, x in (("rewards", rewards), ("values", values), ("log_probs", log_probs)):
            assert np.shape(x) == (n,), f"{name} has shape {np.shape(x)}, expected ({n},)"
        terminated = np.asarray(terminated, dtype=bool)  # (n_envs,)
        truncated = np.asarray(truncated, dtype=bool)  # (n_envs,)
        # Gymnasium may report both; terminated wins (no bootstrap), so only truncated-only envs need a final value.
        needs_final = truncated & ~terminated  # (n_envs,)
        if needs_final.any() and final_values is None:
            raise HrlkitError(
                f"envs {np.flatnonzero(needs_final).tolist()} were truncated: pass final_values, V of their final "
                "observations, so that GAE bootstraps from them and not from the reset observations"
            )
        if isinstance(self.obs, dict):
            for k, arr in self.obs.items():
                arr[self.pos] = obs[k]
        else:
            self.obs[self.pos] = obs
        self.actions[self.pos] = actions
        self.rewards[self.pos] = rewards
        self.values[self.pos] = values
        self.log_probs[self.pos] = log_probs
        self.terminated[self.pos] = terminated
        self.truncated[self.pos] = truncated
        # Kept here until `finish` fills every other entry; terminated entries are multiplied by 0 in `gae`.
        if final_values is None:
            self.next_values[self.pos] = 0.0
        else:
            self.next_values[self.pos] = np.where(needs_final, final_values, 0.0)
        self.pos += 1
        self.finished = False

    def finish(self, last_values: np.ndarray, gamma: float, gae_lambda: float) -> None:
        """Fill `next_values` and compute `advantages` and `returns` of the steps stored so far with `gae`.

        Args:
            last_values: V(the observation after the last stored step), from the collecting policy's critic: it
                bootstraps every episode still running at the rollout's end (truncated envs keep their final value).
            gamma, gae_lambda: as in `gae`.

        Shapes:
            last_values: (n_envs,).
        """
        if self.pos == 0:
            raise HrlkitError("cannot finish an empty rollout: add steps first")
        assert np.shape(last_values) == (self.n_envs,), (
            f"last_values {np.shape(last_values)}, expected ({self.n_envs},)"
        )
        T = self.pos
        # next_values[t] = values[t+1] inside the rollout and last_values after it, except where the episode was
        # truncated at t: there add() stored V(final obs), and values[t+1] is V(reset obs) of the next episode.
        following = np.concatenate([self.values[1:T], np.asarray(last_values, np.float32)[None]])  # (T, n_envs)
        keep_final = self.truncated[:T] & ~self.terminated[:T]  # (T, n_envs)
        self.next_values[:T] = np.where(keep_final, self.next_values[:T], following)
        self.advantages[:T], self.returns[:T] = gae(
            self.rewards[:T],
            self.values[:T],
            self.next_values[:T],
            self.terminated[:T],
            self.truncated[:T],
            gamma,
            gae_lambda,
        )
        self.finished = True

    def reset(self) -> None:
        """Start a new rollout (the arrays are overwritten, not cleared)."""
        self.pos, self.finished = 0, False

    # ------------------------------------------------------------------------------------------------------- read
    def get(self) -> RolloutBatch:
        """The finished rollout as tensors on `device`, flattened over (steps, envs), step-major.

        Row `t * n_envs + env` holds step t of env `env`. Worked example: n_envs = 3, row 7 -> t = 2, env = 1
        (7 = 2 * 3 + 1), i.e. `self.rewards[2, 1]`; rows 6, 7, 8 are step 2 of envs 0, 1, 2.

        Shapes: as `RolloutBatch` with N = pos x n_envs.
        """
        if not self.finished:
            raise HrlkitError("the rollout has no advantages yet: call finish(last_values, gamma, gae_lambda) first")
        return RolloutBatch(
            obs=self._flat_obs(),
            actions=self._flat(self.actions),
            values=self._flat(self.values),
            log_probs=self._flat(self.log_probs),
            advantages=self._flat(self.advantages),
            returns=self._flat(self.returns),
        )

    def _flat_obs(self) -> TensorObs:
        if isinstance(self.obs, dict):
            return {k: self._flat(v) for k, v in self.obs.items()}
        return self._flat(self.obs)

    def _flat(self, x: np.ndarray) -> torch.Tensor:
        # A C-order reshape of (T, n_envs, ...) puts (t, env) at row t * n_envs + env. torch.tensor copies: a tensor
        # sharing memory with the buffer would change under the learner once the next rollout is written.
        flat = x[: self.pos].reshape(self.pos * self.n_envs, *x.shape[2:])  # (N, ...)
        return torch.tensor(flat, device=self.device)

    # ------------------------------------------------------------------------------------------- save and restore
    def _arrays(self) -> dict[str, np.ndarray]:
        out = {f"obs.{k}": v for k, v in self.obs.items()} if isinstance(self.obs, dict) else {"obs": self.obs}
        for name in ("actions", "rewards", "values", "log_probs", "terminated", "truncated", "next_values"):
            out[name] = getattr(self, name)
        out.update(advantages=self.advantages, returns=self.returns)
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat name -> array (copies), plus `pos` and `finished`, for `np.savez`; a half-filled rollout resumes."""
        out = {k: v.copy() for k, v in self._arrays().items()}
        out.update(pos=np.array(self.pos, np.int64), finished=np.array(self.finished))
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore; every array is checked (name, shape, dtype) before anything is copied, so a bad checkpoint is
        refused with one HrlkitError line and leaves the buffer as it was."""
        arrays = self._arrays()
        unexpected = sorted(set(state) - set(arrays) - {"pos", "finished"})
        if unexpected:
            raise HrlkitError(
                f"saved rollout has arrays {unexpected} this buffer does not: it was saved for another observation space"
            )
        for key, target in arrays.items():
            if key not in state:
                raise HrlkitError(f"saved rollout has no array {key!r}: it was saved for another observation space")
            saved = np.asarray(state[key])
            if saved.shape != target.shape or saved.dtype != target.dtype:
                raise HrlkitError(
                    f"saved rollout array {key!r} is {saved.dtype}{saved.shape}, expected {target.dtype}"
                    f"{target.shape}: resume with the same n_steps, n_envs, env and algorithm"
                )
        pos, finished = np.asarray(state.get("pos")), np.asarray(state.get("finished", False))
        if pos.shape != () or not np.issubdtype(pos.dtype, np.integer) or not 0 <= int(pos) <= self.n_steps:
            raise HrlkitError(f"saved rollout position {pos!r} is not an integer in [0, {self.n_steps}]: it is corrupt")
        if finished.shape != () or finished.dtype != np.bool_:
            raise HrlkitError(f"saved rollout flag 'finished' {finished!r} is not a boolean: it is corrupt")
        for key, target in arrays.items():
            target[...] = state[key]
        self.pos, self.finished = int(pos), bool(finished)
