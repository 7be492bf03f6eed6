"""Bit-flipping (the HER paper's task, Andrychowicz et al. 2017, Section 4.1): the largest number of bits that DQN with
HER solves within a fixed budget of env steps, and the largest that DQN alone solves.

For each n in `--bits` and each learner (DQN+HER with future / k = 4, and DQN alone, the same settings otherwise),
train on `hrlkit/BitFlipping-v0` (n-step episodes, reward -1 until the state equals the goal) for at most `--budget`
env steps, evaluating 50 deterministic episodes every `--eval-freq` env steps, and stop at the first evaluation with
success >= 0.9 (`StopOnReward` on `success_rate`). "Solved" = such an evaluation within the budget. One torch thread,
one run at a time. Results go to a JSON file (`--out`) and a Markdown table on stdout.

    python benchmarks/bit_flipping.py --bits 5 10 15 20 25 30 40 50 --budget 20000 --out bit_flipping.json
    python benchmarks/bit_flipping.py --quick          # n = 5 and 8, 2000 steps: checks that the script runs
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import hrlkit
from hrlkit.training.callbacks import StopOnReward

SETTINGS = {
    "hidden": (256, 256),
    "lr": 1e-3,
    "batch_size": 128,
    "gamma": 0.95,
    "buffer_size": 1_000_000,
    "learning_starts": 500,
    "target_update_interval": 250,
    "exploration_initial": 0.5,
    "exploration_final": 0.02,
    "exploration_env_steps": 5000,
    "eval_episodes": 50,
    "torch_threads": 1,
}


def run(n_bits: int, her: bool, budget: int, eval_freq: int, seed: int) -> dict:
    t0 = time.perf_counter()
    model = hrlkit.DQN(
        "hrlkit/BitFlipping-v0", preset=False, env_kwargs={"n_bits": n_bits}, seed=seed, verbose=0, tensorboard=False, her=her,
        eval_freq=eval_freq, **SETTINGS,
    )  # fmt: skip
    curve: list[tuple[int, float]] = []

    class Record(StopOnReward):
        def on_eval(self, env_steps: int, result: dict[str, float]) -> bool | None:
            curve.append((env_steps, result["success_rate"]))
            return super().on_eval(env_steps, result)

    model.learn(budget, callback=Record(0.9, key="success_rate"))
    model.close()
    return {
        "n_bits": n_bits, "her": her, "seed": seed, "solved": model.state.stopped,
        "env_steps": model.env_steps, "curve": curve, "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bits", type=int, nargs="+", default=[5, 10, 15, 20, 25, 30, 40, 50])
    p.add_argument("--budget", type=int, default=20_000, help="env steps per run at most")
    p.add_argument("--eval-freq", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.bits, args.budget, args.eval_freq = [5, 8], 2000, 1000
    torch.set_num_threads(1)
    results = []
    for n in args.bits:
        for her in (True, False):
            results.append(run(n, her, args.budget, args.eval_freq, args.seed))
            r = results[-1]
            print(f"n={n:3d} {'DQN+HER' if her else 'DQN    '} solved={r['solved']} at {r['env_steps']} env steps "
                  f"({r['seconds']} s); curve {r['curve']}", flush=True)  # fmt: skip
            if args.out is not None:
                args.out.write_text(json.dumps({"settings": SETTINGS, "budget": args.budget, "results": results}))
    print("\n| bits | DQN+HER: env steps to success >= 0.9 | DQN: env steps to success >= 0.9 |\n|---|---|---|")
    for n in args.bits:
        cells = []
        for her in (True, False):
            r = next(x for x in results if x["n_bits"] == n and x["her"] == her)
            best = max((s for _, s in r["curve"]), default=0.0)
            cells.append(f"{r['env_steps']:,}" if r["solved"] else f"not in {args.budget:,} (best {best:.2f})")
        print(f"| {n} | {cells[0]} | {cells[1]} |")
    solved = {her: [n for n in args.bits if any(r["solved"] for r in results if r["n_bits"] == n and r["her"] == her)]
              for her in (True, False)}  # fmt: skip
    print(f"\nlargest solved: DQN+HER {max(solved[True], default=None)}, DQN {max(solved[False], default=None)}")


if __name__ == "__main__":
    main()
