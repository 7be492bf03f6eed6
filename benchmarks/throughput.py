"""Training throughput, env steps/s: hrlkit SAC/TD3 against Stable-Baselines3 SAC/TD3, alternating in one run.

Both sides train with the same settings: 256-256 networks, batch 256, one gradient step per env step, replay of 1M,
Adam, learning rates 3e-4 (SAC) and 1e-3 (TD3), Gaussian exploration noise 0.1 for TD3, no evaluation, no
checkpoints, no TensorBoard. Each measurement first runs the warm-up (`learning_starts` random steps plus a few
updates) untimed, then times `--steps` env steps with one update each. Runs alternate ours / SB3 so that a slow spell of
the machine hits both; the table reports the median over `--rounds`.

    python benchmarks/throughput.py                              # full table -> docs/benchmarks.md
    python benchmarks/throughput.py --envs Pendulum-v1 --steps 300 --rounds 1 --no-write   # quick check
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from docwriter import DOCS, write_section

DOC = DOCS / "benchmarks.md"
LR = {"sac": 3e-4, "td3": 1e-3}


def ours(algo: str, env_id: str, warmup: int, steps: int, seed: int) -> float:
    import hrlkit

    cls = {"sac": hrlkit.SAC, "td3": hrlkit.TD3}[algo]
    kwargs = {"actor_lr": LR[algo], "critic_lr": LR[algo]}
    if algo == "sac":
        kwargs["entropy_lr"] = LR[algo]
    model = cls(
        env_id, preset=False, seed=seed, verbose=0, tensorboard=False, hidden=(256, 256), batch_size=256, learning_starts=warmup,
        buffer_size=1_000_000, eval_freq=0, log_interval=10**9, torch_threads=0, **kwargs,
    )  # fmt: skip
    model.learn(warmup + 10)
    t = time.perf_counter()
    model.learn(warmup + 10 + steps)
    return steps / (time.perf_counter() - t)


def sb3(algo: str, env_id: str, warmup: int, steps: int, seed: int) -> float:
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    kwargs = {}
    if algo == "td3":
        import gymnasium as gym

        n = gym.make(env_id).action_space.shape[0]
        kwargs["action_noise"] = NormalActionNoise(np.zeros(n), 0.1 * np.ones(n))
    cls = {"sac": SAC, "td3": TD3}[algo]
    model = cls(
        "MlpPolicy", env_id, learning_rate=LR[algo], batch_size=256, learning_starts=warmup, buffer_size=1_000_000,
        train_freq=1, gradient_steps=1, policy_kwargs={"net_arch": [256, 256]}, seed=seed, device="cpu", verbose=0,
        **kwargs,
    )  # fmt: skip
    model.learn(warmup + 10)
    t = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", nargs="+", default=["Pendulum-v1", "Hopper-v5"])
    p.add_argument("--algos", nargs="+", default=["sac", "td3"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="torch intra-op threads, set for both sides")
    p.add_argument("--steps", type=int, default=1500, help="timed env steps per measurement")
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()

    rows = []
    for env_id in args.envs:
        for algo in args.algos:
            for threads in args.threads:
                torch.set_num_threads(threads)
                a, b = [], []
                for r in range(args.rounds):
                    a.append(ours(algo, env_id, args.warmup, args.steps, seed=r))
                    b.append(sb3(algo, env_id, args.warmup, args.steps, seed=r))
                    print(
                        f"{env_id} {algo} threads={threads} round {r}: ours {a[-1]:.1f} sb3 {b[-1]:.1f} steps/s",
                        flush=True,
                    )
                ra, rb = statistics.median(a), statistics.median(b)
                rows.append((env_id, algo, threads, ra, rb, ra / rb))

    import stable_baselines3

    import hrlkit

    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads max, {len(__import__('os').sched_getaffinity(0))} cores; "
        f"hrlkit {hrlkit.__version__}, stable-baselines3 {stable_baselines3.__version__}, torch {torch.__version__}, "
        f"python {platform.python_version()}.",
        "",
        f"Command: `python benchmarks/throughput.py --steps {args.steps} --warmup {args.warmup} --rounds {args.rounds}`"
        " (median of the rounds; timed steps each do one env step and one gradient step).",
        "",
        "| env | algo | torch threads | hrlkit steps/s | SB3 steps/s | ratio hrlkit/SB3 |",
        "|---|---|---|---|---|---|",
        *[f"| {e} | {al} | {t} | {x:.1f} | {y:.1f} | {x / y:.2f} |" for e, al, t, x, y, _ in rows],
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(DOC, "throughput", table, "## Throughput: hrlkit SAC/TD3 against Stable-Baselines3")


if __name__ == "__main__":
    main()
