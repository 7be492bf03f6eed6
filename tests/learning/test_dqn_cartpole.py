"""Seeded learning run: DQN reaches a mean evaluation return of at least 400 on CartPole-v1 (500 is the maximum).

Settings are the CartPole preset's (the rl-baselines3-zoo's tuned DQN: 256-256, lr 2.3e-3, batch 64, 128 gradient
steps per 256 env steps, epsilon 1 -> 0.04 over 8000 env steps). DQN on CartPole is not monotone: with these settings
seed 0 evaluates at 500 at 25k and 30k env steps and falls back later (docs/dqn.md has the measured curves of seeds
0-2), so the test asserts what the issue asks, that the agent *reaches* 400: one of its evaluations (10 deterministic
episodes, every 2500 env steps) within 30k env steps scores >= 400. About 35 s on 2 CPU cores.
"""

from __future__ import annotations

import gymnasium as gym

import hrlkit


def test_dqn_reaches_400_on_cartpole():
    # the env's preset, as `hrlkit train dqn --env CartPole-v1` applies it
    model = hrlkit.DQN("CartPole-v1", seed=0, verbose=0, tensorboard=False, eval_freq=0, torch_threads=1)
    returns = []
    for steps in range(2500, 30_001, 2500):
        model.learn(steps)
        returns.append(hrlkit.evaluate(model, gym.make("CartPole-v1"), episodes=10, seed=123)["mean_return"])
        if returns[-1] >= 400:
            break
    assert max(returns) >= 400, returns
