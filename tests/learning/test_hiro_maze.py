"""Seeded HIRO learning run on the bundled toy U-maze (plain numpy, `hrlkit/PointUMaze-v0`).

HIRO's maze protocol: training episodes draw their goal in a random free cell, evaluation uses the fixed goal at the
far end of the U, where the straight line from the start runs into the wall (a greedy policy stalls at about -160).
Success: within 0.5 of the goal at the end of the 100-step episode.

The run is goal-conditioned HIRO with hindsight at the high level (the maze as a goal env) and 10 high-level gradient
steps per decision, the PointMaze preset's configuration, on a budget of 6k env steps. The HIRO of the previous
version of this test (the task goal folded into the state, no hindsight, one high-level step per decision) needed
20k: evaluations every 4k gave seed 0 0.5, 0.0, 1.0, 1.0, 1.0 and seed 1 0.0, 0.0, 0.0, 0.7, 1.0. This one, with
evaluations every 2k to 14k (`docs/hiro.md`): seed 0 0.0 then 1.0 from 4k; seed 1 the same; seed 2 0.0, 0.0, 0.9,
then 1.0 from 8k.
"""

from __future__ import annotations

import hrlkit
from hrlkit.envs.make import make_env

MIN_SUCCESS = 0.8
STEPS = 6_000


def test_goal_conditioned_hiro_solves_the_toy_u_maze():
    model = hrlkit.HIRO(
        "hrlkit/PointUMaze-v0", seed=0, verbose=0, tensorboard=False, learning_starts=1000, eval_freq=0,
        torch_threads=1, goal_low=(-1.5,), goal_high=(1.5,), env_kwargs={"random_goal": True, "goal_env": True},
        state_keys=("observation",), goal_conditioned=True, high_gradient_steps=10,
        **{
            "hindsight.enabled": True, "high.hidden": (64, 64), "low.hidden": (64, 64), "high.batch_size": 128,
            "low.batch_size": 128, "high.actor_lr": 1e-3, "low.actor_lr": 1e-3, "high.exploration_noise": 0.2,
        },
    )  # fmt: skip
    model.learn(STEPS)
    result = hrlkit.evaluate(model, make_env("hrlkit/PointUMaze-v0", env_kwargs={"goal_env": True}), 10, seed=1234)
    assert result["success_rate"] >= MIN_SUCCESS, result
