"""HIRO: a two-level agent of two off-policy learners (Nachum et al. 2018, arXiv:1805.08296).

Every c env steps the high level looks at the state s_t and emits a goal g_t, a desired change of the goal dimensions.
In between, the goal is carried by h(s, g, s') = s + g - s' (the same absolute target seen from the new state), and the
low level acts on [s, g], rewarded by -||s + g - s'||. The high level is rewarded by scale x the sum of the env rewards
over its segment. Both levels learn off-policy: the low level from a flat replay of (s, g, a, r_low, s', h(s,g,s')), the
high level from whole segments (`hrlkit.buffers.segments`) whose goals are relabelled at every sampling by the
off-policy correction (`hrlkit.goals.relabel`), so old segments teach the high level about the *current* low level.

Per-env bookkeeping (goal, step within the segment, the segment's states, actions and reward sum) lives in fixed
numpy arrays, so it is saved with a checkpoint and a resumed run continues mid-segment exactly.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from hrlkit.agents.base import Transition
from hrlkit.agents.flat import rng_state, set_rng_state
from hrlkit.agents.her import GOAL_KEYS, RewardFn
from hrlkit.agents.hiro.config import HIROConfig
from hrlkit.agents.hiro.hindsight import SegmentHindsight
from hrlkit.agents.hiro.reachability import AdjacencyConstraint
from hrlkit.agents.levels import learners_tree, load_learners_tree, load_replay_tree, replay_tree
from hrlkit.agents.pipeline import UpdatePipeline
from hrlkit.buffers import ReplayBuffer
from hrlkit.buffers.prioritized import make_sampler
from hrlkit.buffers.segments import SegmentBatch, SegmentBuffer
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.envs.spaces import ActionScaler
from hrlkit.errors import HrlkitError
from hrlkit.goals.functions import goal_transition, intrinsic_reward
from hrlkit.goals.relabel import FactoredPolicy, hiro_relabel_goals
from hrlkit.learners import SACConfig, SACLearner, TD3Config, TD3Learner
from hrlkit.learners.base import Learner
from hrlkit.types import ReplayBatch, Subgoal


def make_learner(obs_space: gym.Space, action_space: gym.Space, level: Any, device: str) -> Learner:
    """A level's learner from its config: a `TD3Config` (the paper) or a `SACConfig`."""
    if isinstance(level, SACConfig):
        return SACLearner(obs_space, action_space, level, device=device)
    if isinstance(level, TD3Config):
        return TD3Learner(obs_space, action_space, level, device=device)
    raise HrlkitError(f"a HIRO level learns with td3 or sac, got {type(level).__name__}: set --high.algo / --low.algo")


class StateView:
    """Turns env observations into HIRO's flat state: a Box as it is, a Dict as the chosen keys concatenated."""

    def __init__(self, space: gym.Space, keys: tuple[str, ...]) -> None:
        if isinstance(space, gym.spaces.Dict):
            missing = [k for k in keys if k not in space.spaces]
            if missing:
                raise HrlkitError(f"state_keys {missing} are not in the observation (keys: {list(space.spaces)})")
            self.keys: tuple[str, ...] | None = keys
            self.dim = int(sum(np.prod(space.spaces[k].shape) for k in keys))
            parts = [self._box_bounds(space.spaces[k], k) for k in keys]
        elif isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
            self.keys, self.dim = None, int(space.shape[0])
            parts = [self._box_bounds(space, "observation")]
        else:
            raise HrlkitError(f"HIRO needs a flat Box or a Dict observation, got {space}")
        # (S,) bounds of the state, +-inf where the space leaves a dim unbounded
        self.low = np.concatenate([lo for lo, _ in parts]) if parts else np.zeros(0)
        self.high = np.concatenate([hi for _, hi in parts]) if parts else np.zeros(0)

    @staticmethod
    def _box_bounds(space: gym.Space, key: str) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(space, gym.spaces.Box):
            raise HrlkitError(f"state key {key!r} is {space}: HIRO's state is made of Box observations")
        return space.low.astype(np.float64).ravel(), space.high.astype(np.float64).ravel()

    def __call__(self, obs: Any) -> np.ndarray:
        """(n, ...) observations -> (n, S) float32 states."""
        if self.keys is None:
            states = np.asarray(obs, np.float32)
            if states.ndim != 2 or states.shape[1] != self.dim:
                raise HrlkitError(f"observation batch of shape {states.shape} does not fit the {self.dim}-dim state")
            return states
        return np.concatenate([np.asarray(obs[k], np.float32).reshape(len(obs[k]), -1) for k in self.keys], axis=1)


class Control(NamedTuple):
    """Per-env state of HIRO's control step: training keeps one, `predict` hands one back to its caller.

    Shapes: goals (n, G) the goal, as seen from `anchor`; t (n,) int64 low-level steps taken in the current segment (a
    new goal is due when t % c == 0); anchor (n, S) the state `goals` was last expressed from.
    """

    goals: np.ndarray
    t: np.ndarray
    anchor: np.ndarray


class HIROAgent:
    """Two learners (`self.high`, `self.low`), their buffers and the goal functions; the loop's agent interface.

    `goal_functions` (the env's compute_reward and compute_terminated) are needed for hindsight at the high level.
    """

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, cfg: HIROConfig, n_envs: int, run: RunConfig,
        replay: ReplayConfig, goal_functions: tuple[RewardFn, RewardFn | None] | None = None,
    ) -> None:  # fmt: skip
        if not isinstance(action_space, gym.spaces.Box):
            raise HrlkitError(f"HIRO needs a Box action space (continuous actions), got {action_space}")
        for name, least in (
            ("high_level_interval", 1),
            ("high_gradient_steps", 1),
            ("relabel_samples", 0),
            ("high_buffer_size", 1),
            ("high_learning_starts", 0),
            ("low_pretrain_env_steps", 0),
        ):
            value = getattr(cfg, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise HrlkitError(f"HIRO {name} = {value!r}: it must be an integer >= {least}")
        self.cfg, self.n_envs, self.c = cfg, n_envs, cfg.high_level_interval
        self.device = torch.device(run.device)
        self.view = StateView(obs_space, cfg.state_keys)
        S = self.view.dim
        self.goal_idx = np.asarray(cfg.goal_indices, np.int64)
        if len(self.goal_idx) == 0 or self.goal_idx.min() < 0 or self.goal_idx.max() >= S:
            raise HrlkitError(f"goal_indices {cfg.goal_indices} must index the {S}-dim state")
        D = self._check_goal_conditioned(obs_space)  # the task goal's size (0 without goal conditioning)
        G, A = len(self.goal_idx), int(action_space.shape[0])
        # an empty goal range comes from the observation space; `notice` says when it could not
        self.notice = cfg.resolve_goal_range(self.view.low, self.view.high)
        self.goal_low, self.goal_high = cfg.goal_bounds()
        self.pretrain_bands = cfg.pretrain_bands()
        goal_space = gym.spaces.Box(self.goal_low, self.goal_high, dtype=np.float32)
        high_space = gym.spaces.Box(-np.inf, np.inf, (S + D,), np.float32)  # [state, desired goal]
        hidden = np.asarray(cfg.low_hidden_indices, np.int64)
        if len(hidden) and (hidden.min() < 0 or hidden.max() >= S or len(set(hidden.tolist())) < len(hidden)):
            raise HrlkitError(
                f"low_hidden_indices {cfg.low_hidden_indices} must be distinct indices of the {S}-dim state"
            )
        self.low_state_idx = np.setdiff1d(np.arange(S), hidden)  # the state dims the low level sees, in order
        self._low_state_idx_t = torch.as_tensor(self.low_state_idx, device=self.device)
        low_space = gym.spaces.Box(-np.inf, np.inf, (len(self.low_state_idx) + G,), np.float32)
        self.high = make_learner(high_space, goal_space, cfg.high, run.device)
        self.low = make_learner(low_space, action_space, cfg.low, run.device)
        self.goal_scaler, self.action_scaler = ActionScaler(goal_space), ActionScaler(action_space)
        self.low_buffer = ReplayBuffer(
            max(1, replay.buffer_size // n_envs), low_space, action_space, n_envs, run.device
        )
        # Prioritized replay (a run option) applies to the high level: its anneal clock is segments, about env steps / c.
        anneal = max(1, (replay.is_weight_anneal_env_steps or run.total_env_steps) // self.c)
        rows = max(1, cfg.high_buffer_size // n_envs)
        sampler = make_sampler(replay, rows * n_envs, anneal)
        self.high_buffer = SegmentBuffer(
            cfg.high_buffer_size, S, A, G, self.c, run.device, sampler, n_envs=n_envs, task_goal_dim=D
        )
        self.rng = np.random.default_rng(run.seed)
        # The correction's candidate draws: an explicit generator, saved in checkpoints, so the relabelling neither
        # depends on nor disturbs the global torch stream.
        self.relabel_generator = torch.Generator(device=self.device).manual_seed(int(run.seed) + 7919)
        self.hindsight: SegmentHindsight | None = None
        if cfg.hindsight.enabled:
            if goal_functions is None:
                raise HrlkitError("HIRO's hindsight needs the env's compute_reward: build the agent with the env's")
            h = cfg.hindsight
            self.hindsight = SegmentHindsight(
                self.high_buffer, *goal_functions, cfg.high_reward_scale, h.strategy, h.n_sampled_goal,
                seed=int(run.seed) + 4099,
            )  # fmt: skip
        self.adjacency: AdjacencyConstraint | None = None
        if cfg.adjacency.enabled:
            _check_adjacency(cfg.adjacency)
            self.adjacency = AdjacencyConstraint(
                cfg.adjacency, self.goal_idx, self.c, self.goal_scaler, n_envs, int(run.seed) + 6007, self.device
            )
            self.high.actor_penalty = self.adjacency.penalty
        # The high level's update, in the order that reads like the paper: sample segments, hindsight goals (which
        # fix the steps each transition covers), the off-policy correction of those steps' subgoals, update.
        transforms: list[Any] = [self.hindsight] if self.hindsight is not None else []
        if cfg.relabel:
            transforms.append(self.correct_goals)
        self.low_pipeline = UpdatePipeline(self.low_buffer, self.low, cfg.low.batch_size, prefix="low/train/")
        self.high_pipeline = UpdatePipeline(
            self.high_buffer, self.high, cfg.high.batch_size, transforms, to_learner=self.high_transitions,
            prefix="high/train/",
        )  # fmt: skip
        self._goal_low_t = torch.as_tensor(self.goal_low, device=self.device)
        self._goal_high_t = torch.as_tensor(self.goal_high, device=self.device)
        # Per-env control state (see `Control`) and segment in flight.
        self.goals = np.zeros((n_envs, G), np.float32)  # current goal g_t, as seen from `anchor`
        self.seg_t = np.zeros(n_envs, np.int64)  # low steps taken in the segment; 0 = a new goal is due
        self.anchor = np.zeros((n_envs, S), np.float32)  # the state `goals` is relative to
        self.seg_goal = np.zeros((n_envs, G), np.float32)  # the goal the segment started with
        self.seg_states = np.zeros((n_envs, self.c + 1, S), np.float32)
        self.seg_actions = np.zeros((n_envs, self.c, A), np.float32)
        self.seg_reward = np.zeros(n_envs, np.float64)
        self.seg_achieved = np.zeros((n_envs, self.c + 1, D), np.float32)  # goal-conditioned: the env's achieved goals
        self.seg_desired = np.zeros((n_envs, D), np.float32)  # goal-conditioned: the task goal at the segment's start
        self.env_steps = 0  # counted here for the pretraining phase and the high level's schedule
        self.high_clock = -1  # env steps at the last `update` (-1: none yet)
        self.n_low_updates = self.n_high_updates = 0
        self._stats: dict[str, list[float]] = {}

    def _check_goal_conditioned(self, obs_space: gym.Space) -> int:
        """The desired goal's size for goal-conditioned HIRO (0 without), after checking the env and config allow it."""
        cfg = self.cfg
        if cfg.hindsight.enabled and not cfg.goal_conditioned:
            raise HrlkitError("HIRO's hindsight relabels the task goal the high level sees: set goal_conditioned true")
        if not cfg.goal_conditioned:
            return 0
        spaces = getattr(obs_space, "spaces", {})
        if not set(GOAL_KEYS) <= set(spaces):
            raise HrlkitError(
                f"goal-conditioned HIRO needs a goal env (a Dict observation with {', '.join(GOAL_KEYS)}), got "
                f"{obs_space}: set goal_conditioned false"
            )
        if "desired_goal" in cfg.state_keys:
            raise HrlkitError(
                "goal-conditioned HIRO gives desired_goal to the high level apart from the state: drop it from "
                f"state_keys {list(cfg.state_keys)}"
            )
        if spaces["achieved_goal"].shape != spaces["desired_goal"].shape:
            raise HrlkitError("goal-conditioned HIRO needs achieved_goal and desired_goal of one shape")
        return int(np.prod(spaces["desired_goal"].shape))

    # ------------------------------------------------------------------------------------------------- the goals
    def _task_goals(self, obs: Any, key: str) -> np.ndarray | None:
        """(n, D) float32 `desired_goal` or `achieved_goal` of a batch of observations (None without goal conditioning)."""
        if not self.cfg.goal_conditioned:
            return None
        x = np.asarray(obs[key], np.float32)
        return x.reshape(len(x), -1)

    def _high_obs(self, states: np.ndarray, desired: np.ndarray | None) -> np.ndarray:
        """The high level's input: the state, then the task's desired goal when goal-conditioned. -> (n, S + D)"""
        return states if desired is None else np.concatenate([states, desired], axis=1)

    def _random_goals(self, n: int) -> np.ndarray:
        cfg = self.cfg
        if self.env_steps < cfg.low_pretrain_env_steps and self.pretrain_bands is not None:
            lo, hi = self.pretrain_bands  # checked against the goal range: signed goals stay inside it
            mag = self.rng.uniform(lo, hi, (n, len(lo)))
            return (mag * self.rng.choice([-1.0, 1.0], size=mag.shape)).astype(np.float32)
        return self.rng.uniform(self.goal_low, self.goal_high, (n, len(self.goal_low))).astype(np.float32)

    def control_step(
        self, states: np.ndarray, desired: np.ndarray | None, control: Control, deterministic: bool, random: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """HIRO's one per-env control step, used by training (`act`, `random_actions`) and by `predict`.

        Each env's goal is carried from `control.anchor` to `states` by h(s, g, s') = s + g - s'; where a new goal is
        due (t % c == 0) the high level picks one from [state, desired goal] (or a random one: warm-up, pretraining).

        Shapes: states (n, S), desired (n, D) or None -> (goals (n, G) float32, due (n,) bool)
        """
        gi = self.goal_idx
        same = np.all(control.anchor == states, axis=1, keepdims=True)  # (n, 1): nothing to carry (no rounding)
        carried = goal_transition(control.anchor[:, gi], control.goals, states[:, gi])
        goals = np.where(same, control.goals, carried).astype(np.float32)
        due = control.t % self.c == 0
        if due.any():
            idx = np.flatnonzero(due)
            if random:
                goals[idx] = self._random_goals(len(idx))
            else:
                high_in = self._high_obs(states[idx], None if desired is None else desired[idx])
                norm = self.high.act(torch.as_tensor(high_in, device=self.device), deterministic).cpu().numpy()
                goals[idx] = self.goal_scaler.to_env(norm)  # (k, G), in goal units
        return goals, due

    def _training_step(self, obs: Any, deterministic: bool, random: bool) -> np.ndarray:
        """The control step on the training envs: new goals open their env's segment. Returns the states (n, S)."""
        states, desired = self.view(obs), self._task_goals(obs, "desired_goal")
        random = random or self.env_steps < self.cfg.low_pretrain_env_steps
        goals, due = self.control_step(
            states, desired, Control(self.goals, self.seg_t, self.anchor), deterministic, random
        )
        self.goals, self.anchor = goals, states
        if due.any():
            self.seg_goal[due] = goals[due]
            self.seg_states[due, 0] = states[due]
            self.seg_reward[due] = 0.0
            if desired is not None:
                self.seg_desired[due] = desired[due]
                self.seg_achieved[due, 0] = self._task_goals(obs, "achieved_goal")[due]  # type: ignore[index]
        return states

    def _low_obs(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """The low level's input: the state without `low_hidden_indices`, then the goal. (n, S), (n, G) -> (n, S' + G)"""
        return np.concatenate([states[:, self.low_state_idx], goals], axis=1)

    def _low_input(self, states: np.ndarray, goals: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(self._low_obs(states, goals), device=self.device)

    # ----------------------------------------------------------------------------------------------------- acting
    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        states = self._training_step(obs, deterministic, random=False)
        norm = self.low.act(self._low_input(states, self.goals), deterministic).cpu().numpy()
        return self.action_scaler.to_env(norm)

    def random_actions(self, n_envs: int, obs: Any = None) -> np.ndarray:
        """Warm-up: random goals for the envs starting a segment, uniform random low-level actions."""
        if obs is not None:
            self._training_step(obs, deterministic=False, random=True)
        return self.action_scaler.to_env(self.rng.uniform(-1.0, 1.0, (n_envs, *self.low.action_space.shape)))

    def predict(
        self, obs: Any, state: Control | None = None, episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Control]:  # fmt: skip
        """One observation (or a batch) -> (actions, `Control`): the state carries each env's goal between calls.

        The same control step as training (`control_step`); envs with `episode_start` set get a new goal."""
        single = _is_single(obs, self.view)
        batch = _as_batch(obs, single)
        states, desired = self.view(batch), self._task_goals(batch, "desired_goal")
        n = len(states)
        if state is None:
            control = Control(np.zeros((n, len(self.goal_idx)), np.float32), np.zeros(n, np.int64), states)
        else:
            control = Control(*(np.array(x) for x in state))
        t = control.t
        if episode_start is not None:
            t = np.where(np.asarray(episode_start, bool).reshape(-1), 0, t)
        goals, _ = self.control_step(states, desired, control._replace(t=t), deterministic, random=False)
        norm = self.low.act(self._low_input(states, goals), deterministic).cpu().numpy()
        actions = self.action_scaler.to_env(norm)
        return (actions[0] if single else actions), Control(goals, t % self.c + 1, states)

    def position(self, obs: Any) -> np.ndarray:
        """The goal dimensions of an observation (where the agent is, in goal space): (G,) for one, (n, G) for a batch."""
        single = _is_single(obs, self.view)
        ach = self.view(_as_batch(obs, single))[:, self.goal_idx]  # (n, G)
        return ach[0] if single else ach

    def subgoal(self, state: Any) -> Subgoal | None:
        """The absolute target s[goal_indices] + g in a `predict` state, and whether it was chosen at that step.

        `predict` returns Control(goals, t, anchor) with `anchor` the states the actions were chosen at, so the target
        the low level steered to is anchor[:, goal_indices] + goals, and t == 1 marks a fresh high-level decision.
        """
        if state is None:
            return None
        goals, t, states = state
        return Subgoal(np.asarray(states)[:, self.goal_idx] + np.asarray(goals), np.asarray(t) == 1)  # (n, G), (n,)

    # -------------------------------------------------------------------------------------------------- learning
    def observe(self, transition: Transition) -> None:
        obs, env_actions, rewards, next_obs, terminated, truncated, infos = transition
        states, next_states = self.view(obs), self.view(next_obs)
        ach, next_ach = states[:, self.goal_idx], next_states[:, self.goal_idx]
        actions = self.action_scaler.to_normalised(env_actions)  # (n, A)
        next_goals = goal_transition(ach, self.goals, next_ach).astype(np.float32)  # h(s, g, s')
        r_low = self.cfg.low_reward_scale * intrinsic_reward(ach, self.goals, next_ach)  # (n,)
        self.low_buffer.add(
            self._low_obs(states, self.goals), actions, r_low, self._low_obs(next_states, next_goals),
            terminated,
        )  # fmt: skip
        self._stat("hiro/intrinsic_reward", float(np.mean(r_low)))
        done = terminated | truncated
        if self.adjacency is not None:
            self.adjacency.observe(ach, next_ach, done)
        # Grow each env's segment by this step.
        t = self.seg_t
        rows = np.arange(self.n_envs)
        self.seg_actions[rows, t] = actions
        self.seg_states[rows, t + 1] = next_states
        next_achieved = self._task_goals(next_obs, "achieved_goal")
        if next_achieved is not None:
            self.seg_achieved[rows, t + 1] = next_achieved
        self.seg_reward += rewards
        self.seg_t = t + 1
        self.goals, self.anchor = next_goals, next_states
        close = done | (self.seg_t == self.c)
        gc = self.cfg.goal_conditioned
        for i in np.flatnonzero(close):
            k = int(self.seg_t[i])
            self.high_buffer.add(
                self.seg_states[i, : k + 1], self.seg_actions[i, :k], self.seg_goal[i],
                self.cfg.high_reward_scale * self.seg_reward[i], bool(terminated[i]), env=int(i),
                episode_end=bool(done[i]), achieved=self.seg_achieved[i, : k + 1] if gc else None,
                desired=self.seg_desired[i] if gc else None,
            )  # fmt: skip
            remaining = float(np.linalg.norm(next_goals[i]))  # ||s_0 + g_0 - s_k||, carried by h
            self._stat("hiro/goal_reached", float(remaining < self.cfg.goal_reached_distance))
            self._stat("hiro/goal_norm", float(np.linalg.norm(self.seg_goal[i])))
        self.seg_t[close] = 0
        self.env_steps += self.n_envs

    def update(self, gradient_steps: int) -> dict[str, float]:
        """Low level: `gradient_steps` steps of its pipeline. High level: `high_gradient_steps` steps of its pipeline
        for every multiple of c env steps passed since the last call (one decision's worth of experience each), so
        neither `train_freq` nor n_envs changes its rate; it waits for the pretraining phase and
        `high_learning_starts`. Worked example: c = 3, one env, ready from env step 30: updates at 30, 33, 36."""
        stats = self.low_pipeline.run(gradient_steps, self.rng)
        self.n_low_updates += gradient_steps
        if self.adjacency is not None:
            stats.update(self.adjacency.maybe_train(self.env_steps))
        ready = (
            len(self.high_buffer) >= max(1, self.cfg.high_learning_starts)
            and self.env_steps >= self.cfg.low_pretrain_env_steps
        )
        if ready and self.high_clock >= 0:
            decisions = self.env_steps // self.c - self.high_clock // self.c  # multiples of c env steps passed
            if decisions > 0:
                n_high = self.cfg.high_gradient_steps * decisions
                stats.update(self.high_pipeline.run(n_high, self.rng))
                self.n_high_updates += n_high
        self.high_clock = self.env_steps  # nothing is owed for steps before the high level could learn
        for k, values in self._stats.items():
            stats[k] = float(np.mean(values))
        self._stats.clear()
        return stats

    def low_policy(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """mu_low(s, g): the low level's deterministic action, normalised (what the correction scores)."""
        if len(self.low_state_idx) < states.shape[-1]:
            states = states.index_select(-1, self._low_state_idx_t)
        return self.low.act(torch.cat([states, goals], dim=-1), deterministic=True)

    def factored_low_policy(self) -> FactoredPolicy | None:
        """mu_low with its first layer split into the state's and the goal's columns, W [s; g] + b = (W_s s + b) +
        W_g g, for the correction (`hrlkit.goals.relabel.score_candidates`); None when the low actor has no hidden
        layer. The functions read the layer's parameters at each call, so they follow training and loading."""
        actor = self.low.actor
        first = actor.first_layer()
        if first is None:
            return None
        n_state = len(self.low_state_idx)

        def state_part(states: torch.Tensor) -> torch.Tensor:
            if n_state < states.shape[-1]:
                states = states.index_select(-1, self._low_state_idx_t)
            return nn.functional.linear(states, first.weight[:, :n_state], first.bias)

        def finish(part: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
            return actor.act_from_first_layer(part + nn.functional.linear(goals, first.weight[:, n_state:]))

        return FactoredPolicy(state_part, finish)

    def correct_goals(self, batch: SegmentBatch) -> tuple[SegmentBatch, dict[str, float]]:
        """The off-policy correction as a batch transform: each segment's goal replaced by the candidate that best
        explains its low-level actions under the current low level (`hrlkit.goals.relabel.hiro_relabel_goals`),
        candidates drawn from the agent's own generator (saved in checkpoints)."""
        idx = torch.as_tensor(self.goal_idx, device=self.device)
        relabeled = hiro_relabel_goals(
            batch.goals, batch.states_seq, batch.states_seq[..., idx], batch.actions_seq, batch.lengths,
            self.factored_low_policy() or self.low_policy, self._goal_low_t, self._goal_high_t,
            self.cfg.relabel_samples, generator=self.relabel_generator,
        )  # fmt: skip
        stats = {
            "hiro/relabel_kept_original": (relabeled.choice == 0).float().mean().item(),
            "hiro/relabel_achieved": (relabeled.choice == 1).float().mean().item(),
            "hiro/relabel_sampled": (relabeled.choice >= 2).float().mean().item(),
        }
        return batch._replace(goals=relabeled.goals), stats

    def high_transitions(self, batch: SegmentBatch) -> ReplayBatch:
        """Segments as the high learner's transitions ([s_t, g*], g_t, sum of rewards, [s_{t+k}, g*]), with goals in
        its normalised action space: 2 (g - low) / (high - low) - 1. g* (the task goal) only when goal-conditioned."""
        norm_goals = 2.0 * (batch.goals - self._goal_low_t) / (self._goal_high_t - self._goal_low_t) - 1.0
        obs, next_obs = batch.states_seq[:, 0], batch.next_states
        if batch.desired is not None:
            obs, next_obs = torch.cat([obs, batch.desired], 1), torch.cat([next_obs, batch.desired], 1)
        return ReplayBatch(
            obs=obs, actions=norm_goals, rewards=batch.rewards, next_obs=next_obs,
            terminated=batch.terminated, weights=batch.weights, indices=batch.indices,
        )  # fmt: skip

    def update_high(self) -> dict[str, float]:
        """One step of the high level's pipeline: sample segments, hindsight, correct their goals, update, priorities."""
        stats = self.high_pipeline.step(self.rng)
        self.n_high_updates += 1
        return stats

    def _stat(self, key: str, value: float) -> None:
        self._stats.setdefault(key, []).append(value)

    # ---------------------------------------------------------------------------------------------- checkpoints
    SEGMENT_STATE = (
        "goals", "seg_goal", "seg_t", "anchor", "seg_states", "seg_actions", "seg_reward", "seg_achieved", "seg_desired"
    )  # fmt: skip

    def state_tree(self) -> dict[str, Any]:
        tree = {
            **learners_tree({"high": self.high, "low": self.low}),
            "segments": {k: getattr(self, k) for k in self.SEGMENT_STATE},
            "counters": [self.env_steps, self.n_low_updates, self.n_high_updates],
            "high_clock": self.high_clock,
            "stats": {k: list(v) for k, v in self._stats.items()},
            "rng": rng_state(self.rng),
            "relabel_rng": self.relabel_generator.get_state(),
        }
        if self.hindsight is not None:
            tree["hindsight_rng"] = self.hindsight.state_dict()["rng"]
        if self.adjacency is not None:
            tree["adjacency"] = self.adjacency.state_tree()
        return tree

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        try:
            load_learners_tree(tree, {"high": self.high, "low": self.low})
        except (RuntimeError, KeyError, ValueError) as e:
            raise HrlkitError(
                f"checkpoint weights do not fit this HIRO model ({str(e).splitlines()[0][:160]}): "
                "load it with the config it was trained with"
            ) from None
        segments = tree["segments"]
        for k, v in segments.items():
            getattr(self, k)[...] = v
        if "anchor" not in segments:
            # Saved before the control state kept its anchor: goals were carried to each segment's latest state.
            self.anchor[...] = self.seg_states[np.arange(self.n_envs), self.seg_t]
        counters = [int(x) for x in tree["counters"]]
        self.env_steps, self.n_low_updates, self.n_high_updates = counters[:3]
        # Saved when the high level was scheduled by counting `update` calls: its clock starts at the saved step.
        self.high_clock = int(tree.get("high_clock", self.env_steps))
        self._stats = {k: list(v) for k, v in tree["stats"].items()}
        set_rng_state(self.rng, tree["rng"])
        if "relabel_rng" in tree:  # checkpoints before the correction had its own generator keep a fresh one
            self.relabel_generator.set_state(torch.as_tensor(tree["relabel_rng"], dtype=torch.uint8).cpu())
        if self.hindsight is not None and "hindsight_rng" in tree:
            self.hindsight.load_state_dict({"rng": tree["hindsight_rng"]})
        if self.adjacency is not None:
            if "adjacency" not in tree:
                raise HrlkitError("this checkpoint was trained without adjacency.enabled: resume it without")
            self.adjacency.load_state_tree(tree["adjacency"])

    def replay_state(self) -> dict[str, np.ndarray]:
        return replay_tree({"low": self.low_buffer, "high": self.high_buffer})

    def load_replay_state(self, state: dict[str, np.ndarray]) -> None:
        load_replay_tree(state, {"low": self.low_buffer, "high": self.high_buffer})


def _check_adjacency(cfg: Any) -> None:
    for name in ("max_cells", "hidden", "embedding", "train_freq", "epochs", "batch_size"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise HrlkitError(f"HIRO adjacency.{name} = {value!r}: it must be an integer >= 1")
    for name in ("cell_size", "lr", "margin_pos", "penalty_coef"):
        value = getattr(cfg, name)
        if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < float("inf")):
            raise HrlkitError(f"HIRO adjacency.{name} = {value!r}: it must be a number > 0")
    if not cfg.margin_neg >= cfg.margin_pos:
        raise HrlkitError(f"HIRO adjacency margins: margin_neg {cfg.margin_neg} must be >= margin_pos {cfg.margin_pos}")


def _as_batch(obs: Any, single: bool) -> Any:
    """One observation as a batch of one (a Dict key by key); a batch as it is."""
    if not single:
        return obs
    if isinstance(obs, dict):
        return {k: np.asarray(v)[None] for k, v in obs.items()}
    return np.asarray(obs)[None]


def _is_single(obs: Any, view: StateView) -> bool:
    if isinstance(obs, dict):
        return np.asarray(obs[view.keys[0]]).ndim == 1  # type: ignore[index]
    return np.asarray(obs).ndim == 1
