"""Seeded learning runs: PPO, TRPO and the option learners on PPO (PPOC, DAC, 2 options) reach a mean evaluation return
of at least 475 on CartPole-v1 (500 is the maximum) with the CartPole preset's settings (rl-baselines3-zoo's tuned PPO
and TRPO; PPOC and DAC take PPO's).

Each run evaluates every 5000 env steps (10 deterministic episodes) and stops at the first evaluation >= 475 through
`StopOnReward`, the stop-capable callback, so the test also shows a callback ending a real run. Measured on this
2-core machine (another job on the second core): PPO seeds 0 / 1 / 2 reach it at 10k / 5k / 15k env steps (6 s for
seed 0), TRPO at 20k / 20k / 15k (10 s for seed 0), PPOC at 5k / 25k / 20k, DAC at 10k / 5k / 25k.
"""

from __future__ import annotations

import pytest

import hrlkit
from hrlkit.training.callbacks import StopOnReward


@pytest.mark.parametrize(("algo", "budget"), [("ppo", 60_000), ("trpo", 60_000), ("ppoc", 60_000), ("dac", 60_000)])
def test_reaches_475_on_cartpole(algo: str, budget: int) -> None:
    cls = {"ppo": hrlkit.PPO, "trpo": hrlkit.TRPO, "ppoc": hrlkit.PPOC, "dac": hrlkit.DAC}[algo]
    # the env's preset, as `hrlkit train ALGO --env CartPole-v1` applies it
    model = cls("CartPole-v1", seed=0, verbose=0, tensorboard=False, eval_freq=5000, eval_episodes=10, torch_threads=1)
    model.learn(budget, callback=StopOnReward(475.0))
    model.close()
    assert model.state.stopped, f"{algo}: last evaluation {model.state.last_eval} after {model.env_steps} env steps"
    assert model.state.last_eval["mean_return"] >= 475.0
