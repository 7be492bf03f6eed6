"""Sample efficiency check behind the throughput table: hrlkit SAC/TD3 and Stable-Baselines3 SAC/TD3 with the same
settings learn Pendulum-v1 equally well per env step.

Same settings on both sides: networks, batch, learning rates, `learning_starts`, one gradient step per env step, TD3
exploration noise 0.1. Each run is evaluated (10 deterministic episodes, seeds 1000-1009) every `--eval-every` steps.

    python benchmarks/sample_efficiency.py                # writes its table into docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
from docwriter import DOCS, write_section

DOC = DOCS / "benchmarks.md"


def eval_return(predict, episodes: int = 10) -> float:
    env = gym.make("Pendulum-v1")
    returns = []
    for k in range(episodes):
        obs, _ = env.reset(seed=1000 + k)
        done, total = False, 0.0
        while not done:
            obs, r, term, trunc, _ = env.step(predict(obs))
            total += float(r)
            done = term or trunc
        returns.append(total)
    return float(np.mean(returns))


def run_ours(algo: str, seed: int, steps: int, every: int, hidden: int, lr: float) -> list[float]:
    import hrlkit

    cls = {"sac": hrlkit.SAC, "td3": hrlkit.TD3}[algo]
    extra = {"entropy_lr": lr} if algo == "sac" else {"exploration_noise": 0.1}
    model = cls(
        "Pendulum-v1", preset=False, seed=seed, verbose=0, tensorboard=False, hidden=(hidden, hidden), batch_size=256,
        learning_starts=1000, actor_lr=lr, critic_lr=lr, eval_freq=0, **extra,
    )  # fmt: skip
    out = []
    for s in range(every, steps + 1, every):
        model.learn(s)
        out.append(eval_return(lambda o: model.predict(o, deterministic=True)[0]))
    return out


def run_sb3(algo: str, seed: int, steps: int, every: int, hidden: int, lr: float) -> list[float]:
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    extra = {"action_noise": NormalActionNoise(np.zeros(1), 0.1 * np.ones(1))} if algo == "td3" else {}
    cls = {"sac": SAC, "td3": TD3}[algo]
    model = cls(
        "MlpPolicy", "Pendulum-v1", learning_rate=lr, batch_size=256, learning_starts=1000, train_freq=1,
        gradient_steps=1, policy_kwargs={"net_arch": [hidden, hidden]}, seed=seed, device="cpu", verbose=0, **extra,
    )  # fmt: skip
    out = []
    for _ in range(every, steps + 1, every):
        model.learn(every, reset_num_timesteps=False)
        out.append(eval_return(lambda o: model.predict(o, deterministic=True)[0]))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--algos", nargs="+", default=["sac", "td3"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--eval-every", type=int, default=2000)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=0, help="torch threads for both sides (0: torch's default)")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    t0 = time.time()
    rows = []
    for algo in args.algos:
        curves = {"hrlkit": [], "SB3": []}
        for seed in range(args.seeds):
            curves["hrlkit"].append(run_ours(algo, seed, args.steps, args.eval_every, args.hidden, args.lr))
            curves["SB3"].append(run_sb3(algo, seed, args.steps, args.eval_every, args.hidden, args.lr))
            print(algo, seed, {k: [round(x) for x in v[-1]] for k, v in curves.items()}, flush=True)
        for lib, cs in curves.items():
            arr = np.array(cs)  # (seeds, evals)
            rows.append((algo, lib, arr.mean(0), [statistics.pstdev(c) for c in arr.T]))
    steps = list(range(args.eval_every, args.steps + 1, args.eval_every))
    lines = [
        f"Command: `python benchmarks/sample_efficiency.py --seeds {args.seeds} --steps {args.steps} "
        f"--hidden {args.hidden} --lr {args.lr}` ({time.time() - t0:.0f} s). Pendulum-v1, mean (std) over seeds of the "
        "mean return of 10 deterministic evaluation episodes:",
        "",
        "| algo | library | " + " | ".join(f"{s} steps" for s in steps) + " |",
        "|---|---|" + "---|" * len(steps),
        *[
            f"| {a} | {lib} | " + " | ".join(f"{m:.0f} ({sd:.0f})" for m, sd in zip(mean, sds, strict=True)) + " |"
            for a, lib, mean, sds in rows
        ],
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(DOC, "sample-efficiency", table, "## Sample efficiency: the same learning per env step")


if __name__ == "__main__":
    main()
