"""Prioritized Experience Replay's cost against uniform replay: per training run (main figure) and per sampled batch.

(b) Whole DQN training on CartPole-v1, env steps/s with `prioritized_replay=True` against False, alternating in one
process, median over `--rounds`. PER adds work in three places of the loop: a sum- and min-tree write per stored
transition (`on_write`), stratified tree descents and importance weights per sampled batch, and a tree update from the
TD errors after each gradient step. Two configurations:

- `sb3-defaults`: 64-64 MLP, batch 32, one gradient step every 4 env steps (Stable-Baselines3's DQN defaults);
- `preset`: the CartPole-v1 preset (hrlkit/presets/CartPole-v1.yaml): 256-256 MLP, batch 64, 128 gradient steps
  every 256 env steps.

Both use replay 100k and one torch thread; epsilon and learning run as in a normal run, warm-up (`learning_starts`
random steps plus one update round) untimed. The overhead is the extra time per env step, `sps_uniform / sps_per - 1`.

(a) Buffer alone: `ReplayBuffer` (CartPole-sized: 4 float32 obs, Discrete(2)) filled to 100k and 1M entries, with and
without a `PrioritizedSampler` whose priorities are spread (random TD errors written over the whole buffer). Time of
one `sample` (indices, gather, tensors) and, for PER, `sample` + `update_priorities` with new TD errors: median over
`--reps` batches.

    python benchmarks/per_overhead.py                                           # -> docs/benchmarks.md
    python benchmarks/per_overhead.py --steps 600 --rounds 1 --reps 50 --no-write   # quick check
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch
from docwriter import DOCS, write_section
from machine import LoadWatch, versions_line

DOC = DOCS / "benchmarks.md"
CONFIGS = {
    "sb3-defaults": dict(hidden=(64, 64), batch_size=32, train_freq=4, gradient_steps=1, target_update_interval=2500),
    "preset": dict(hidden=(256, 256), batch_size=64, train_freq=256, gradient_steps=128, target_update_interval=128),
}
DESCRIBE = {
    "sb3-defaults": "64-64, batch 32, 1 update / 4 steps",
    "preset": "preset: 256-256, batch 64, 128 updates / 256 steps",
}


# ------------------------------------------------------------------------------------------------- (b) training
def training_sps(config: str, prioritized: bool, warmup: int, steps: int, seed: int) -> float:
    import hrlkit

    cfg = CONFIGS[config]
    model = hrlkit.DQN(
        "CartPole-v1", preset=False, seed=seed, verbose=0, tensorboard=False, eval_freq=0, log_interval=10**9, checkpoint_freq=0,
        torch_threads=1, learning_starts=warmup, buffer_size=100_000, prioritized_replay=prioritized,
        is_weight_anneal_env_steps=warmup + steps, lr=1e-4, **cfg,
    )  # fmt: skip
    # Untimed warm-up: the random steps and the first full update round (lazy allocations, Adam state).
    model.learn(warmup + cfg["train_freq"])
    t = time.perf_counter()
    model.learn(warmup + cfg["train_freq"] + steps)
    sps = steps / (time.perf_counter() - t)
    model.close()
    return sps


# ----------------------------------------------------------------------------------------------------- (a) buffer
def filled_buffer(entries: int, prioritized: bool, rng: np.random.Generator):
    from hrlkit.buffers import ReplayBuffer
    from hrlkit.buffers.prioritized import PrioritizedSampler

    obs_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    sampler = PrioritizedSampler(entries) if prioritized else None
    buf = ReplayBuffer(entries, obs_space, gym.spaces.Discrete(2), sampler=sampler)
    buf.obs[:] = rng.standard_normal(buf.obs.shape, dtype=np.float32)
    buf.next_obs[:] = rng.standard_normal(buf.next_obs.shape, dtype=np.float32)
    buf.actions[:] = rng.integers(0, 2, buf.actions.shape)
    buf.rewards[:] = 1.0
    buf.full, buf.pos = True, 0
    if sampler is not None:
        everything = np.arange(entries)
        sampler.on_write(everything)
        sampler.update_priorities(everything, rng.exponential(1.0, entries))  # spread priorities, as after training
    return buf


def time_batches(fn, reps: int) -> float:
    """Median seconds of `fn()` over `reps` calls, after 5 untimed ones."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def buffer_times(entries: int, batch: int, reps: int) -> tuple[float, ...]:
    """Seconds per call: (uniform sample, PER sample, PER sample + update_priorities, uniform add, PER add)."""
    rng = np.random.default_rng(0)
    uniform, per = filled_buffer(entries, False, rng), filled_buffer(entries, True, rng)
    td = torch.as_tensor(rng.exponential(1.0, batch).astype(np.float32))  # (B,) as the learner hands them over
    row = (np.zeros((1, 4), np.float32), np.zeros(1, np.int64), np.ones(1, np.float32), np.zeros((1, 4), np.float32))

    def per_step() -> None:
        b = per.sample(batch, rng)
        per.update_priorities(b.indices, td)

    out = (
        time_batches(lambda: uniform.sample(batch, rng), reps),
        time_batches(lambda: per.sample(batch, rng), reps),
        time_batches(per_step, reps),
        # one stored transition (one env step with n_envs = 1); PER writes its leaf into both trees
        time_batches(lambda: uniform.add(*row, np.zeros(1, bool)), reps),
        time_batches(lambda: per.add(*row, np.zeros(1, bool)), reps),
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--steps", type=int, default=6000, help="timed env steps per training measurement")
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--entries", nargs="+", type=int, default=[100_000, 1_000_000])
    p.add_argument("--batches", nargs="+", type=int, default=[32, 64, 256])
    p.add_argument("--reps", type=int, default=2000, help="timed batches per buffer measurement")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    load = LoadWatch()

    train_rows = []
    for config in args.configs:
        uni, per = [], []
        for r in range(args.rounds):
            uni.append(training_sps(config, False, args.warmup, args.steps, seed=r))
            per.append(training_sps(config, True, args.warmup, args.steps, seed=r))
            print(f"{config} round {r}: uniform {uni[-1]:.1f}, PER {per[-1]:.1f} env steps/s", flush=True)
            load.sample()
        train_rows.append((config, statistics.median(uni), statistics.median(per)))

    buffer_rows = []
    for entries in args.entries:
        for batch in args.batches:
            u, s, su, add_u, add_p = buffer_times(entries, batch, args.reps)
            buffer_rows.append((entries, batch, u, s, su, add_u, add_p))
            print(f"{entries} entries, batch {batch}: uniform {u * 1e6:.0f} us, PER {s * 1e6:.0f} / {su * 1e6:.0f} us")
    load.sample("end")

    overheads = [u / p - 1 for _, u, p in train_rows]
    # The buffer figures predict the training overhead: per env step, one PER write (add) plus, per gradient step,
    # the extra of a prioritized sample + priority update, times gradient_steps / train_freq.
    micro = {(e, b): (u, su, au, ap) for e, b, u, _, su, au, ap in buffer_rows}
    explained = []
    for config, u_sps, p_sps in train_rows:
        cfg = CONFIGS[config]
        key = (100_000, cfg["batch_size"])
        if key not in micro:
            continue
        u, su, au, ap = micro[key]
        write_us, batch_us = (ap - au) * 1e6, (su - u) * 1e6 * cfg["gradient_steps"] / cfg["train_freq"]
        measured_us = (1 / p_sps - 1 / u_sps) * 1e6
        explained.append(
            f"{DESCRIBE[config]}: measured +{measured_us:.0f} µs per env step; the buffer figures predict "
            f"{write_us:.0f} µs for the PER write of each stored transition plus {batch_us:.0f} µs for prioritized "
            f"sampling and priority updates"
        )
    lines = [
        versions_line(),
        "",
        f"Command: `python benchmarks/per_overhead.py --steps {args.steps} --warmup {args.warmup} --rounds "
        f"{args.rounds} --reps {args.reps}`; one torch thread. {load.note()}",
        "",
        "**Whole DQN training on CartPole-v1** (replay 100k, median of the rounds; overhead = extra time per env step):",
        "",
        "| config | uniform steps/s | PER steps/s | PER overhead |",
        "|---|---|---|---|",
        *[f"| {DESCRIBE[c]} | {u:.1f} | {p:.1f} | {100 * (u / p - 1):+.1f} % |" for c, u, p in train_rows],
        "",
        f"**Against the goal of < 20 %: {'reached' if max(overheads) < 0.20 else 'not reached'}** "
        f"({', '.join(f'{100 * o:+.1f} %' for o in overheads)}).",
        "",
        *([f"Where the extra time goes (100k entries): {'; '.join(explained)}.", ""] if explained else []),
        f"**Buffer alone** (CartPole-sized transitions, median of {args.reps} batches; PER with spread priorities):",
        "",
        "| entries | batch | uniform sample µs | PER sample µs | PER sample + update_priorities µs | ratio PER (both) / "
        "uniform | add one transition µs, uniform / PER |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {e:,} | {b} | {u * 1e6:.0f} | {s * 1e6:.0f} | {su * 1e6:.0f} | {su / u:.1f} | {au * 1e6:.1f} / "
            f"{ap * 1e6:.0f} |"
            for e, b, u, s, su, au, ap in buffer_rows
        ],
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(DOC, "per-overhead", table, "## Prioritized replay: overhead against uniform replay")


if __name__ == "__main__":
    main()
