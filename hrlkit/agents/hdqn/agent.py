"""h-DQN: a meta-controller choosing subgoals and a controller reaching them, two DQNs on two time scales.

Kulkarni, Narasimhan, Saeedi & Tenenbaum (2016), "Hierarchical Deep Reinforcement Learning: Integrating Temporal
Abstraction and Intrinsic Motivation", arXiv:1604.06057, Algorithm 1.

    meta-controller  Q2(s, g)          picks a subgoal g in state s_0, epsilon_2-greedily
    controller       Q1([s, g], a)     acts every env step, epsilon_1,g-greedily, until it reaches g or the episode ends
    intrinsic critic r_t = 1 if s_{t+1} = g else 0; the controller's episode for g ends (terminated) on reaching g
    controller replay D1: ([s_t, g], a_t, r_t, [s_{t+1}, g], terminated_t = reached or env terminated)
    meta replay D2:       (s_0, g, F = sum of extrinsic rewards while g was pursued, s_N, env terminated)

Both levels are the repo's `DQNLearner` (`self.high` is the meta-controller, `self.low` the controller; their logs are
`meta/train/...` and `controller/train/...`). Subgoals are states of a `Discrete(n)` observation (all n, or the
`subgoals` of the config); the meta-controller sees the state index (one-hot inside its network), the controller sees
a Box of [one-hot(s), one-hot(g)] of length n + G. Both learners update every vector-env step, as in the paper's
Algorithm 1 (the meta-controller once it holds `meta_learning_starts` transitions).

Exploration: epsilon_2 falls linearly from 1 to 0.1 over `meta_exploration_env_steps`. epsilon_1,g is per subgoal, the
paper's adaptive rule as we read it: 0.1 once the controller reached g in more than 90% of its last 100 attempts at g,
otherwise annealed linearly from 1 to 0.1 over `controller_exploration_env_steps` (a global env-step clock). An attempt
at g ends when g is reached (success), or the episode ends or `subgoal_max_env_steps` pass (failure).

Per-env bookkeeping (current subgoal, s_0, F, steps under the subgoal, subgoals this episode) and the per-subgoal
success history live in fixed numpy arrays, saved with each checkpoint, so a resumed run continues mid-subgoal exactly.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from hrlkit.agents.base import Transition
from hrlkit.agents.exploration import epsilon_greedy
from hrlkit.agents.flat import rng_state, set_rng_state
from hrlkit.agents.hdqn.config import HDQNConfig
from hrlkit.agents.levels import learners_tree, load_learners_tree, load_replay_tree, replay_tree
from hrlkit.agents.pipeline import UpdatePipeline
from hrlkit.buffers import ReplayBuffer
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.errors import HrlkitError
from hrlkit.learners import DQNLearner
from hrlkit.learners.common import linear_schedule
from hrlkit.types import Subgoal


class HDQNAgent:
    """The meta-controller (`self.high`), the controller (`self.low`), their replays and the per-env subgoals.

    Args:
        obs_space: `Discrete(n)`: its states are the subgoals.
        action_space: `Discrete(A)`.
        cfg: the algorithm's config.
        n_envs: parallel envs.
        run: the loop's config (seed, device).
        replay: the replay settings (buffer_size for the controller's replay).
    """

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, cfg: HDQNConfig, n_envs: int, run: RunConfig,
        replay: ReplayConfig,
    ) -> None:  # fmt: skip
        if not isinstance(obs_space, gym.spaces.Discrete):
            raise HrlkitError(
                f"h-DQN picks subgoals among the states of a Discrete observation, got {obs_space}: use a Discrete env"
            )
        if not isinstance(action_space, gym.spaces.Discrete):
            raise HrlkitError(f"h-DQN's controller is a DQN: it needs a Discrete action space, got {action_space}")
        self.cfg, self.n_envs = cfg, n_envs
        self.device = torch.device(run.device)
        self.n_states, self.obs_start = int(obs_space.n), int(obs_space.start)
        self.n_actions, self.action_start = int(action_space.n), int(action_space.start)
        if any(float(g) != int(g) for g in cfg.subgoals):
            raise HrlkitError(f"subgoals must be integer state indices, got {list(cfg.subgoals)}")
        goal_states = np.asarray(cfg.subgoals if cfg.subgoals else range(self.n_states), np.int64)
        if goal_states.min() < 0 or goal_states.max() >= self.n_states or len(set(goal_states)) != len(goal_states):
            raise HrlkitError(
                f"subgoals {list(cfg.subgoals)} must be distinct state indices in [0, {self.n_states}) (observation "
                "minus the space's start)"
            )
        self.goal_states = goal_states  # (G,) subgoal index -> state index
        G, S = len(goal_states), self.n_states
        if not 0.0 <= cfg.controller_success_threshold <= 1.0 or cfg.controller_success_window < 1:
            raise HrlkitError("controller_success_threshold must lie in [0, 1] and controller_success_window be >= 1")
        for name in ("meta_exploration_initial", "meta_exploration_final", "controller_exploration_initial",
                     "controller_exploration_final"):  # fmt: skip
            if not 0.0 <= getattr(cfg, name) <= 1.0:
                raise HrlkitError(f"{name} is a probability: keep it in [0, 1], got {getattr(cfg, name)}")
        self._eye_s, self._eye_g = np.eye(S, dtype=np.float32), np.eye(G, dtype=np.float32)
        state_space, goal_space = gym.spaces.Discrete(S), gym.spaces.Discrete(G)
        low_space = gym.spaces.Box(0.0, 1.0, (S + G,), np.float32)  # [one-hot(s), one-hot(g)]
        low_actions = gym.spaces.Discrete(self.n_actions)
        self.high = DQNLearner(state_space, goal_space, cfg.meta.learner_config(), device=run.device)
        self.low = DQNLearner(low_space, low_actions, cfg.controller.learner_config(), device=run.device)
        self.high_buffer = ReplayBuffer(max(1, cfg.meta_buffer_size), state_space, goal_space, 1, run.device)
        self.low_buffer = ReplayBuffer(max(1, replay.buffer_size // n_envs), low_space, low_actions, n_envs, run.device)
        self.low_pipeline = UpdatePipeline(
            self.low_buffer, self.low, self.low.config.batch_size, prefix="controller/train/"
        )
        self.high_pipeline = UpdatePipeline(
            self.high_buffer, self.high, self.high.config.batch_size, prefix="meta/train/"
        )
        self.rng = np.random.default_rng(run.seed)
        # Stochastic `predict` draws from its own generator: a user's (or a script's) predictions must never move the
        # training draws, which the training generator's state pins for exact resume.
        self.predict_rng = np.random.default_rng([run.seed, 1])
        # Per env: the subgoal in flight and its meta transition so far.
        self.need_goal = np.ones(n_envs, np.bool_)  # a new subgoal is due at the next act
        self.goals = np.zeros(n_envs, np.int64)  # g, an index into goal_states
        self.high_obs = np.zeros(n_envs, np.int64)  # s_0, the state g was chosen in
        self.high_reward = np.zeros(n_envs, np.float64)  # F, extrinsic rewards summed since
        self.goal_steps = np.zeros(n_envs, np.int64)  # env steps under g
        self.ep_subgoals = np.zeros(n_envs, np.int64)  # subgoals chosen in the current episode
        # Per subgoal: a ring of the outcomes of its last attempts (unwritten slots count as failures).
        self.success_history = np.zeros((G, cfg.controller_success_window), np.bool_)
        self.success_pos = np.zeros(G, np.int64)  # next slot to write, per subgoal
        self.env_steps = 0
        self.n_low_updates = self.n_high_updates = 0
        self._stats: dict[str, list[float]] = {}

    # ------------------------------------------------------------------------------------------------ exploration
    def meta_epsilon(self) -> float:
        """epsilon_2: linear from meta_exploration_initial to meta_exploration_final over env steps."""
        cfg = self.cfg
        return linear_schedule(
            cfg.meta_exploration_initial, cfg.meta_exploration_final, cfg.meta_exploration_env_steps, self.env_steps
        )

    def subgoal_success_rates(self) -> np.ndarray:
        """(G,) fraction of the last `controller_success_window` attempts at each subgoal that reached it."""
        return self.success_history.mean(axis=1)

    def controller_epsilons(self) -> np.ndarray:
        """(G,) epsilon_1,g: the final value for mastered subgoals, the annealed one for the others."""
        cfg = self.cfg
        annealed = linear_schedule(
            cfg.controller_exploration_initial, cfg.controller_exploration_final,
            cfg.controller_exploration_env_steps, self.env_steps,
        )  # fmt: skip
        mastered = self.subgoal_success_rates() > cfg.controller_success_threshold  # (G,)
        return np.where(mastered, cfg.controller_exploration_final, annealed)

    # ----------------------------------------------------------------------------------------------------- inputs
    def _states(self, obs: Any) -> np.ndarray:
        """(n,) state indices (observation minus the space's start)."""
        states = np.asarray(obs, np.int64).reshape(-1) - self.obs_start
        if states.size and (states.min() < 0 or states.max() >= self.n_states):
            raise HrlkitError(
                f"observation {np.asarray(obs).reshape(-1)[:8]} lies outside the Discrete({self.n_states}) observation "
                "space: check the env"
            )
        return states

    def _low_input(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """(n, S + G) float32 [one-hot(s), one-hot(g)], the controller's observation."""
        return np.concatenate([self._eye_s[states], self._eye_g[goals]], axis=1)

    def _pick_goals(
        self, states: np.ndarray, need: np.ndarray, epsilon: float | None, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Subgoal indices (k,) for the envs in `need`: Q2-greedy, epsilon-greedy, or uniform (epsilon = 1); the draws
        from `rng` (default: the training generator)."""
        idx = np.flatnonzero(need)
        greedy = self.high.act(torch.as_tensor(states[idx], device=self.device)).cpu().numpy()  # (k,)
        if epsilon is None:
            return greedy
        return epsilon_greedy(greedy, epsilon, len(self.goal_states), self.rng if rng is None else rng)

    def _subgoal_over(self, states: np.ndarray, goals: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Where a subgoal's attempt ends on arriving in `states` after `steps` env steps under it: its state was
        reached, or `subgoal_max_env_steps` passed. The one rule of training (`observe`) and `predict`.

        Shapes:
            states, goals, steps: (n,) int64 -> (n,) bool
        """
        over = states == self.goal_states[goals]
        if self.cfg.subgoal_max_env_steps > 0:
            over |= steps >= self.cfg.subgoal_max_env_steps
        return over

    def _control_step(
        self,
        states: np.ndarray,
        goals: np.ndarray,
        need: np.ndarray,
        meta_epsilon: float | None,
        explore: bool,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The per-env step of training and `predict`: new subgoals where `need` (meta_epsilon None: greedy, no draw),
        then the controller's actions, epsilon-greedy with the per-subgoal epsilons when `explore`; draws from `rng`.

        Shapes:
            states, goals: (n,) int64; need: (n,) bool -> goals (n,) int64 (a new array), env actions (n,)
        """
        goals = goals.copy()
        if need.any():
            goals[need] = self._pick_goals(states, need, meta_epsilon, rng)
        x = torch.as_tensor(self._low_input(states, goals), device=self.device)  # (n, S + G)
        actions = self.low.act(x).cpu().numpy()  # (n,)
        if explore:
            actions = epsilon_greedy(actions, self.controller_epsilons()[goals], self.n_actions, rng)
        return goals, actions + self.action_start

    def _open_subgoals(self, states: np.ndarray, goals: np.ndarray) -> None:
        """Training's bookkeeping of the envs that were due a subgoal and got `goals`: their meta transitions start at
        `states`."""
        need = self.need_goal
        if need.any():
            self.goals[need] = goals[need]
            self.high_obs[need] = states[need]
            self.high_reward[need] = 0.0
            self.goal_steps[need] = 0
            self.ep_subgoals[need] += 1
            self.need_goal[:] = False

    # ----------------------------------------------------------------------------------------------------- acting
    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Env actions for a batch of observations; new subgoals first where they are due."""
        states = self._states(obs)
        epsilon = 0.0 if deterministic else self.meta_epsilon()
        goals, actions = self._control_step(states, self.goals, self.need_goal, epsilon, not deterministic, self.rng)
        self._open_subgoals(states, goals)
        return actions

    def random_actions(self, n_envs: int, obs: Any = None) -> np.ndarray:
        """Warm-up: uniform subgoals where they are due, uniform actions."""
        if obs is not None:
            states = self._states(obs)
            goals = self.goals.copy()
            if self.need_goal.any():
                goals[self.need_goal] = self._pick_goals(states, self.need_goal, 1.0)
            self._open_subgoals(states, goals)
        return self.rng.integers(0, self.n_actions, size=n_envs) + self.action_start

    def predict(
        self, obs: Any, state: Any = None, episode_start: np.ndarray | None = None, deterministic: bool = True
    ) -> tuple[np.ndarray, Any]:
        """One observation (or a batch) -> (actions, (subgoals, env steps under them)).

        The state carries each env's subgoal: a new one is chosen at an episode start (or `state` None), and where the
        observation is the subgoal's state (it was reached on arriving here) or `subgoal_max_env_steps` passed.
        `deterministic`: greedy levels; otherwise epsilon-greedy with the current epsilons, drawn from `predict_rng`
        (never from the training generator).
        """
        single = np.ndim(obs) == 0
        states = self._states(obs)  # (n,)
        n = len(states)
        if state is None:
            goals, steps, need = np.zeros(n, np.int64), np.zeros(n, np.int64), np.ones(n, np.bool_)
        else:
            goals, steps = (np.array(x, np.int64).reshape(-1) for x in state)
            need = self._subgoal_over(states, goals, steps)  # (n,) ended on arriving here
            if episode_start is not None:
                need |= np.asarray(episode_start, np.bool_).reshape(-1)
        epsilon = None if deterministic else self.meta_epsilon()
        goals, actions = self._control_step(states, goals, need, epsilon, not deterministic, self.predict_rng)
        steps[need] = 0
        return (actions[0] if single else actions), (goals, steps + 1)

    def position(self, obs: Any) -> np.ndarray:
        """The state index as a 1-dim position: (1,) for one observation, (n, 1) for a batch."""
        pos = self._states(obs).astype(np.float64)[:, None]  # (n, 1)
        return pos[0] if np.ndim(obs) == 0 else pos

    def subgoal(self, state: Any) -> Subgoal | None:
        """The subgoal state in a `predict` state, (n, 1), and whether it was chosen at that step (steps == 1)."""
        if state is None:
            return None
        goals, steps = state
        target = self.goal_states[np.asarray(goals, np.int64)].astype(np.float64)[:, None]  # (n, 1)
        return Subgoal(target, np.asarray(steps) == 1)

    # -------------------------------------------------------------------------------------------------- learning
    def observe(self, transition: Transition) -> None:
        obs, env_actions, rewards, next_obs, terminated, truncated, infos = transition
        states, next_states = self._states(obs), self._states(next_obs)  # (n,), (n,)
        terminated = np.asarray(terminated, np.bool_)
        actions = np.asarray(env_actions, np.int64).reshape(-1) - self.action_start  # (n,)
        # The intrinsic critic: reward and end of the controller's episode on reaching the subgoal's state.
        reached = next_states == self.goal_states[self.goals]  # (n,)
        r_int = self.cfg.intrinsic_reward * reached.astype(np.float32)  # (n,)
        self.low_buffer.add(
            self._low_input(states, self.goals), actions, r_int, self._low_input(next_states, self.goals),
            reached | terminated,
        )  # fmt: skip
        self.high_reward += rewards
        self.goal_steps += 1
        done = terminated | np.asarray(truncated, np.bool_)
        close = self._subgoal_over(next_states, self.goals, self.goal_steps) | done  # the subgoal's attempt ends
        # One meta transition per closed subgoal (at most n_envs a step; the meta replay takes one row each).
        for i in np.flatnonzero(close):
            g = self.goals[i]
            self.high_buffer.add(
                self.high_obs[i : i + 1], self.goals[i : i + 1], self.high_reward[i : i + 1],
                next_states[i : i + 1], terminated[i : i + 1],
            )  # fmt: skip
            self.success_history[g, self.success_pos[g]] = reached[i]
            self.success_pos[g] = (self.success_pos[g] + 1) % self.cfg.controller_success_window
            self._stat("hdqn/subgoal_success_rate", float(reached[i]))
        for i in np.flatnonzero(done):
            self._stat("hdqn/subgoals_per_episode", float(self.ep_subgoals[i]))
        self._stat("hdqn/intrinsic_reward", float(r_int.mean()))
        self.ep_subgoals[done] = 0
        self.need_goal |= close
        self.env_steps += self.n_envs

    def update(self, gradient_steps: int) -> dict[str, float]:
        """`gradient_steps` controller updates from D1 and, once D2 holds `meta_learning_starts` transitions,
        `gradient_steps` meta-controller updates from D2 (Algorithm 1 updates both at every env step)."""
        stats = self.low_pipeline.run(gradient_steps, self.rng)
        self.n_low_updates += gradient_steps
        if len(self.high_buffer) >= max(1, self.cfg.meta_learning_starts):
            stats.update(self.high_pipeline.run(gradient_steps, self.rng))
            self.n_high_updates += gradient_steps
        eps = self.controller_epsilons()
        stats["hdqn/meta_epsilon"] = self.meta_epsilon()
        stats["hdqn/controller_epsilon"] = float(eps.mean())
        stats["hdqn/mastered_subgoals"] = float(
            np.mean(self.subgoal_success_rates() > self.cfg.controller_success_threshold)
        )
        for k, values in self._stats.items():
            stats[k] = float(np.mean(values))
        self._stats.clear()
        return stats

    def _stat(self, key: str, value: float) -> None:
        self._stats.setdefault(key, []).append(value)

    # ---------------------------------------------------------------------------------------------- checkpoints
    _PER_ENV = ("need_goal", "goals", "high_obs", "high_reward", "goal_steps", "ep_subgoals")

    def state_tree(self) -> dict[str, Any]:
        return {
            **learners_tree({"high": self.high, "low": self.low}),
            "subgoals": {k: getattr(self, k) for k in self._PER_ENV},
            "success": {"history": self.success_history, "pos": self.success_pos},
            "counters": [self.env_steps, self.n_low_updates, self.n_high_updates],
            "stats": {k: list(v) for k, v in self._stats.items()},
            "rng": rng_state(self.rng),
        }

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        try:
            load_learners_tree(tree, {"high": self.high, "low": self.low})
            arrays = {**{k: (getattr(self, k), tree["subgoals"][k]) for k in self._PER_ENV},
                      "success_history": (self.success_history, tree["success"]["history"]),
                      "success_pos": (self.success_pos, tree["success"]["pos"])}  # fmt: skip
            for name, (mine, saved) in arrays.items():
                if np.shape(saved) != mine.shape:
                    raise RuntimeError(f"{name} has shape {np.shape(saved)}, expected {mine.shape}")
                mine[...] = saved
        except (RuntimeError, KeyError, ValueError) as e:
            raise HrlkitError(
                f"checkpoint does not fit this h-DQN model ({str(e).splitlines()[0][:160]}): load it with the config, "
                "env and n_envs it was trained with"
            ) from None
        self.env_steps, self.n_low_updates, self.n_high_updates = (int(x) for x in tree["counters"])
        self._stats = {k: list(v) for k, v in tree["stats"].items()}
        set_rng_state(self.rng, tree["rng"])

    def replay_state(self) -> dict[str, np.ndarray]:
        return replay_tree({"low": self.low_buffer, "high": self.high_buffer})

    def load_replay_state(self, state: dict[str, np.ndarray]) -> None:
        load_replay_tree(state, {"low": self.low_buffer, "high": self.high_buffer})
