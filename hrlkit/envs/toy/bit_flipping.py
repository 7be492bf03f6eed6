"""The bit-flipping task of Hindsight Experience Replay, in plain numpy: a goal env whose reward is almost never seen.

Andrychowicz et al. (2017), "Hindsight Experience Replay" (arXiv:1707.01495), section 3.1 ("A motivating example"):
the state is a vector of n bits, action i flips bit i, and every step that does not leave the state equal to the goal
costs -1. The chance that random flips meet a random goal within n steps is exponentially small in n, so DQN alone
sees no reward signal once n is in the teens, while with HER it solves n up to about 50 (the paper's Figure 1).

    state  0 1 1 0 1        action 3 flips bit 3:   0 1 1 1 1
    goal   1 1 1 1 1        reward -1 (state != goal), not terminated

Observation (a Gymnasium goal-env `Dict`, all `Box(0, 1, (n,), float32)`):
    observation:   the state s
    achieved_goal: s again (the goal space *is* the state space here)
    desired_goal:  g

The bits are float32 (0.0 / 1.0) rather than int8 or `MultiBinary` so that `ObsFlattener` and the replay buffer take
them as they are and the relabelled goals that HER writes into a batch have the dtype of the network input; equality of
0.0 and 1.0 is exact in float32, so the reward is unaffected.

Goal-env interface, vectorised over any leading axes (HER calls it on whole batches of relabelled goals):
    compute_reward(achieved, desired, info)     -> (...) float32: 0 where achieved == desired, else -1
    compute_terminated(achieved, desired, info) -> (...) bool:    achieved == desired
    compute_truncated(achieved, desired, info)  -> (...) bool:    all False (no goal-dependent truncation)
`info` is ignored (it may be None, a dict, or a list of dicts for a batch). `step` computes its reward and `terminated`
with these same functions, so a transition relabelled with its own goal gets back exactly what the env returned.

Decisions (the paper leaves them open or the common implementations differ):
* Termination at the goal. Every action flips a bit, so the goal can never be held: an episode that went on after
  reaching it would be pushed straight off it again, and the return would reward oscillating around it. Ending the
  episode there (`terminated=True`, as Stable-Baselines3's `BitFlippingEnv` does) turns the task into a shortest-path
  problem with return -(d - 1) for a start at Hamming distance d. `info["is_success"]` is True on that step. The
  paper counts an episode as a success if the goal was reached at any step; with termination that is simply "the
  episode terminated".
* Start != goal. The start state and the goal are drawn uniformly from {0, 1}^n; the goal is redrawn while it equals
  the start (probability 2^-n each time), so no episode is solved before the first action. Stable-Baselines3 instead
  fixes the goal to all ones and lets the start equal it.
* The time limit is the env's own: `truncated=True` after `max_steps` steps (default n, the paper's episode length).
  A registration-time `max_episode_steps` would be one number for every `n_bits`. `compute_truncated` leaves this step
  count out: it is not a function of the goals, so relabelled transitions must not inherit it.

Deviation: the episode-length keyword is `max_steps`, not `max_episode_steps`: `gymnasium.make` consumes a
`max_episode_steps` keyword itself (for its `TimeLimit` wrapper) and never passes it on to the env.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class BitFlippingEnv(gym.Env):
    """n bits, action i flips bit i, reward -1 until the state equals the goal (Andrychowicz et al. 2017, sec. 3.1).

    See the module docstring for the observation, the goal-env functions and the termination and start/goal rules.

    Args:
        n_bits: number of bits n (the paper goes up to 50).
        max_steps: steps before `truncated`; None means n_bits, the paper's episode length.
        render_mode: None or "ansi" (`render()` returns "state -> goal" as two strings of 0s and 1s).

    Attributes:
        state: (n,) float32 current bits. goal: (n,) float32 desired bits. steps: steps taken this episode.

    Shapes:
        obs: dict of three (n,) float32; action: () int in [0, n); compute_reward: (..., n), (..., n) -> (...).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, n_bits: int = 10, max_steps: int | None = None, render_mode: str | None = None) -> None:
        if n_bits < 1:
            raise ValueError(f"n_bits must be >= 1, got {n_bits}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {max_steps}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode}")
        self.n_bits = int(n_bits)
        self.max_steps = self.n_bits if max_steps is None else int(max_steps)
        self.render_mode = render_mode
        bits = gym.spaces.Box(0.0, 1.0, (self.n_bits,), np.float32)
        self.observation_space = gym.spaces.Dict({"observation": bits, "achieved_goal": bits, "desired_goal": bits})
        self.action_space = gym.spaces.Discrete(self.n_bits)
        self.state = np.zeros(self.n_bits, np.float32)
        self.goal = np.ones(self.n_bits, np.float32)  # placeholders until reset()
        self.steps = 0

    # ------------------------------------------------------------------------------------------ goal-env functions
    def compute_reward(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any = None) -> np.ndarray:
        """r = 0 if achieved == desired (every bit) else -1, over any leading axes; `info` is ignored.

        Shapes:
            achieved_goal, desired_goal: (..., n) -> (...) float32
        """
        return np.where(self.compute_terminated(achieved_goal, desired_goal, info), 0.0, -1.0).astype(np.float32)

    def compute_terminated(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any = None) -> np.ndarray:
        """Success: every bit of the achieved goal equals the desired one; `info` is ignored.

        Shapes:
            achieved_goal, desired_goal: (..., n) -> (...) bool
        """
        return np.all(np.asarray(achieved_goal) == np.asarray(desired_goal), axis=-1)

    def compute_truncated(self, achieved_goal: np.ndarray, desired_goal: np.ndarray, info: Any = None) -> np.ndarray:
        """No truncation depends on the goals: all False (the time limit is a step count, see the module docstring).

        Shapes:
            achieved_goal, desired_goal: (..., n) -> (...) bool
        """
        shape = np.broadcast_shapes(np.shape(achieved_goal), np.shape(desired_goal))[:-1]
        return np.zeros(shape, dtype=bool)

    # --------------------------------------------------------------------------------------------------- episodes
    def _obs(self) -> dict[str, np.ndarray]:
        # copies: a caller that stores the dict (a replay buffer) must not see the next flip
        return {"observation": self.state.copy(), "achieved_goal": self.state.copy(), "desired_goal": self.goal.copy()}

    def _random_bits(self) -> np.ndarray:
        return self.np_random.integers(0, 2, self.n_bits).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Draw a start state and a different goal from `self.np_random`.

        `options={"state": bits, "goal": bits}` fixes either or both (tests, demos); a fixed pair must differ.
        """
        super().reset(seed=seed)
        options = options or {}
        fixed_state, fixed_goal = options.get("state"), options.get("goal")
        self.state = self._random_bits() if fixed_state is None else self._checked_bits(fixed_state, "state")
        if fixed_goal is not None:
            self.goal = self._checked_bits(fixed_goal, "goal")
            if np.array_equal(self.state, self.goal):
                raise ValueError("options 'state' and 'goal' are equal: the episode would be solved before it starts")
        else:
            self.goal = self._random_bits()
            while np.array_equal(self.state, self.goal):  # probability 2^-n per draw
                self.goal = self._random_bits()
        self.steps = 0
        return self._obs(), {"is_success": False}

    def _checked_bits(self, bits: Any, name: str) -> np.ndarray:
        arr = np.asarray(bits, dtype=np.float32).reshape(-1)
        if arr.shape != (self.n_bits,) or not np.isin(arr, (0.0, 1.0)).all():
            raise ValueError(f"option {name!r} must be {self.n_bits} bits of 0 or 1, got {bits!r}")
        return arr

    def step(self, action):
        action = int(action)
        if not 0 <= action < self.n_bits:
            raise ValueError(f"action must be a bit index in [0, {self.n_bits}), got {action}")
        self.state[action] = 1.0 - self.state[action]
        self.steps += 1
        obs = self._obs()
        # the same functions HER applies to relabelled goals, so both agree on every transition
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], None))
        terminated = bool(self.compute_terminated(obs["achieved_goal"], obs["desired_goal"], None))
        truncated = self.steps >= self.max_steps
        return obs, reward, terminated, truncated, {"is_success": terminated}

    def render(self) -> str | None:
        """The state and the goal as strings of bits, e.g. "01101 -> 11111" (render_mode "ansi"); None otherwise."""
        if self.render_mode != "ansi":
            return None
        bits = lambda x: "".join("1" if b else "0" for b in x)  # noqa: E731
        return f"{bits(self.state)} -> {bits(self.goal)}"
