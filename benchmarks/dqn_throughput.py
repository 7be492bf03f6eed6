"""DQN training throughput, env steps/s: hrlkit DQN against Stable-Baselines3 DQN, alternating in one run.

Both sides train the same network on the same env with the same batch and update cadence:

- CartPole-v1 with Stable-Baselines3's DQN defaults: 64-64 MLP, batch 32, Adam lr 1e-4, one gradient step every 4 env
  steps, replay 1M, Huber loss, gradients clipped to norm 10, target network copied every 10000 env steps in SB3,
  which is every 2500 updates in ours (our `target_update_interval` counts updates).
- ALE/Pong-v5 through the same preprocessing on both sides: `hrlkit.envs.make.make_env("ALE/Pong-v5",
  env_kwargs={"frameskip": 1}, wrappers=("atari",))` (no-op starts, frame skip 4 with max-pooling, 84x84 grayscale,
  4 stacked frames: uint8 (4, 84, 84)). SB3 gets an instance of that env, ours makes the same env from the same
  arguments. SB3's "CnnPolicy" is the Nature CNN (512 features) plus a linear head, which is ours with `hidden=()` and
  the `nature_cnn` encoder. Batch 32, one gradient step every 4 env steps, replay 50k on both sides, target copied
  every 1000 env steps (250 updates), no reward clipping on either side.

Epsilon is held at 0.05 on both sides during the measurement, so both take the same share of random actions (SB3 skips
the network on a random action, ours always runs it). Each measurement first runs the warm-up (`--warmup` random
steps, then a few updates) untimed, then times `--steps` env steps. Runs alternate ours / SB3 so that a slow spell of
the machine hits both; the table reports the median over `--rounds`. Both sides get the same torch thread count
(`torch.set_num_threads`) in each row.

After the table the script profiles one hrlkit run per env (cProfile, one thread) and reports where its time goes.

    python benchmarks/dqn_throughput.py                                   # full table -> docs/benchmarks.md
    python benchmarks/dqn_throughput.py --steps 300 --pong-steps 100 --warmup 200 --rounds 1 --no-write  # quick check
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from typing import Any

import torch
from docwriter import DOCS, write_section
from machine import LoadWatch, versions_line

DOC = DOCS / "benchmarks.md"
PONG_KWARGS: dict[str, Any] = {"env_kwargs": {"frameskip": 1}, "wrappers": ("atari",)}
PONG_BUFFER = 50_000
CARTPOLE_BUFFER = 1_000_000
EPSILON = 0.05


def pong_env():
    from hrlkit.envs.make import make_env

    return make_env("ALE/Pong-v5", **PONG_KWARGS)


def make_ours(env_id: str, warmup: int, threads: int, seed: int):
    import hrlkit

    common = dict(
        seed=seed, verbose=0, tensorboard=False, eval_freq=0, log_interval=10**9, checkpoint_freq=0,
        torch_threads=threads, learning_starts=warmup, batch_size=32, lr=1e-4, train_freq=4, gradient_steps=1,
        exploration_initial=EPSILON, exploration_final=EPSILON, max_grad_norm=10.0, loss="huber",
    )  # fmt: skip
    if env_id == "CartPole-v1":
        return hrlkit.DQN(
            env_id,
            preset=False,
            hidden=(64, 64),
            buffer_size=CARTPOLE_BUFFER,
            target_update_interval=10_000 // 4,
            **common,
        )
    return hrlkit.DQN(
        env_id, preset=False, hidden=(), encoder="nature_cnn", buffer_size=PONG_BUFFER, target_update_interval=1_000 // 4,
        clip_rewards=False, **PONG_KWARGS, **common,
    )  # fmt: skip


def ours(env_id: str, warmup: int, steps: int, threads: int, seed: int) -> float:
    model = make_ours(env_id, warmup, threads, seed)
    model.learn(warmup + 10)
    t = time.perf_counter()
    model.learn(warmup + 10 + steps)
    sps = steps / (time.perf_counter() - t)
    model.close()
    return sps


def sb3(env_id: str, warmup: int, steps: int, seed: int) -> float:
    from stable_baselines3 import DQN

    common = dict(
        learning_rate=1e-4, batch_size=32, learning_starts=warmup, train_freq=4, gradient_steps=1, tau=1.0,
        exploration_initial_eps=EPSILON, exploration_final_eps=EPSILON, max_grad_norm=10.0, seed=seed, device="cpu",
        verbose=0,
    )  # fmt: skip
    if env_id == "CartPole-v1":
        model = DQN(
            "MlpPolicy", env_id, buffer_size=CARTPOLE_BUFFER, target_update_interval=10_000,
            policy_kwargs={"net_arch": [64, 64]}, **common,
        )  # fmt: skip
    else:
        model = DQN("CnnPolicy", pong_env(), buffer_size=PONG_BUFFER, target_update_interval=1_000, **common)
    model.learn(warmup + 10)
    t = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    sps = steps / (time.perf_counter() - t)
    model.get_env().close()
    return sps


# --------------------------------------------------------------------------------------------------------- profile
# (label, file suffix, function name): cumulative time of each, as a share of the timed `learn` call.
PROFILE_PARTS = (
    ("env step", "gymnasium/vector/sync_vector_env.py", "step"),
    ("acting (Q forward, epsilon-greedy)", "hrlkit/agents/flat.py", "act"),
    ("replay write", "hrlkit/buffers/replay.py", "add"),
    ("replay sample", "hrlkit/buffers/replay.py", "sample"),
    ("TD target", "hrlkit/learners/dqn.py", "target"),
    ("loss forward incl. TD target", "hrlkit/learners/dqn.py", "critic_loss"),
    ("backward", "torch/_tensor.py", "backward"),
    ("grad clip", "torch/nn/utils/clip_grad.py", "clip_grad_norm_"),
    ("Adam step", "torch/optim/optimizer.py", "wrapper"),
    ("whole update", "hrlkit/agents/flat.py", "update"),
)


def profile_ours(env_id: str, warmup: int, steps: int) -> tuple[float, list[tuple[str, float]]]:
    """Profile one timed hrlkit run at one thread: (total seconds, [(part, share of total)])."""
    model = make_ours(env_id, warmup, threads=1, seed=0)
    model.learn(warmup + 10)
    prof = cProfile.Profile()
    prof.enable()
    model.learn(warmup + 10 + steps)
    prof.disable()
    model.close()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = next(ct for (f, _, fn), (_, _, _, ct, _) in stats.items() if fn == "learn" and f.endswith("algorithms.py"))
    parts = []
    for label, suffix, name in PROFILE_PARTS:
        ct = max((v[3] for (f, _, fn), v in stats.items() if fn == name and f.endswith(suffix)), default=0.0)
        parts.append((label, ct / total))
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return total, parts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", nargs="+", default=["CartPole-v1", "ALE/Pong-v5"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="torch intra-op threads, set for both sides")
    p.add_argument("--steps", type=int, default=5000, help="timed env steps per CartPole measurement")
    p.add_argument("--pong-steps", type=int, default=1500, help="timed env steps per Pong measurement")
    p.add_argument("--warmup", type=int, default=1000, help="untimed random env steps (learning_starts)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()

    load = LoadWatch()
    rows = []
    for env_id in args.envs:
        steps = args.steps if env_id == "CartPole-v1" else args.pong_steps
        for threads in args.threads:
            a, b = [], []
            for r in range(args.rounds):
                a.append(ours(env_id, args.warmup, steps, threads, seed=r))
                torch.set_num_threads(threads)
                b.append(sb3(env_id, args.warmup, steps, seed=r))
                print(f"{env_id} threads={threads} round {r}: ours {a[-1]:.1f} sb3 {b[-1]:.1f} steps/s", flush=True)
                load.sample()
            ra, rb = statistics.median(a), statistics.median(b)
            rows.append((env_id, threads, ra, rb))

    profiles = []
    if not args.no_profile:
        for env_id in args.envs:
            steps = args.steps if env_id == "CartPole-v1" else args.pong_steps
            total, parts = profile_ours(env_id, args.warmup, steps)
            profiles.append((env_id, steps, total, parts))
        load.sample("after profiling")

    ratios = [x / y for _, _, x, y in rows]
    lines = [
        versions_line(),
        "",
        f"Command: `python benchmarks/dqn_throughput.py --steps {args.steps} --pong-steps {args.pong_steps} "
        f"--warmup {args.warmup} --rounds {args.rounds} --threads {' '.join(map(str, args.threads))}` (median of the "
        f"rounds; CartPole replay {CARTPOLE_BUFFER:,} and Pong replay {PONG_BUFFER:,} on both sides, epsilon fixed "
        f"at {EPSILON}). {load.note()}",
        "",
        "| env | torch threads | hrlkit steps/s | SB3 steps/s | ratio hrlkit/SB3 |",
        "|---|---|---|---|---|",
        *[f"| {e} | {t} | {x:.1f} | {y:.1f} | {x / y:.2f} |" for e, t, x, y in rows],
        "",
        f"**Against the goal of 2.0x: {'reached' if min(ratios) >= 2.0 else 'not reached'}** "
        f"(ratios {min(ratios):.2f}-{max(ratios):.2f}).",
    ]
    for env_id, steps, total, parts in profiles:
        shares = ", ".join(f"{label} {100 * s:.0f} %" for label, s in parts)
        lines += [
            "",
            f"Where an hrlkit {env_id} run spends its time (cProfile, 1 thread, {steps} timed env steps, "
            f"{total:.1f} s under the profiler; parts nest: the whole update contains the sample, loss forward, backward, "
            f"clip and Adam step): {shares}.",
        ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(DOC, "dqn-throughput", table, "## DQN throughput: hrlkit against Stable-Baselines3")


if __name__ == "__main__":
    main()
