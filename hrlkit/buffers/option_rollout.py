"""The rollout of the option learners on PPO (PPOC, DAC): `RolloutBuffer` plus the options and the high MDP.

Every step is a transition of two MDPs (Zhang & Whiteson 2019, arXiv:1904.12691): the low one, state (s, w), action a,
baseline Q_Omega(s, w) (the base buffer's `values`), and the high one, state (s, w-), action w, baseline
V_hat(s, w-) = sum_w' pi_hat(w'|s, w-) Q_Omega(s, w') (`values_high`). GAE runs once per MDP with the same rewards and
the same bootstrap:

    next_values[t] = U(s_{t+1}, w_t) = sum_w' pi_hat(w'|s_{t+1}, w_t) Q_Omega(s_{t+1}, w')

which is `values_high[t+1]` inside the rollout (step t+1's previous option is w_t), V_hat of the true final
observation where the episode was truncated at t (the agent passes it to `add`), and V_hat of the last observation
after the rollout's last step. It is the value of the high MDP's next state, and for the low MDP the expectation over
the next option of Q_Omega(s_{t+1}, w_{t+1}).

Deviation: the reference implementation of DAC bootstraps the low MDP from Q_Omega(s_{t+1}, w_{t+1}) of the option
actually drawn next; the expectation U above has the same mean and a lower variance, and lets one bootstrap serve both
MDPs (and the rollout's end, where no next option has been drawn yet).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from hrlkit.buffers.rollout import RolloutBuffer, gae
from hrlkit.errors import HrlkitError
from hrlkit.types import OptionRolloutBatch


class OptionRolloutBuffer(RolloutBuffer):
    """`RolloutBuffer` with per-step options, the high MDP's log-probs, values, pi_hat and GAE.

    Args:
        n_steps, n_envs, obs_space, action_space, device: as `RolloutBuffer`.
        n_options: K.

    Shapes (stored, besides the base buffer's): options, prev_options (T, n_envs) int64; starts, chose (T, n_envs)
        bool; log_probs_high, values_high, values_master, advantages_high, returns_high (T, n_envs) float32; pi_hat
        (T, n_envs, K) float32.
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_space: gym.Space,
        action_space: gym.Space,
        n_options: int,
        device: str = "cpu",
    ) -> None:
        super().__init__(n_steps, n_envs, obs_space, action_space, device)
        self.n_options = n_options
        i64 = lambda: np.zeros((n_steps, n_envs), np.int64)  # noqa: E731
        f32 = lambda: np.zeros((n_steps, n_envs), np.float32)  # noqa: E731
        self.options, self.prev_options = i64(), i64()
        self.starts = np.zeros((n_steps, n_envs), np.bool_)
        self.chose = np.zeros((n_steps, n_envs), np.bool_)
        self.log_probs_high, self.values_high, self.values_master = f32(), f32(), f32()
        self.advantages_high, self.returns_high = f32(), f32()
        self.pi_hat = np.zeros((n_steps, n_envs, n_options), np.float32)

    def add_options(
        self,
        options: np.ndarray,
        prev_options: np.ndarray,
        starts: np.ndarray,
        chose: np.ndarray,
        log_probs_high: np.ndarray,
        values_high: np.ndarray,
        values_master: np.ndarray,
        pi_hat: np.ndarray,
    ) -> None:
        """The option fields of the step that the next `add` writes; call it right before `add`.

        Shapes: pi_hat (n_envs, K); the rest (n_envs,).
        """
        if self.full:
            raise HrlkitError(f"the rollout buffer is full ({self.n_steps} steps): call finish, get and reset first")
        assert np.shape(pi_hat) == (self.n_envs, self.n_options), f"pi_hat has shape {np.shape(pi_hat)}"
        t = self.pos
        self.options[t], self.prev_options[t], self.starts[t], self.chose[t] = options, prev_options, starts, chose
        self.log_probs_high[t], self.values_high[t], self.values_master[t] = log_probs_high, values_high, values_master
        self.pi_hat[t] = pi_hat

    def finish(self, last_values: np.ndarray, gamma: float, gae_lambda: float) -> None:
        """Fill `next_values` (U of the next state, see the module docstring) and run GAE for both MDPs.

        Args:
            last_values: U(the observation after the last step, the option then running), (n_envs,).
        """
        if self.pos == 0:
            raise HrlkitError("cannot finish an empty rollout: add steps first")
        assert np.shape(last_values) == (self.n_envs,), f"last_values {np.shape(last_values)}"
        T = self.pos
        following = np.concatenate([self.values_high[1:T], np.asarray(last_values, np.float32)[None]])  # (T, n)
        keep_final = self.truncated[:T] & ~self.terminated[:T]  # (T, n): add() stored U(final obs) there
        self.next_values[:T] = np.where(keep_final, self.next_values[:T], following)
        common = (self.next_values[:T], self.terminated[:T], self.truncated[:T], gamma, gae_lambda)
        self.advantages[:T], self.returns[:T] = gae(self.rewards[:T], self.values[:T], *common)
        self.advantages_high[:T], self.returns_high[:T] = gae(self.rewards[:T], self.values_high[:T], *common)
        self.finished = True

    def get(self) -> OptionRolloutBatch:  # type: ignore[override]
        """The finished rollout as tensors, flattened step-major (row t * n_envs + env), as `RolloutBuffer.get`."""
        if not self.finished:
            raise HrlkitError("the rollout has no advantages yet: call finish(last_values, gamma, gae_lambda) first")
        f = self._flat
        returns = f(self.returns)
        return OptionRolloutBatch(
            obs=self._flat_obs(), actions=f(self.actions), options=f(self.options),
            prev_options=f(self.prev_options), starts=f(self.starts), chose=f(self.chose), log_probs=f(self.log_probs),
            log_probs_high=f(self.log_probs_high), values=f(self.values), values_high=f(self.values_high),
            values_master=f(self.values_master), pi_hat=f(self.pi_hat), advantages=f(self.advantages),
            returns=returns, advantages_high=f(self.advantages_high), returns_high=f(self.returns_high),
            advantages_master=returns - f(self.values_master),
        )  # fmt: skip

    @property
    def bytes_per_step(self) -> int:
        extra = [self.options, self.prev_options, self.starts, self.chose, self.log_probs_high, self.values_high]
        extra += [self.values_master, self.advantages_high, self.returns_high, self.pi_hat]
        return super().bytes_per_step + sum(a.nbytes for a in extra) // (self.n_steps * self.n_envs)

    def _arrays(self) -> dict[str, np.ndarray]:
        out = super()._arrays()
        for name in ("options", "prev_options", "starts", "chose", "log_probs_high", "values_high", "values_master"):
            out[name] = getattr(self, name)
        out.update(pi_hat=self.pi_hat, advantages_high=self.advantages_high, returns_high=self.returns_high)
        return out
