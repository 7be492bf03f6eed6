"""The agent of online tabular methods: `FlatAgent` whose replay holds only the last transition of each env.

Tabular Q-learning (`hrlkit.learners.qlearning`) learns from every transition once, right after it is observed, and
never from replay. So the buffer is a `ReplayBuffer` of one row: `observe` overwrites it with the vector step just
taken, and `update` (which the loop calls right after `observe`) hands that row, all envs at once, to the learner.
Everything else (epsilon-greedy acting, warm-up actions, `predict`, checkpoints) is FlatAgent's, so the agent's state
is the learner's table, the generator and the step counter, and the "replay" is the one row: a resume is exact.

Transitions observed before `learning_starts` are not learned from (the loop does not call `update` then, and the next
step overwrites the row): tabular presets set `learning_starts: 0`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hrlkit.agents.flat import FlatAgent
from hrlkit.buffers import ReplayBuffer
from hrlkit.errors import HrlkitError
from hrlkit.learners.base import Learner
from hrlkit.learners.common import linear_schedule


def epsilon_schedule(initial: float, final: float, env_steps: int) -> Callable[[int], float]:
    """epsilon(t): `initial` -> `final` linearly over `env_steps` env steps, then `final`; checked to be probabilities."""
    if not 0.0 <= initial <= 1.0 or not 0.0 <= final <= 1.0:
        raise HrlkitError(f"epsilon values are probabilities: keep {initial} and {final} in [0, 1]")
    return lambda t: linear_schedule(initial, final, env_steps, t)


class TabularAgent(FlatAgent):
    """FlatAgent with a one-row buffer and an `update` that learns from that row: every env's last transition, once.

    Args:
        learner: an online learner (`QLearningLearner`).
        run: the loop's config: n_envs, seed, device; `train_freq` and `gradient_steps` must be 1 (an online method
            learns from each transition exactly once, right after it) and prioritized replay is off.
        exploration: epsilon as a function of env steps observed (`epsilon_schedule`).
    """

    def __init__(self, learner: Learner, run: Any, exploration: Callable[[int], float] | None) -> None:
        if run.train_freq != 1 or run.gradient_steps != 1:
            raise HrlkitError(
                f"tabular Q-learning learns from each transition once, right after it: keep train_freq and "
                f"gradient_steps at 1 (got {run.train_freq} and {run.gradient_steps})"
            )
        if run.prioritized_replay:
            raise HrlkitError("tabular Q-learning has no replay to prioritize: drop --prioritized-replay")
        buffer = ReplayBuffer(1, learner.obs_space, learner.action_space, run.n_envs, device=learner.device)
        super().__init__(learner, buffer, batch_size=run.n_envs, seed=run.seed, exploration=exploration)

    def update(self, gradient_steps: int) -> dict[str, float]:
        """Learn from the vector step just observed: the buffer's only row, one transition per env."""
        batch = self.buffer.gather(np.arange(self.buffer.n_envs))  # flat indices 0..n-1 = row 0, env 0..n-1
        out = {f"train/{k}": v for k, v in self.learner.update(batch).items()}
        if self.exploration is not None:
            out["rollout/exploration_rate"] = self.exploration(self.env_steps)
        return out
