"""Prioritized against uniform replay: DQN learning curves on CartPole-v1 across seeds, through `hrlkit sweep`, with an
rliable report.

Task and settings: DQN with the CartPole-v1 preset (hrlkit/presets/CartPole-v1.yaml: 256-256 MLP, batch 64, lr 2.3e-3,
128 gradient steps every 256 env steps, target copied every 128 updates, epsilon 1 -> 0.04 over 8000 steps, replay
100k, 50k env steps), once with `replay.prioritized_replay=false` and once with `true` (the paper's alpha 0.6, beta 0.4
annealed to 1 over the run), same seeds. CartPole is cheap, the preset solves it within the budget, and its reward is
dense but its informative transitions (the pole falling) are rare among the many balanced ones: the case where
replaying large-TD-error transitions more often should speed learning up.

The runs are one sweep (`hrlkit sweep dqn --grid replay.prioritized_replay=false,true --seeds N`, one CPU and one torch
thread per trial); every `--eval-every` env steps each run is evaluated on 10 deterministic episodes (the loop's own
evaluation). The sweep's report (`hrlkit report`: IQM, mean, median of the final evaluation with stratified-bootstrap
intervals, the probability of improvement, IQM curves) goes to the sweep's `report/`; its curves are copied to
docs/per_vs_uniform_cartpole.png. Beside it, the area under the curve (mean evaluation return over all evaluation
points, 500 is the maximum) with the same statistics, since the final return of DQN on CartPole swings between
evaluations.

    python benchmarks/per_vs_uniform.py --seeds 5            # 5 seeds x 2 arms x 50k steps -> docs/benchmarks.md
    python benchmarks/per_vs_uniform.py --seeds 1 --steps 1500 --eval-every 500 --eval-episodes 2 --no-write  # check
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from docwriter import DOCS, write_section
from machine import LoadWatch, versions_line

DOC = DOCS / "benchmarks.md"
PLOT = DOCS / "per_vs_uniform_cartpole.png"
ROOT = Path(__file__).resolve().parents[1]
METRIC = "eval/mean_return"
ARMS = {"prioritized_replay=false": "uniform", "prioritized_replay=true": "PER"}


def auc_table(out: Path, reps: int) -> dict[str, tuple[list[float], tuple[float, float, float], list[int | None]]]:
    """Arm -> (AUC per seed, IQM of the AUC with its interval, env steps of each seed's first evaluation at 500)."""
    from scipy.stats import trim_mean

    from hrlkit.plotting import load_progress, seed_curve
    from hrlkit.report import interval_estimates

    per_arm: dict[str, list[tuple[int, float, int | None]]] = {}
    for run in sorted((out / "runs").iterdir()):
        meta = json.loads((run / "sweep.json").read_text())
        steps, returns = seed_curve(load_progress(run), METRIC, run)
        first = next((int(x) for x, y in zip(steps, returns, strict=True) if y >= 500), None)
        per_arm.setdefault(ARMS[meta["label"]], []).append((meta["seed"], float(returns.mean()), first))
    scores = {arm: np.array([[a] for _, a, _ in sorted(rows)]) for arm, rows in per_arm.items()}
    points, intervals = interval_estimates(scores, lambda m: np.array([trim_mean(m.ravel(), 0.25)]), reps)
    return {
        arm: (
            [a for _, a, _ in sorted(rows)],
            (float(np.ravel(points[arm])[0]), *map(float, np.ravel(intervals[arm]))),
            [f for _, _, f in sorted(rows)],
        )
        for arm, rows in per_arm.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=50_000, help="env steps per run (the preset's budget)")
    p.add_argument("--eval-every", type=int, default=2500)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance (a trial takes one)")
    p.add_argument("--reps", type=int, default=10_000, help="bootstrap resamples of the report")
    p.add_argument(
        "--out", type=Path, default=None, help="the sweep's directory (default: runs/sweeps/per_vs_uniform_TIME)"
    )
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    load = LoadWatch()
    out = args.out or ROOT / "runs" / "sweeps" / f"per_vs_uniform_{time.strftime('%Y%m%d-%H%M%S')}"
    every = str(args.eval_every)
    command = [
        "sweep", "dqn", "--env", "CartPole-v1", "--seeds", str(args.seeds),
        "--grid", "replay.prioritized_replay=false,true", "--total-env-steps", str(args.steps),
        "--eval-freq", every, "--log-interval", every, "--eval-episodes", str(args.eval_episodes),
        "--checkpoint-freq", str(max(args.eval_every, 10_000)), "--cpus", str(args.cpus), "--out", str(out),
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hrlkit.cli", *command], check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    load.sample("after the sweep")
    subprocess.run(
        [sys.executable, "-m", "hrlkit.cli", "report", str(out), "--out", str(out / "report"), "--metric", METRIC,
         "--reps", str(args.reps)], check=True, cwd=ROOT,
    )  # fmt: skip
    report = json.loads((out / "report" / "report.json").read_text())
    auc = auc_table(out, args.reps)
    if not args.no_write:
        shutil.copyfile(out / "report" / "curves.png", PLOT)

    fmt = lambda v: " / ".join(f"{x:.0f}" for x in v)  # noqa: E731
    reached = lambda v: " / ".join("-" if x is None else f"{x / 1000:g}k" for x in v)  # noqa: E731
    ci = lambda t: f"{t[0]:.0f} [{t[1]:.0f}, {t[2]:.0f}]"  # noqa: E731
    rows = []
    for label, arm in ARMS.items():
        group = report["groups"][f"dqn [{label}] @ CartPole-v1"]
        runs = [json.loads((Path(r) / "sweep.json").read_text())["seed"] for r in group["runs"]]
        final = [s for _, s in sorted(zip(runs, group["scores"], strict=True))]
        aggs = group["aggregates"]
        per_seed_auc, auc_iqm, firsts = auc[arm]
        rows.append(
            f"| {arm} | {ci(aggs['IQM'])} | {ci(aggs['mean'])} | {ci(auc_iqm)} | {fmt(final)} | {fmt(per_seed_auc)} "
            f"| {reached(firsts)} |"
        )
    (pair, (p_point, p_low, p_high)), *_ = report["probability_of_improvement"].items()
    cmd = (
        f"python benchmarks/per_vs_uniform.py --seeds {args.seeds} --steps {args.steps} --eval-every {args.eval_every}"
    )
    lines = [
        versions_line(),
        "",
        f"Command: `{cmd}` = `hrlkit {' '.join(command[:-2])}` then `hrlkit report` ({wall / 60:.1f} min wall clock "
        f"for the sweep; seeds 0-{args.seeds - 1}, one CPU and one torch thread per trial). {load.note(timing=False)}",
        "",
        f"![DQN on CartPole-v1, PER vs uniform: IQM and 95% bootstrap interval]({PLOT.name})",
        "",
        f"Evaluation return ({args.eval_episodes} deterministic episodes every {args.eval_every} env steps). Final: "
        "the last evaluation; AUC: the mean evaluation return over all evaluation points. Point estimates with 95 % "
        f"stratified-bootstrap intervals ({args.reps} resamples, rliable); per-seed values in seed order:",
        "",
        "| replay | final, IQM | final, mean | AUC, IQM | final per seed | AUC per seed | first eval at 500, per seed |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Probability of improvement of the final return, {pair}: {p_point:.2f} [{p_low:.2f}, {p_high:.2f}].",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(DOC, "per-vs-uniform", table, "## Prioritized against uniform replay: DQN on CartPole-v1")


if __name__ == "__main__":
    main()
