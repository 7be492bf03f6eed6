"""Prioritized against uniform replay: DQN learning curves on CartPole-v1 across seeds, with 95% intervals.

Task and settings: DQN with the CartPole-v1 preset (hrlkit/presets/CartPole-v1.yaml: 256-256 MLP, batch 64, lr 2.3e-3,
128 gradient steps every 256 env steps, target copied every 128 updates, epsilon 1 -> 0.04 over 8000 steps, replay
100k, 50k env steps), once with `prioritized_replay=False` and once with `True` (the paper's alpha 0.6, beta 0.4
annealed to 1 over the run), same seeds. CartPole is cheap, the preset solves it within the budget, and its reward is
dense but its informative transitions (the pole falling) are rare among the many balanced ones: the case where
replaying large-TD-error transitions more often should speed learning up.

Every `--eval-every` env steps each run is evaluated on 10 deterministic episodes (the loop's own evaluation). The
curves are the mean across seeds with a 95% Student-t interval (`hrlkit.plotting.aggregate`), plotted into
docs/per_vs_uniform_cartpole.png. `hrlkit.plotting.plot_learning_curves` is not used directly: it groups runs by
(algo, env) from their config, and both arms here are `dqn` on CartPole-v1, so they would merge into one curve.
The table gives the final evaluation and the area under the curve (mean evaluation return over all evaluation
points, i.e. the area divided by the run length; 500 is the maximum).

Runs go to `--run-root` (runs/ is git-ignored), `--jobs` at a time, each with one torch thread.

    python benchmarks/per_vs_uniform.py                          # 3 seeds x 2 arms x 50k steps -> docs/benchmarks.md
    python benchmarks/per_vs_uniform.py --seeds 1 --steps 1500 --eval-every 500 --eval-episodes 2 --no-write  # check
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
from docwriter import DOCS, write_section
from machine import LoadWatch, versions_line

DOC = DOCS / "benchmarks.md"
PLOT = DOCS / "per_vs_uniform_cartpole.png"
ROOT = Path(__file__).resolve().parents[1]
METRIC = "eval/mean_return"
ARMS = {False: "uniform", True: "PER"}


def preset_overrides() -> dict:
    from hrlkit.config import PRESET_DIR, load_yaml

    preset = load_yaml(PRESET_DIR / "CartPole-v1.yaml")["dqn"]
    return {**preset["run"], **preset["algo"]}


def train(job: tuple[bool, int, int, int, int, str]) -> tuple[bool, int, str, float]:
    """One run; returns (prioritized, seed, run dir, seconds)."""
    prioritized, seed, steps, eval_every, eval_episodes, run_dir = job
    import hrlkit

    kwargs = preset_overrides()
    kwargs.update(
        total_env_steps=steps, eval_freq=eval_every, eval_episodes=eval_episodes, log_interval=eval_every,
        checkpoint_freq=0, save_replay_buffer=False, torch_threads=1, prioritized_replay=prioritized, seed=seed,
    )  # fmt: skip
    t = time.perf_counter()
    model = hrlkit.DQN("CartPole-v1", preset=False, run_dir=run_dir, verbose=0, tensorboard=False, **kwargs)
    model.learn()
    model.close()
    seconds = time.perf_counter() - t
    print(f"{ARMS[prioritized]} seed {seed}: {seconds:.0f} s -> {run_dir}", flush=True)
    return prioritized, seed, run_dir, seconds


def curves(run_dirs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(eval env steps (E,), returns (seeds, E)): every run evaluates at the same env steps."""
    from hrlkit.plotting import load_progress, seed_curve

    per_seed = [seed_curve(load_progress(d), METRIC, Path(d)) for d in run_dirs]
    steps = per_seed[0][0]
    for x, _ in per_seed:
        assert np.array_equal(x, steps), "runs evaluated at different env steps"
    return steps, np.stack([y for _, y in per_seed])


def interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95% Student-t interval across seeds (0 for one seed)."""
    from hrlkit.plotting import t_quantile_975

    n = len(values)
    half = t_quantile_975(n - 1) * values.std(ddof=1) / math.sqrt(n) if n > 1 else 0.0
    return float(values.mean()), float(half)


def plot(results: dict[bool, tuple[np.ndarray, np.ndarray]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hrlkit.plotting import aggregate

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for prioritized, (steps, returns) in results.items():
        mean, low, high = aggregate([(steps, r) for r in returns], steps)  # (E,) each
        n = len(returns)
        (line,) = ax.plot(steps, mean, marker="o", markersize=3, label=f"DQN, {ARMS[prioritized]} replay ({n} seeds)")
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_title("CartPole-v1, DQN preset: prioritized vs uniform replay")
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return (10 episodes), mean and 95% CI")
    ax.set_ylim(0, 520)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=50_000, help="env steps per run (the preset's budget)")
    p.add_argument("--eval-every", type=int, default=2500)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--jobs", type=int, default=2, help="runs in parallel, one torch thread each")
    p.add_argument("--run-root", type=Path, default=ROOT / "runs" / "per_vs_uniform")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    load = LoadWatch()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    jobs = [
        (
            prio,
            seed,
            args.steps,
            args.eval_every,
            args.eval_episodes,
            str(args.run_root / stamp / ARMS[prio] / str(seed)),
        )
        for seed in range(args.seeds)
        for prio in (False, True)
    ]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        done = []
        for result in pool.imap_unordered(train, jobs):
            done.append(result)
            load.sample()
    wall = time.perf_counter() - t0

    results, rows = {}, []
    for prio in (False, True):
        dirs = [d for pr, _, d, _ in sorted(done, key=lambda r: r[1]) if pr == prio]
        steps, returns = curves(dirs)  # (E,), (seeds, E)
        results[prio] = (steps, returns)
        seconds = np.mean([s for pr, _, _, s in done if pr == prio])
        final, auc = returns[:, -1], returns.mean(axis=1)  # (seeds,) each
        first_500 = [next((int(x) for x, y in zip(steps, r, strict=True) if y >= 500), None) for r in returns]
        rows.append((ARMS[prio], interval(final), interval(auc), final, auc, first_500, seconds))
    plot(results, args.run_root / stamp / PLOT.name if args.no_write else PLOT)

    fmt = lambda v: " / ".join(f"{x:.0f}" for x in v)  # noqa: E731
    reached = lambda v: " / ".join("-" if x is None else f"{x / 1000:g}k" for x in v)  # noqa: E731
    lines = [
        versions_line(),
        "",
        f"Command: `python benchmarks/per_vs_uniform.py --seeds {args.seeds} --steps {args.steps} --eval-every "
        f"{args.eval_every} --eval-episodes {args.eval_episodes} --jobs {args.jobs}` ({wall / 60:.1f} min wall clock; "
        f"seeds 0-{args.seeds - 1}, one torch thread per run). {load.note(timing=False)}",
        "",
        f"![DQN on CartPole-v1, PER vs uniform]({PLOT.name})",
        "",
        f"Evaluation return ({args.eval_episodes} deterministic episodes every {args.eval_every} env steps; mean ± "
        "95% t-interval across seeds, per-seed values after it; AUC = mean evaluation return over all evaluation "
        "points):",
        "",
        "| replay | final return | AUC | final per seed | AUC per seed | first eval at 500, per seed | s per run |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {name} | {f[0]:.0f} ± {f[1]:.0f} | {a[0]:.0f} ± {a[1]:.0f} | {fmt(fv)} | {fmt(av)} | {reached(r5)} | "
            f"{sec:.0f} |"
            for name, f, a, fv, av, r5, sec in rows
        ],
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(DOC, "per-vs-uniform", table, "## Prioritized against uniform replay: DQN on CartPole-v1")


if __name__ == "__main__":
    main()
