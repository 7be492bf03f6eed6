"""Training throughput, env steps/s: hrlkit HIRO (TD3 at both levels) against Stable-Baselines3 TD3 (flat, one level).

Same env (PointMaze_UMaze-v3, Dict observation), same networks (300-300) and batch (100) for every learner, one
low-level (resp. flat) gradient step per env step; HIRO also updates its high level, with the off-policy correction,
every c = 10 env steps. Runs alternate ours / SB3 in one process; the table reports the median over `--rounds`.

    python benchmarks/hiro_throughput.py                     # -> docs/benchmarks.md and docs/hiro.md
    python benchmarks/hiro_throughput.py --steps 200 --rounds 1 --no-write   # quick check
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from docwriter import DOCS, write_section

ENV = "PointMaze_UMaze-v3"


def ours(warmup: int, steps: int, seed: int) -> float:
    import hrlkit

    model = hrlkit.HIRO(
        ENV, preset=False, seed=seed, verbose=0, tensorboard=False, learning_starts=warmup, eval_freq=0, log_interval=10**9,
        buffer_size=200_000, torch_threads=0, goal_indices=(0, 1), goal_low=(-2.0,), goal_high=(2.0,),
        **{"high.batch_size": 100, "low.batch_size": 100, "high.hidden": (300, 300), "low.hidden": (300, 300)},
    )  # fmt: skip
    model.learn(warmup + 10)
    t = time.perf_counter()
    model.learn(warmup + 10 + steps)
    return steps / (time.perf_counter() - t)


def sb3(warmup: int, steps: int, seed: int) -> float:
    import gymnasium as gym
    import gymnasium_robotics
    from stable_baselines3 import TD3
    from stable_baselines3.common.noise import NormalActionNoise

    gym.register_envs(gymnasium_robotics)
    model = TD3(
        "MultiInputPolicy", ENV, learning_rate=1e-3, batch_size=100, learning_starts=warmup, buffer_size=200_000,
        train_freq=1, gradient_steps=1, policy_kwargs={"net_arch": [300, 300]}, seed=seed, device="cpu", verbose=0,
        action_noise=NormalActionNoise(np.zeros(2), 0.1 * np.ones(2)),
    )  # fmt: skip
    model.learn(warmup + 10)
    t = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        a, b = [], []
        for r in range(args.rounds):
            a.append(ours(args.warmup, args.steps, r))
            b.append(sb3(args.warmup, args.steps, r))
            print(f"threads={threads} round {r}: HIRO {a[-1]:.1f}, SB3 TD3 {b[-1]:.1f} env steps/s", flush=True)
        rows.append((threads, statistics.median(a), statistics.median(b)))
    import stable_baselines3

    table = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d')}; torch {torch.__version__}, stable-baselines3 "
            f"{stable_baselines3.__version__}. Command: `python benchmarks/hiro_throughput.py --steps {args.steps} "
            f"--warmup {args.warmup} --rounds {args.rounds}`; {ENV}, 300-300 networks, batch 100.",
            "",
            "| torch threads | hrlkit HIRO (two levels) steps/s | SB3 TD3 (flat) steps/s | ratio |",
            "|---|---|---|---|",
            *[f"| {t} | {x:.1f} | {y:.1f} | {x / y:.2f} |" for t, x, y in rows],
        ]
    )
    print(table)
    if args.no_write:
        return
    for doc in (DOCS / "benchmarks.md", DOCS / "hiro.md"):
        write_section(doc, "hiro-throughput", table, "## HIRO training throughput against Stable-Baselines3 TD3")


if __name__ == "__main__":
    main()
