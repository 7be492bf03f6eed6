"""The stochastic decision process of h-DQN, in plain numpy: a chain where the good reward needs a detour.

Kulkarni, Narasimhan, Saeedi & Tenenbaum (2016), "Hierarchical Deep Reinforcement Learning: Integrating Temporal
Abstraction and Intrinsic Motivation" (arXiv:1604.06057), section 4.1.

    s1  <-  s2  ->  s3  ->  s4  ->  s5  ->  s6
    end   start

Six states s1..s6 (observation `Discrete(6)`, index 0..5), start in s2 (index 1). Actions `Discrete(2)`: 0 left
always moves one state left; 1 right moves one state right with probability `right_prob` (0.5), otherwise one state
left. The episode terminates on reaching s1, and only that step is rewarded: 1.0 if s6 was visited during the
episode, 0.01 otherwise; every other step gives 0. Going straight left earns 0.01 in one step, so a flat agent with
epsilon-greedy exploration rarely finds the 1.0 that needs about ten steps of mostly 'right'.

At s6 there is no state to the right: 'right' keeps the agent at s6 with probability `right_prob` (the successful move
is clipped at the end of the chain) and otherwise moves it left to s5, as everywhere else.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


class HDQNChainEnv(gym.Env):
    """h-DQN's six-state stochastic chain with a delayed, visit-dependent terminal reward.

    Kulkarni et al. (2016), arXiv:1604.06057, section 4.1; see the module docstring for the dynamics.

    Args:
        n_states: number of states (the paper's 6); the agent starts in index 1 and the episode ends in index 0.
        right_prob: probability that 'right' moves right (the paper's 0.5); otherwise it moves left.
        render_mode: None or "ansi".

    Attributes:
        state: the current state index (s1 is 0).
        visited_s6: whether the last state (s6, index `n_states - 1`) was visited in this episode.

    Shapes:
        obs: () int in [0, n_states); action: () int in {0, 1}.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    LEFT, RIGHT = 0, 1
    START = 1  # s2

    def __init__(self, n_states: int = 6, right_prob: float = 0.5, render_mode: str | None = None) -> None:
        if n_states < 3:
            raise ValueError(f"n_states must be >= 3 (terminal s1, start s2, a far end), got {n_states}")
        if not 0.0 <= right_prob <= 1.0:
            raise ValueError(f"right_prob must be in [0, 1], got {right_prob}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode}")
        self.n_states, self.right_prob = n_states, float(right_prob)
        self.observation_space = gym.spaces.Discrete(n_states)
        self.action_space = gym.spaces.Discrete(2)
        self.render_mode = render_mode
        self.state, self.visited_s6 = self.START, False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.state, self.visited_s6 = self.START, False
        return self.state, {"visited_s6": self.visited_s6}

    def step(self, action):
        if int(action) == self.RIGHT and self.np_random.random() < self.right_prob:
            self.state = min(self.state + 1, self.n_states - 1)  # at s6 a successful 'right' stays put
        else:
            self.state -= 1  # 'left', or a failed 'right'
        self.visited_s6 = self.visited_s6 or self.state == self.n_states - 1
        terminated = self.state == 0
        reward = (1.0 if self.visited_s6 else 0.01) if terminated else 0.0
        return self.state, reward, terminated, False, {"visited_s6": self.visited_s6}

    def render(self) -> str | None:
        """ "ansi": the chain with the agent's state in brackets, e.g. `s1 [s2] s3 s4 s5 s6   visited s6: no`."""
        if self.render_mode == "ansi":
            cells = [f"[s{i + 1}]" if i == self.state else f"s{i + 1}" for i in range(self.n_states)]
            return " ".join(cells) + f"   visited s{self.n_states}: {'yes' if self.visited_s6 else 'no'}\n"
        gym.logger.warn("render() called with render_mode=None; pass render_mode='ansi' to make().")
        return None
