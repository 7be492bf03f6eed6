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

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from hrlkit.agents.base import Transition
from hrlkit.agents.flat import rng_state, set_rng_state
from hrlkit.agents.hiro.config import HIROConfig
from hrlkit.agents.levels import learners_tree, load_learners_tree, load_replay_tree, replay_tree
from hrlkit.agents.pipeline import UpdatePipeline
from hrlkit.buffers import ReplayBuffer
from hrlkit.buffers.prioritized import make_sampler
from hrlkit.buffers.segments import SegmentBatch, SegmentBuffer
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.envs.spaces import ActionScaler
from hrlkit.errors import HrlkitError
from hrlkit.goals.functions import goal_transition, intrinsic_reward
from hrlkit.goals.relabel import hiro_relabel_goals
from hrlkit.learners import SACLearner, TD3Learner
from hrlkit.learners.base import Learner
from hrlkit.types import ReplayBatch, Subgoal


def make_learner(obs_space: gym.Space, action_space: gym.Space, level: Any, device: str) -> Learner:
    cfg = level.learner_config()
    cls = SACLearner if level.algo == "sac" else TD3Learner
    return cls(obs_space, action_space, cfg, device=device)


class StateView:
    """Turns env observations into HIRO's flat state: a Box as it is, a Dict as the chosen keys concatenated."""

    def __init__(self, space: gym.Space, keys: tuple[str, ...]) -> None:
        if isinstance(space, gym.spaces.Dict):
            missing = [k for k in keys if k not in space.spaces]
            if missing:
                raise HrlkitError(f"state_keys {missing} are not in the observation (keys: {list(space.spaces)})")
            self.keys: tuple[str, ...] | None = keys
            self.dim = int(sum(np.prod(space.spaces[k].shape) for k in keys))
        elif isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
            self.keys, self.dim = None, int(space.shape[0])
        else:
            raise HrlkitError(f"HIRO needs a flat Box or a Dict observation, got {space}")

    def __call__(self, obs: Any) -> np.ndarray:
        """(n, ...) observations -> (n, S) float32 states."""
        if self.keys is None:
            states = np.asarray(obs, np.float32)
            if states.ndim != 2 or states.shape[1] != self.dim:
                raise HrlkitError(f"observation batch of shape {states.shape} does not fit the {self.dim}-dim state")
            return states
        return np.concatenate([np.asarray(obs[k], np.float32).reshape(len(obs[k]), -1) for k in self.keys], axis=1)


class HIROAgent:
    """Two learners (`self.high`, `self.low`), their buffers and the goal functions; the loop's agent interface."""

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, cfg: HIROConfig, n_envs: int, run: RunConfig,
        replay: ReplayConfig,
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
        G, A = len(self.goal_idx), int(action_space.shape[0])
        self.goal_low, self.goal_high = cfg.goal_bounds()
        self.pretrain_bands = cfg.pretrain_bands()
        goal_space = gym.spaces.Box(self.goal_low, self.goal_high, dtype=np.float32)
        state_space = gym.spaces.Box(-np.inf, np.inf, (S,), np.float32)
        hidden = np.asarray(cfg.low_hidden_indices, np.int64)
        if len(hidden) and (hidden.min() < 0 or hidden.max() >= S or len(set(hidden.tolist())) < len(hidden)):
            raise HrlkitError(
                f"low_hidden_indices {cfg.low_hidden_indices} must be distinct indices of the {S}-dim state"
            )
        self.low_state_idx = np.setdiff1d(np.arange(S), hidden)  # the state dims the low level sees, in order
        self._low_state_idx_t = torch.as_tensor(self.low_state_idx, device=self.device)
        low_space = gym.spaces.Box(-np.inf, np.inf, (len(self.low_state_idx) + G,), np.float32)
        self.high = make_learner(state_space, goal_space, cfg.high, run.device)
        self.low = make_learner(low_space, action_space, cfg.low, run.device)
        self.goal_scaler, self.action_scaler = ActionScaler(goal_space), ActionScaler(action_space)
        self.low_buffer = ReplayBuffer(
            max(1, replay.buffer_size // n_envs), low_space, action_space, n_envs, run.device
        )
        # Prioritized replay (a run option) applies to the high level: its anneal clock is segments, about env steps / c.
        anneal = max(1, (replay.is_weight_anneal_env_steps or run.total_env_steps) // self.c)
        sampler = make_sampler(replay, cfg.high_buffer_size, anneal)
        self.high_buffer = SegmentBuffer(cfg.high_buffer_size, S, A, G, self.c, run.device, sampler)
        self.rng = np.random.default_rng(run.seed)
        # The correction's candidate draws: an explicit generator, saved in checkpoints, so the relabelling neither
        # depends on nor disturbs the global torch stream.
        self.relabel_generator = torch.Generator(device=self.device).manual_seed(int(run.seed) + 7919)
        self.low_pipeline = UpdatePipeline(self.low_buffer, self.low, cfg.low.batch_size, prefix="low/train/")
        self.high_pipeline = UpdatePipeline(
            self.high_buffer, self.high, cfg.high.batch_size, [self.correct_goals] if cfg.relabel else [],
            to_learner=self.high_transitions, prefix="high/train/",
        )  # fmt: skip
        self._goal_low_t = torch.as_tensor(self.goal_low, device=self.device)
        self._goal_high_t = torch.as_tensor(self.goal_high, device=self.device)
        # Per-env segment in flight.
        self.goals = np.zeros((n_envs, G), np.float32)  # current goal g_t (carried by h)
        self.seg_goal = np.zeros((n_envs, G), np.float32)  # the goal the segment started with
        self.seg_t = np.zeros(n_envs, np.int64)  # low steps taken in the segment; 0 = a new goal is due
        self.seg_states = np.zeros((n_envs, self.c + 1, S), np.float32)
        self.seg_actions = np.zeros((n_envs, self.c, A), np.float32)
        self.seg_reward = np.zeros(n_envs, np.float64)
        self.env_steps = 0  # counted here for the pretraining phase
        self.n_low_updates = self.n_high_updates = self.vec_updates = 0
        self._stats: dict[str, list[float]] = {}

    # ------------------------------------------------------------------------------------------------- the goals
    def _random_goals(self, n: int) -> np.ndarray:
        cfg = self.cfg
        if self.env_steps < cfg.low_pretrain_env_steps and self.pretrain_bands is not None:
            lo, hi = self.pretrain_bands  # checked against the goal range: signed goals stay inside it
            mag = self.rng.uniform(lo, hi, (n, len(lo)))
            return (mag * self.rng.choice([-1.0, 1.0], size=mag.shape)).astype(np.float32)
        return self.rng.uniform(self.goal_low, self.goal_high, (n, len(self.goal_low))).astype(np.float32)

    def _new_goals(self, states: np.ndarray, need: np.ndarray, random: bool, deterministic: bool = False) -> None:
        """Pick goals for the envs in `need` and open their segments at `states`."""
        if not need.any():
            return
        idx = np.flatnonzero(need)
        if random or self.env_steps < self.cfg.low_pretrain_env_steps:
            goals = self._random_goals(len(idx))
        else:
            norm = self.high.act(torch.as_tensor(states[idx], device=self.device), deterministic).cpu().numpy()
            goals = self.goal_scaler.to_env(norm)  # (n, G), in goal units
        self.goals[idx] = goals
        self.seg_goal[idx] = goals
        self.seg_states[idx, 0] = states[idx]
        self.seg_reward[idx] = 0.0

    def _low_obs(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """The low level's input: the state without `low_hidden_indices`, then the goal. (n, S), (n, G) -> (n, S' + G)"""
        return np.concatenate([states[:, self.low_state_idx], goals], axis=1)

    def _low_input(self, states: np.ndarray, goals: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(self._low_obs(states, goals), device=self.device)

    # ----------------------------------------------------------------------------------------------------- acting
    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        states = self.view(obs)
        self._new_goals(states, self.seg_t == 0, random=False, deterministic=deterministic)
        norm = self.low.act(self._low_input(states, self.goals), deterministic).cpu().numpy()
        return self.action_scaler.to_env(norm)

    def random_actions(self, n_envs: int, obs: Any = None) -> np.ndarray:
        """Warm-up: random goals for the envs starting a segment, uniform random low-level actions."""
        if obs is not None:
            self._new_goals(self.view(obs), self.seg_t == 0, random=True)
        return self.action_scaler.to_env(self.rng.uniform(-1.0, 1.0, (n_envs, *self.low.action_space.shape)))

    def predict(
        self, obs: Any, state: Any = None, episode_start: np.ndarray | None = None, deterministic: bool = True
    ) -> tuple[np.ndarray, Any]:
        """One observation (or a batch) -> (actions, (goals, steps in segment)); the state carries the goal."""
        single = _is_single(obs, self.view)
        batch = {k: np.asarray(v)[None] for k, v in obs.items()} if single and isinstance(obs, dict) else obs
        if single and not isinstance(obs, dict):
            batch = np.asarray(obs)[None]
        states = self.view(batch)
        n = len(states)
        if state is None or (episode_start is not None and np.all(episode_start)):
            goals, t = np.zeros((n, len(self.goal_idx)), np.float32), np.zeros(n, np.int64)
            prev = states
        else:
            goals, t, prev = (np.array(x) for x in state)
            ach, prev_ach = states[:, self.goal_idx], prev[:, self.goal_idx]
            goals = goal_transition(prev_ach, goals, ach).astype(np.float32)  # carry the goal by h
            t = t % self.c
            if episode_start is not None:
                t[np.asarray(episode_start, bool).reshape(-1)] = 0  # envs starting an episode get a new goal
        due = t == 0
        if due.any():
            norm = self.high.act(torch.as_tensor(states[due], device=self.device), deterministic).cpu().numpy()
            goals[due] = self.goal_scaler.to_env(norm)
        norm = self.low.act(self._low_input(states, goals), deterministic).cpu().numpy()
        actions = self.action_scaler.to_env(norm)
        new_state = (goals, t + 1, states)
        return (actions[0] if single else actions), new_state

    def position(self, obs: Any) -> np.ndarray:
        """The goal dimensions of an observation (where the agent is, in goal space): (G,) for one, (n, G) for a batch."""
        single = _is_single(obs, self.view)
        batch = {k: np.asarray(v)[None] for k, v in obs.items()} if single and isinstance(obs, dict) else obs
        if single and not isinstance(obs, dict):
            batch = np.asarray(obs)[None]
        ach = self.view(batch)[:, self.goal_idx]  # (n, G)
        return ach[0] if single else ach

    def subgoal(self, state: Any) -> Subgoal | None:
        """The absolute target s[goal_indices] + g in a `predict` state, and whether it was chosen at that step.

        `predict` returns (goals, t + 1, states) with `states` the states the actions were chosen at, so the target the
        low level steered to is states[:, goal_indices] + goals, and t + 1 == 1 marks a fresh high-level decision.
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
        # Grow each env's segment by this step.
        t = self.seg_t
        rows = np.arange(self.n_envs)
        self.seg_actions[rows, t] = actions
        self.seg_states[rows, t + 1] = next_states
        self.seg_reward += rewards
        self.seg_t = t + 1
        self.goals = next_goals
        done = terminated | truncated
        close = done | (self.seg_t == self.c)
        for i in np.flatnonzero(close):
            k = int(self.seg_t[i])
            self.high_buffer.add(
                self.seg_states[i, : k + 1], self.seg_actions[i, :k], self.seg_goal[i],
                self.cfg.high_reward_scale * self.seg_reward[i], bool(terminated[i]),
            )  # fmt: skip
            remaining = float(np.linalg.norm(next_goals[i]))  # ||s_0 + g_0 - s_k||, carried by h
            self._stat("hiro/goal_reached", float(remaining < self.cfg.goal_reached_distance))
            self._stat("hiro/goal_norm", float(np.linalg.norm(self.seg_goal[i])))
        self.seg_t[close] = 0
        self.env_steps += self.n_envs

    def update(self, gradient_steps: int) -> dict[str, float]:
        """Low level: `gradient_steps` steps of its pipeline; high level: `high_gradient_steps` x n_envs steps of its
        pipeline every c calls of this method (every c vector-env steps with the default train_freq = 1, in which
        n_envs decisions are made; every c x train_freq with a larger one)."""
        stats = self.low_pipeline.run(gradient_steps, self.rng)
        self.n_low_updates += gradient_steps
        self.vec_updates += 1
        ready = len(self.high_buffer) >= max(1, self.cfg.high_learning_starts)
        if self.vec_updates % self.c == 0 and ready and self.env_steps >= self.cfg.low_pretrain_env_steps:
            n_high = self.cfg.high_gradient_steps * self.n_envs
            stats.update(self.high_pipeline.run(n_high, self.rng))
            self.n_high_updates += n_high
        for k, values in self._stats.items():
            stats[k] = float(np.mean(values))
        self._stats.clear()
        return stats

    def low_policy(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """mu_low(s, g): the low level's deterministic action, normalised (what the correction scores)."""
        if len(self.low_state_idx) < states.shape[-1]:
            states = states.index_select(-1, self._low_state_idx_t)
        return self.low.act(torch.cat([states, goals], dim=-1), deterministic=True)

    def correct_goals(self, batch: SegmentBatch) -> tuple[SegmentBatch, dict[str, float]]:
        """The off-policy correction as a batch transform: each segment's goal replaced by the candidate that best
        explains its low-level actions under the current low level (`hrlkit.goals.relabel.hiro_relabel_goals`),
        candidates drawn from the agent's own generator (saved in checkpoints)."""
        idx = torch.as_tensor(self.goal_idx, device=self.device)
        relabeled = hiro_relabel_goals(
            batch.goals, batch.states_seq, batch.states_seq[..., idx], batch.actions_seq, batch.lengths,
            self.low_policy, self._goal_low_t, self._goal_high_t, self.cfg.relabel_samples,
            generator=self.relabel_generator,
        )  # fmt: skip
        stats = {
            "hiro/relabel_kept_original": (relabeled.choice == 0).float().mean().item(),
            "hiro/relabel_achieved": (relabeled.choice == 1).float().mean().item(),
            "hiro/relabel_sampled": (relabeled.choice >= 2).float().mean().item(),
        }
        return batch._replace(goals=relabeled.goals), stats

    def high_transitions(self, batch: SegmentBatch) -> ReplayBatch:
        """Segments as the high learner's transitions (s_t, g_t, sum of rewards, s_{t+k}), with goals in its
        normalised action space: 2 (g - low) / (high - low) - 1."""
        norm_goals = 2.0 * (batch.goals - self._goal_low_t) / (self._goal_high_t - self._goal_low_t) - 1.0
        return ReplayBatch(
            obs=batch.states_seq[:, 0], actions=norm_goals, rewards=batch.rewards, next_obs=batch.next_states,
            terminated=batch.terminated, weights=batch.weights, indices=batch.indices,
        )  # fmt: skip

    def update_high(self) -> dict[str, float]:
        """One step of the high level's pipeline: sample segments, correct their goals, update, priorities."""
        stats = self.high_pipeline.step(self.rng)
        self.n_high_updates += 1
        return stats

    def _stat(self, key: str, value: float) -> None:
        self._stats.setdefault(key, []).append(value)

    # ---------------------------------------------------------------------------------------------- checkpoints
    def state_tree(self) -> dict[str, Any]:
        return {
            **learners_tree({"high": self.high, "low": self.low}),
            "segments": {
                "goals": self.goals,
                "seg_goal": self.seg_goal,
                "seg_t": self.seg_t,
                "seg_states": self.seg_states,
                "seg_actions": self.seg_actions,
                "seg_reward": self.seg_reward,
            },  # fmt: skip
            "counters": [self.env_steps, self.n_low_updates, self.n_high_updates, self.vec_updates],
            "stats": {k: list(v) for k, v in self._stats.items()},
            "rng": rng_state(self.rng),
            "relabel_rng": self.relabel_generator.get_state(),
        }

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        try:
            load_learners_tree(tree, {"high": self.high, "low": self.low})
        except (RuntimeError, KeyError) as e:
            raise HrlkitError(
                f"checkpoint weights do not fit this HIRO model ({str(e).splitlines()[0][:160]}): "
                "load it with the config it was trained with"
            ) from None
        for k, v in tree["segments"].items():
            getattr(self, k)[...] = v
        self.env_steps, self.n_low_updates, self.n_high_updates, self.vec_updates = (int(x) for x in tree["counters"])
        self._stats = {k: list(v) for k, v in tree["stats"].items()}
        set_rng_state(self.rng, tree["rng"])
        if "relabel_rng" in tree:  # checkpoints before the correction had its own generator keep a fresh one
            self.relabel_generator.set_state(torch.as_tensor(tree["relabel_rng"], dtype=torch.uint8).cpu())

    def replay_state(self) -> dict[str, np.ndarray]:
        return replay_tree({"low": self.low_buffer, "high": self.high_buffer})

    def load_replay_state(self, state: dict[str, np.ndarray]) -> None:
        load_replay_tree(state, {"low": self.low_buffer, "high": self.high_buffer})


def _is_single(obs: Any, view: StateView) -> bool:
    if isinstance(obs, dict):
        return np.asarray(obs[view.keys[0]]).ndim == 1  # type: ignore[index]
    return np.asarray(obs).ndim == 1
