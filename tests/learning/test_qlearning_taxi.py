"""Tabular Q-learning learns Taxi-v4 with its preset (lr 0.5, gamma 0.95, initial values 1, epsilon 0.05), here with
4 envs updating the table together (one synchronous batched update per vector step), seed 0, 60k env steps.

Measured with this code, seeds 0, 1, 2 (2 busy cores): mean return of the last 100 training episodes 4.71, 4.65, 5.41;
greedy evaluation over 100 episodes 7.96, 3.84, 7.96 (the optimum is about 8; a policy stuck in a loop scores -200 in
an episode, a random one about -770); 13-23 s each. Thresholds, with margin: training >= 3, greedy >= 0.
"""

from __future__ import annotations

import time

import numpy as np

from hrlkit.algorithms import QLearning, default_config
from hrlkit.config import PRESET_DIR, apply_preset, load_yaml
from hrlkit.envs.make import make_env
from hrlkit.training.evaluate import evaluate


def test_qlearning_learns_taxi() -> None:
    tc = default_config("qlearning")
    tc.run.env = "Taxi-v4"
    preset = PRESET_DIR / "Taxi-v4.yaml"
    apply_preset(tc, load_yaml(preset), str(preset))
    tc.run.total_env_steps, tc.run.n_envs, tc.run.seed, tc.run.eval_freq, tc.run.torch_threads = 60_000, 4, 0, 0, 1
    t0 = time.perf_counter()
    model = QLearning(config=tc.algo_config, run=tc.run, verbose=0, tensorboard=False).learn()
    model.close()
    env = make_env("Taxi-v4")
    greedy = evaluate(model, env, 100, seed=1_000_000)["mean_return"]
    env.close()
    train = float(np.mean(model.state.recent_returns))
    summary = f"last 100 training episodes {train:.2f}, greedy {greedy:.2f} ({time.perf_counter() - t0:.0f} s)"
    print(summary)
    assert model.agent.learner.n_updates == 60_000 // 4
    assert train >= 3.0 and greedy >= 0.0, summary
