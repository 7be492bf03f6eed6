"""SAC-Discrete against DQN at equal env steps (CartPole-v1, LunarLander-v3), each with its env preset.

For each env in `--envs`, each learner and each seed, train with the preset's settings (`hrlkit/presets/<env>.yaml`,
sections `sac-discrete` and `dqn`), evaluating `--eval-episodes` deterministic episodes every `--eval-freq` env steps up
to `--steps` env steps (the same for both learners), and report the mean evaluation return at each evaluation (mean
over seeds and each seed). One torch thread, one run at a time, learners alternating seed by seed.

    python benchmarks/sac_discrete_vs_dqn.py --envs CartPole-v1 --seeds 0 1 2 --steps 40000 --out cartpole.json
    python benchmarks/sac_discrete_vs_dqn.py --quick       # 2000 env steps of one seed on CartPole: checks it runs
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hrlkit.algorithms import algorithm_class
from hrlkit.config import PRESET_DIR, load_yaml
from hrlkit.training.callbacks import Callback

LEARNERS = ("sac-discrete", "dqn")


class Curve(Callback):
    def __init__(self) -> None:
        self.points: list[tuple[int, float]] = []

    def on_eval(self, env_steps: int, result: dict[str, float]) -> None:
        self.points.append((env_steps, result["mean_return"]))


def run(env: str, algo: str, seed: int, steps: int, eval_freq: int, eval_episodes: int) -> dict:
    preset = load_yaml(PRESET_DIR / f"{env}.yaml")[algo]
    settings = {**preset.get("run", {}), **preset.get("replay", {}), **preset.get("algo", {})}
    settings.update(eval_freq=eval_freq, eval_episodes=eval_episodes, torch_threads=1, checkpoint_freq=0)
    settings.pop("total_env_steps", None)
    t0 = time.perf_counter()
    model = algorithm_class(algo)(env, preset=False, seed=seed, verbose=0, tensorboard=False, **settings)
    curve = Curve()
    model.learn(steps, callback=curve)
    model.close()
    return {"env": env, "algo": algo, "seed": seed, "curve": curve.points, "seconds": round(time.perf_counter() - t0)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["CartPole-v1"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=40_000)
    p.add_argument("--eval-freq", type=int, default=5000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.envs, args.seeds, args.steps, args.eval_freq, args.eval_episodes = ["CartPole-v1"], [0], 2000, 1000, 2
    torch.set_num_threads(1)
    results = []
    for env in args.envs:
        for seed in args.seeds:
            for algo in LEARNERS:
                results.append(run(env, algo, seed, args.steps, args.eval_freq, args.eval_episodes))
                r = results[-1]
                print(f"{env} {algo} seed {seed} ({r['seconds']} s): {r['curve']}", flush=True)
                if args.out is not None:
                    args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "results": results}))
    for env in args.envs:
        steps = [s for s, _ in next(r for r in results if r["env"] == env)["curve"]]
        print(f"\n{env}: mean evaluation return (each seed in brackets)\n")
        print("| learner | " + " | ".join(f"{s:,}" for s in steps) + " |")
        print("|---|" + "---|" * len(steps))
        for algo in LEARNERS:
            runs = [dict(r["curve"]) for r in results if r["env"] == env and r["algo"] == algo]
            cells = []
            for s in steps:
                values = [c[s] for c in runs if s in c]
                cells.append(f"{sum(values) / len(values):.0f} ({' / '.join(f'{v:.0f}' for v in values)})")
            print(f"| {algo} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
