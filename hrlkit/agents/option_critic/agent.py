"""The Option-Critic agent: options per env, the epsilon-greedy policy over options, replay for the critic and the
fresh transitions for the actor (Bacon, Harb & Precup 2017, arXiv:1609.05140, Algorithm 1).

Acting, for every env at once (no Python loop over envs):

    1. an env at the start of an episode, or whose option's termination fired on arriving in s, picks a new option
       epsilon-greedily over Q_Omega(s, .) (epsilon: the linear `option_epsilon_*` schedule over env steps);
    2. the action is sampled from pi_w(.|s) of the env's option w.

The termination of the option that brought the env to s is sampled at s with beta_w(s) right before step 1, from the
agent's own generator, so it is part of the checkpoint and a resumed run samples the same terminations.

Learning: every transition goes to a uniform `ReplayBuffer` together with the option executing in s (a ring of
options aligned with the buffer's rows). The critic learns from replay batches; the intra-option policies and the
terminations learn from the transitions collected since their previous step -- on-policy, as the gradient theorems
require -- at every update (`actor_n_step` 1, one-step targets) or every `actor_n_step` vector steps (n-step returns
along those steps, chained through rings of episode ends and terminations kept beside the option ring). Warm-up steps
(uniform random actions before `learning_starts`) are stored for the critic but never given to the actor: they were
not drawn from pi_w.

Evaluation (`predict(..., deterministic=True)`): the greedy option, the mode action, and an option that ends when
beta_w(s) > 0.5 -- a threshold instead of a sample, so evaluation is a deterministic function of the observations and
never draws from the agent's training generator. `predict(..., deterministic=False)` samples terminations and
actions from the agent's predict generators; new options are greedy over Q (epsilon is a training schedule). Training
and `predict` run the same control step (`_control_step`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from hrlkit.agents.base import Transition
from hrlkit.agents.exploration import epsilon_greedy
from hrlkit.agents.flat import _add_batch_axis, _is_single, obs_to_tensor, rng_state, set_rng_state
from hrlkit.agents.option_critic.config import OptionCriticConfig
from hrlkit.agents.option_critic.learner import ActorWindow, OptionBatch, OptionCriticLearner, OptionUpdate
from hrlkit.buffers import ReplayBuffer
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.envs.spaces import ActionScaler
from hrlkit.errors import HrlkitError
from hrlkit.training.serialization import check_tensors_fit, load_optimizer_state


class OptionCriticAgent:
    """The learner (`self.learner`), the replay buffer with its option ring, and the per-env options in flight.

    Args:
        obs_space, action_space: single-env spaces (Discrete or flat Box actions).
        cfg: the algorithm's config.
        n_envs: parallel envs.
        run: the loop's config (seed, device).
        replay: the replay settings (buffer_size; prioritized replay is refused).
    """

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, cfg: OptionCriticConfig, n_envs: int, run: RunConfig,
        replay: ReplayConfig,
    ) -> None:  # fmt: skip
        if replay.prioritized_replay:
            raise HrlkitError("Option-Critic samples its critic's replay uniformly: drop --prioritized-replay")
        self.cfg, self.n_envs = cfg, n_envs
        self.device = torch.device(run.device)
        self.learner = OptionCriticLearner(obs_space, action_space, cfg, device=run.device)
        self.obs_space, self.action_space = obs_space, action_space
        if isinstance(action_space, gym.spaces.Box):
            self.scaler: ActionScaler | None = ActionScaler(action_space)
            self.action_start = 0
        else:
            self.scaler, self.action_start = None, int(action_space.start)
        rows = max(1, replay.buffer_size // n_envs)
        self.buffer = ReplayBuffer(rows, obs_space, action_space, n_envs, device=run.device)
        self.buffer_options = np.zeros((rows, n_envs), np.int64)  # the option executing in s, row-aligned with buffer
        self.buffer_ended = np.zeros((rows, n_envs), bool)  # the episode ended at this transition (for n-step returns)
        self.buffer_fired = np.zeros((rows, n_envs), bool)  # the option arriving in s terminated there
        self.rng = np.random.default_rng(run.seed)
        # Stochastic `predict` samples from its own generators, never the training ones.
        self.predict_generator = torch.Generator(device=self.device).manual_seed(run.seed + 1)  # actions
        self.predict_rng = np.random.default_rng(run.seed + 1)  # terminations
        K = cfg.n_options
        # Per env: the option in flight, whether a new one is due (episode start or termination), its age in steps.
        self.options = np.zeros(n_envs, np.int64)
        self.need_option = np.ones(n_envs, bool)
        self.option_steps = np.zeros(n_envs, np.int64)
        self.fired = np.zeros(n_envs, bool)  # whether the option that arrived in the current s terminated there
        self.env_steps = 0
        self.actor_rows = 0  # replay rows written by the agent's own policy since the actor's last step
        self._acted = False  # whether the last actions came from `act` (True) or `random_actions` (False)
        # Option statistics since the last `update` call: [steps, terminations, options ended, their summed length].
        self.stat_counts = np.zeros(4, np.int64)
        self.stat_usage = np.zeros(K, np.int64)

    # ----------------------------------------------------------------------------------------------------- acting
    def _control_step(
        self,
        q: np.ndarray,
        beta: np.ndarray,
        options: np.ndarray,
        need: np.ndarray,
        epsilon: float | None,
        deterministic: bool,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The per-env option step, the one state machine of training and `predict`: (options, fired), both (n,).

        The option that arrived in s ends where its termination fires (a draw against beta_w(s) from `rng`, or beta_w(s)
        > 0.5 when `deterministic`); there and where `need` (an episode's start) a new option is picked, greedily over
        Q_Omega(s, .) or epsilon-greedily (`epsilon`; None: greedy, no draw). The draws are made for every env whatever
        their outcome, so their number per step is fixed (a resumed run draws what an uninterrupted one does).

        Shapes:
            q, beta: (n, K); options: (n,) int64 the options in flight; need: (n,) bool -> (n,) int64, (n,) bool
        """
        rows = np.arange(len(options))
        b = beta[rows, options]  # (n,) beta of the option that arrived in s
        fired = (b > 0.5 if deterministic else rng.random(len(options)) < b) & ~need  # an episode's start ends nothing
        greedy = q.argmax(1)
        new = greedy if epsilon is None else epsilon_greedy(greedy, epsilon, q.shape[1], rng)
        return np.where(need | fired, new, options), fired

    def _heads(self, obs: Any) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """phi(obs) (n, H), Q_Omega(obs, .) and beta(obs) (n, K) as arrays."""
        with torch.no_grad():
            features = self.learner.net.features(obs_to_tensor(obs, self.device))  # (n, H)
            q = self.learner.net.q(features).cpu().numpy()  # (n, K)
            beta = self.learner.net.termination_prob(features).cpu().numpy()  # (n, K)
        return features, q, beta

    def _step_options(self, obs: Any, epsilon: float) -> torch.Tensor:
        """Training: terminations at `obs` for the options in flight, new options where due (epsilon-greedy, the
        training generator), the option statistics; returns phi(obs)."""
        features, q, beta = self._heads(obs)
        options, fired = self._control_step(q, beta, self.options, self.need_option, epsilon, False, self.rng)
        self._count_ended(fired)
        self.stat_counts[1] += int(fired.sum())
        due = self.need_option | fired
        self.options = options
        self.fired = fired
        self.option_steps[due] = 0
        self.need_option[:] = False
        return features

    def _count_ended(self, ended: np.ndarray) -> None:
        self.stat_counts[2] += int(ended.sum())
        self.stat_counts[3] += int(self.option_steps[ended].sum())

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Env actions for a batch of observations (leading axis: envs), with the options' bookkeeping.

        The training loop's collection step: terminations and options are always sampled (epsilon-greedy), and
        `deterministic` only picks the mode action; evaluation goes through `predict`, which keeps no agent state.
        """
        features = self._step_options(obs, self.cfg.option_epsilon(self.env_steps))
        options = torch.as_tensor(self.options, device=self.device)
        with torch.no_grad():
            net = self.learner.net
            actions = net.policy.sample(net.actor_features(features), options, deterministic).cpu().numpy()
        self._acted = True
        return self._to_env(actions)

    def random_actions(self, n_envs: int, obs: Any = None) -> np.ndarray:
        """Warm-up: options tracked as in `act` (so replay holds them), actions uniform over the action space."""
        if obs is not None:
            self._step_options(obs, self.cfg.option_epsilon(self.env_steps))
        else:
            self.fired = np.zeros(self.n_envs, bool)
        self._acted = False
        if self.scaler is not None:
            return self.scaler.to_env(self.rng.uniform(-1.0, 1.0, (n_envs, *self.action_space.shape)))
        return self.rng.integers(0, self.action_space.n, size=n_envs) + self.action_start

    def _to_env(self, actions: np.ndarray) -> np.ndarray:
        return self.scaler.to_env(actions) if self.scaler is not None else actions + self.action_start

    def _to_stored(self, env_actions: np.ndarray) -> np.ndarray:
        if self.scaler is not None:
            return self.scaler.to_normalised(env_actions)
        return np.asarray(env_actions, np.int64) - self.action_start

    def predict(
        self, obs: Any, state: Any = None, episode_start: np.ndarray | None = None, deterministic: bool = True
    ) -> tuple[np.ndarray, Any]:
        """One observation or a batch -> (actions, options): the `state` is the option of each env.

        The control step is training's (`_control_step`). Deterministic: the greedy option, the mode action,
        termination when beta_w(s) > 0.5. Otherwise terminations are drawn from `predict_rng` and actions from
        `predict_generator` (never the training generators), and new options are still greedy (epsilon is a training
        schedule). `state=None` or `episode_start` marks envs that need a new option.
        """
        single = _is_single(obs, self.obs_space)
        batch = _add_batch_axis(obs) if single else obs
        features, q, beta = self._heads(batch)
        n = len(q)
        if state is None:
            options, need = np.zeros(n, np.int64), np.ones(n, bool)
        else:
            options = np.asarray(state, np.int64).reshape(n)
            need = np.zeros(n, bool) if episode_start is None else np.asarray(episode_start, bool).reshape(n)
        options, _ = self._control_step(q, beta, options, need, None, deterministic, self.predict_rng)
        with torch.no_grad():
            chosen = torch.as_tensor(options, device=self.device)
            net = self.learner.net
            sampled = net.policy.sample(net.actor_features(features), chosen, deterministic, self.predict_generator)
        actions = self._to_env(sampled.cpu().numpy())
        return (actions[0] if single else actions), options

    def active_option(self, state: Any) -> np.ndarray | None:
        """The option of each env in a `predict` state (the state is the options), (n,) int64."""
        return None if state is None else np.asarray(state, np.int64).reshape(-1)

    # -------------------------------------------------------------------------------------------------- learning
    def observe(self, transition: Transition) -> None:
        obs, env_actions, rewards, next_obs, terminated, truncated, infos = transition
        done = terminated | truncated
        pos = self.buffer.pos  # the rings are written before `add` moves pos on
        self.buffer_options[pos], self.buffer_ended[pos], self.buffer_fired[pos] = self.options, done, self.fired
        self.buffer.add(obs, self._to_stored(env_actions), rewards, next_obs, terminated)
        self.actor_rows = min(self.actor_rows + 1, self.buffer.capacity) if self._acted else 0
        self.option_steps += 1
        np.add.at(self.stat_usage, self.options, 1)
        self.stat_counts[0] += self.n_envs
        self._count_ended(done)  # an episode's end ends its option too
        self.need_option |= done
        self.env_steps += self.n_envs

    def _rows_batch(self, rows: np.ndarray) -> OptionBatch:
        flat = (rows[:, None] * self.n_envs + np.arange(self.n_envs)).reshape(-1)  # (R * n,), row-major: row, env
        return self._gather(flat)

    def _gather(self, flat: np.ndarray) -> OptionBatch:
        rows, envs = np.divmod(flat, self.n_envs)  # e.g. n_envs = 2: flat 7 -> row 3, env 1
        options = torch.as_tensor(self.buffer_options[rows, envs], device=self.device)
        return OptionBatch(self.buffer.gather(flat), options)

    def _actor_window(self, rows: np.ndarray) -> ActorWindow:
        """Which fresh rows chain into the next one for n-step returns, and where the options fired (rows oldest
        first)."""
        continues = ~self.buffer_ended[rows]  # (T, n)
        continues[-1] = False  # the window's last step bootstraps
        fired = self.buffer_fired[rows]  # (T, n)
        flat = [torch.as_tensor(x.reshape(-1), dtype=torch.float32, device=self.device) for x in (continues, fired)]
        return ActorWindow(self.n_envs, *flat)

    def update(self, gradient_steps: int) -> dict[str, float]:
        """`gradient_steps` critic steps from replay; the first also takes the actor step on the fresh transitions
        once there are `actor_n_step` vector steps of them."""
        actor_batch, window = None, None
        if self.actor_rows >= self.cfg.actor_n_step:
            rows = (self.buffer.pos - 1 - np.arange(self.actor_rows)[::-1]) % self.buffer.capacity  # oldest first
            actor_batch = self._rows_batch(rows)
            if self.cfg.actor_n_step > 1:
                window = self._actor_window(rows)
            self.actor_rows = 0
        stats: dict[str, float] = {}
        for i in range(gradient_steps):  # critic stats of the last step, actor stats of the first
            flat = self.buffer.sample_indices(self.cfg.batch_size, self.rng)
            first = i == 0
            update = OptionUpdate(self._gather(flat), actor_batch if first else None, window if first else None)
            stats.update(self.learner.update(update).stats)
        out = {f"train/{k}": v for k, v in stats.items()}
        out.update(self.option_stats())
        return out

    def option_stats(self) -> dict[str, float]:
        """options/* since the last call: mean duration (env steps) of the options that ended, termination rate (beta
        firings per env step), usage_k (fraction of env steps option k ran), epsilon; the counters then restart."""
        steps, fired, n_ended, ended_steps = (int(x) for x in self.stat_counts)
        out: dict[str, float] = {"options/epsilon": self.cfg.option_epsilon(self.env_steps)}
        if steps > 0:
            out["options/termination_rate"] = fired / steps
            out.update({f"options/usage_{k}": float(u) / steps for k, u in enumerate(self.stat_usage)})
        if n_ended > 0:
            out["options/mean_duration"] = ended_steps / n_ended
        self.stat_counts[:] = 0
        self.stat_usage[:] = 0
        return out

    # ---------------------------------------------------------------------------------------------- checkpoints
    def state_tree(self) -> dict[str, Any]:
        return {
            "learner": self.learner.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.learner.optimizers.items()},
            "learner_extra": self.learner.extra_state(),
            "options": {
                "options": self.options,
                "need_option": self.need_option,
                "option_steps": self.option_steps,
                "fired": self.fired,
                "stat_counts": self.stat_counts,
                "stat_usage": self.stat_usage,
            },
            "counters": [self.env_steps, self.actor_rows, int(self._acted)],
            "rng": rng_state(self.rng),
        }

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        try:
            check_tensors_fit(tree["learner"], self.learner.state_dict(), "weights")
            self.learner.load_state_dict(tree["learner"])
            for k, o in self.learner.optimizers.items():
                load_optimizer_state(o, tree["optimizers"][k])
            for k, v in tree["options"].items():
                if np.shape(v) != getattr(self, k).shape:
                    raise RuntimeError(f"{k} has shape {np.shape(v)}, expected {getattr(self, k).shape}")
                getattr(self, k)[...] = v
        except (RuntimeError, KeyError, ValueError) as e:
            raise HrlkitError(
                f"checkpoint weights do not fit this Option-Critic model ({str(e).splitlines()[0][:160]}): "
                "load it with the config (n_options, hidden) and n_envs it was trained with"
            ) from None
        self.learner.load_extra_state(tree["learner_extra"])
        self.env_steps, self.actor_rows, acted = (int(x) for x in tree["counters"])
        self._acted = bool(acted)
        set_rng_state(self.rng, tree["rng"])

    RINGS = ("options", "ended", "fired")  # beside the replay buffer's arrays, row-aligned with them

    def replay_state(self) -> dict[str, np.ndarray]:
        return {**self.buffer.state_dict(), **{k: getattr(self, f"buffer_{k}") for k in self.RINGS}}

    def load_replay_state(self, state: dict[str, np.ndarray]) -> None:
        self.buffer.load_state_dict({k: v for k, v in state.items() if k not in self.RINGS})
        for k in self.RINGS:
            ring = getattr(self, f"buffer_{k}")
            if k not in state and k != "options":  # a checkpoint from before the ring: only n-step windows read it
                ring[...] = False
            elif k not in state or state[k].shape != ring.shape:
                raise HrlkitError(
                    f"saved replay buffer has no {k} ring of the right shape: resume with the same config"
                )
            else:
                ring[...] = state[k]
