"""The agent of the option learners on PPO (PPOC, DAC): `RolloutAgent` with options run call-and-return.

Collection, for every env at once (no Python loop over envs), at each step from s:

    1. the option w- that brought the env to s terminates with probability beta_{w-}(s) (a uniform draw);
    2. at an episode's start, or where w- terminated, the policy over options draws w ~ pi_Omega(.|s) (the master
       re-drawing w- is allowed, as in the call-and-return model); elsewhere w = w-;
    3. the action is drawn from pi_w(.|s).

Steps 1-2 draw w from pi_hat(.|s, w-) of the DAC paper; drawing the termination explicitly also records whether the
master chose (`chose`), which PPOC's master loss needs. All draws come from torch's global generator, as PPO's
(checkpoints save it). The rollout stores what both learners need (`OptionRolloutBuffer`); observation and reward
normalisation, truncation bootstraps and checkpoints of a half-collected rollout work as for PPO.

Evaluation (`predict(..., deterministic=True)`): the greedy option of pi_Omega, the mode action, and an option that
ends when beta_w(s) > 0.5, so evaluation is a deterministic function of the observations. `predict(...,
deterministic=False)` samples terminations, options and actions from the agent's own generator, never the training
one. Either way the returned `state` is each env's option.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hrlkit.agents.base import Transition
from hrlkit.agents.flat import _add_batch_axis, _is_single
from hrlkit.agents.rollout import RolloutAgent
from hrlkit.buffers.option_rollout import OptionRolloutBuffer
from hrlkit.errors import HrlkitError
from hrlkit.learners.option_ppo import OptionPPOConfig, OptionPPOLearner
from hrlkit.nn.options import OptionOutputs, action_log_prob, high_log_probs, sample_categorical, select


class OptionRolloutAgent(RolloutAgent):
    """Collects call-and-return option rollouts and hands each full one to an `OptionPPOLearner`.

    Args:
        learner: a PPOC or DAC learner.
        config: its config.
        n_envs: parallel envs.
        seed: seeds the generator of stochastic `predict`.
    """

    def __init__(self, learner: OptionPPOLearner, config: OptionPPOConfig, n_envs: int, seed: int = 0) -> None:
        super().__init__(learner, config, n_envs)
        K = config.n_options
        self.buffer = OptionRolloutBuffer(
            config.n_steps, n_envs, learner.obs_space, learner.action_space, K, device=str(learner.device)
        )
        self.options = np.zeros(n_envs, np.int64)  # the option running in each env
        self.need_option = np.ones(n_envs, bool)  # the next step is an episode's first
        self.predict_generator = torch.Generator(device=self.device).manual_seed(seed + 1)

    # ----------------------------------------------------------------------------------------------------- acting
    def _continuation_values(self, out: OptionOutputs, options: torch.Tensor) -> torch.Tensor:
        """U(s, w) = sum_w' pi_hat(w'|s, w) Q_Omega(s, w'): the value of arriving in s with option w running, (n,)."""
        starts = torch.zeros_like(options, dtype=torch.bool)
        log_pi_hat = high_log_probs(out.termination_logits, out.master_log_probs, options, starts)
        return (log_pi_hat.exp() * out.q).sum(-1)

    @torch.inference_mode()
    def _values(self, obs: Any) -> np.ndarray:
        """U(obs, the options now running): what the rollout bootstraps from (see `OptionRolloutBuffer`)."""
        out = self.policy(self._tensor(self._normalise(obs)))
        return self._numpy(self._continuation_values(out, torch.as_tensor(self.options, device=self.device)))

    def _control_step(
        self,
        out: OptionOutputs,
        running: torch.Tensor,
        starts: torch.Tensor,
        deterministic: bool,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-env option step, the one state machine of training and `predict`: (options, chose), both (n,).

        The running option ends where its termination fires (a draw against beta, or beta > 0.5 when deterministic);
        there and at an episode's start (`starts`) the master picks (a draw from pi_Omega, or its argmax); elsewhere the
        running option goes on. Draws come from `generator` (None: torch's global one, which training uses), one per
        env for the termination and one per env for the master, whether or not they are used: a fixed draw count.
        """
        beta = torch.sigmoid(select(out.termination_logits, running))  # (n,)
        if deterministic:
            fired = beta > 0.5
        else:
            fired = torch.rand(beta.shape, device=beta.device, generator=generator) < beta
        master = out.master_log_probs
        new = master.argmax(-1) if deterministic else sample_categorical(master.exp(), generator)  # (n,)
        chose = starts | fired
        return torch.where(chose, new, running), chose

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        """Env actions for a batch; keeps the draw for this step's `observe`.

        `deterministic=True` is stateless: each call picks the master's greedy option as at an episode's start and
        leaves the running options alone. Evaluation goes through `predict`, which carries each env's option in its
        state (call-and-return)."""
        if deterministic:
            return self._predict_batch(obs, True, None, None)[0]
        if self.obs_norm is not None:
            self.obs_norm.update(obs)
        norm_obs = self._normalise(obs)
        net = self.policy
        with torch.inference_mode():
            out = net(self._tensor(norm_obs))
            # copies: the fields kept for `observe` must not see the in-place updates of the arrays below
            prev = torch.tensor(self.options, device=self.device)
            starts = torch.tensor(self.need_option, device=self.device)
            options, chose = self._control_step(out, prev, starts, False, None)
            actions = net.sample_actions(out, options, False)
            log_probs = action_log_prob(out, options, actions)
            log_pi_hat = high_log_probs(out.termination_logits, out.master_log_probs, prev, starts)  # (n, K)
            pi_hat = log_pi_hat.exp()
            master = out.master_log_probs.exp()
            option_fields = (
                options, prev, starts, chose, select(log_pi_hat, options), (pi_hat * out.q).sum(-1),
                (master * out.q).sum(-1), pi_hat,
            )  # fmt: skip
            values = select(out.q, options)
        actions_np = self._numpy(actions)
        self._pending = (norm_obs, actions_np, self._numpy(values), self._numpy(log_probs))
        self._pending_options = tuple(self._numpy(x) for x in option_fields)
        self.options = self._numpy(options).copy()
        self.need_option[:] = False
        return self._to_env(actions_np)

    @torch.inference_mode()
    def _predict_batch(
        self, obs: Any, deterministic: bool, options: np.ndarray | None, starts: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        out = self.policy(self._tensor(self._normalise(obs)))
        n = out.q.shape[0]
        if options is None:  # nothing runs yet: every env starts
            running = torch.zeros(n, dtype=torch.int64, device=self.device)
            due = torch.ones(n, dtype=torch.bool, device=self.device)
        else:
            running = torch.as_tensor(np.asarray(options, np.int64).reshape(n), device=self.device)
            due = torch.zeros(n, dtype=torch.bool, device=self.device)
            if starts is not None:
                due = torch.as_tensor(np.asarray(starts, bool).reshape(n), device=self.device)
        generator = None if deterministic else self.predict_generator
        chosen, _ = self._control_step(out, running, due, deterministic, generator)
        actions = self.policy.sample_actions(out, chosen, deterministic, generator)
        return self._to_env(self._numpy(actions)), self._numpy(chosen).copy()

    def predict(
        self, obs: Any, state: Any = None, episode_start: np.ndarray | None = None, deterministic: bool = True
    ) -> tuple[np.ndarray, Any]:
        """Stable-Baselines3's signature; `state` is each env's option (None: every env picks one)."""
        single = _is_single(obs, self.learner.obs_space)
        batch = _add_batch_axis(obs) if single else obs
        actions, options = self._predict_batch(batch, deterministic, state, episode_start)
        return (actions[0] if single else actions), options

    def active_option(self, state: Any) -> np.ndarray | None:
        """The option of each env in a `predict` state (the state is the options), (n,) int64."""
        return None if state is None else np.asarray(state, np.int64).reshape(-1)

    # -------------------------------------------------------------------------------------------------- learning
    def observe(self, transition: Transition) -> None:
        if self._pending is None:
            raise HrlkitError(
                "observe() without act(): the rollout needs the options, values and log-probs of the draw"
            )
        self.buffer.add_options(*self._pending_options)
        super().observe(transition)
        _, _, _, _, terminated, truncated, _ = transition
        self.need_option |= np.asarray(terminated, bool) | np.asarray(truncated, bool)

    def update(self, progress_remaining: float = 1.0) -> dict[str, float]:
        stats = super().update(progress_remaining)
        return {k.replace("train/options/", "options/"): v for k, v in stats.items()}

    # ---------------------------------------------------------------------------------------------- checkpoints
    def state_tree(self) -> dict[str, Any]:
        tree = super().state_tree()
        tree["options"] = {"options": self.options, "need_option": self.need_option}
        tree["predict_generator"] = self.predict_generator.get_state()
        return tree

    def load_state_tree(self, tree: dict[str, Any]) -> None:
        super().load_state_tree(tree)
        saved = tree.get("options", {})
        for name in ("options", "need_option"):
            value = np.asarray(saved.get(name))
            if value.shape != (self.n_envs,):
                raise HrlkitError(
                    f"checkpoint has no per-env {name} for {self.n_envs} envs: resume with the n_envs it was trained with"
                )
            getattr(self, name)[...] = value
        if "predict_generator" in tree:
            self.predict_generator.set_state(torch.as_tensor(tree["predict_generator"], dtype=torch.uint8))
