"""Sample efficiency on the mazes (PointMaze_UMaze-v3 or PointMaze_Medium-v3, HIRO's maze protocol): evaluation
success rate against env steps for HIRO and its ablations, flat TD3, SAC and SAC+HER (hrlkit), and Stable-Baselines3
SAC with HER (the tool a user would pick instead), over several seeds; one plot with 95% intervals and a table.

Every hrlkit run uses the env's preset (`hrlkit/presets/<env>.yaml`, its `hiro`, `sac` or `td3` section) with one
torch thread. Two kinds of rows for the flat learners, labelled: at their own defaults (hrlkit's SAC and TD3:
256-256, batch 256; `sb3-sac-her`: Stable-Baselines3's SAC defaults, 256-256, batch 256, lr 3e-4, HER future k = 4,
but the protocol's warm-up of the preset's learning_starts like every method: SB3's HER refuses its default of 100,
which is shorter than one episode), and `-matched` rows at the HIRO preset's level sizes (64-64, batch 128). SB3 SAC+HER trains on
the same training env (random goals; HER's reward is the env's own sparse `compute_reward`, as SB3 users run it) and is
evaluated on the same fixed far-end goal.

The hrlkit methods run through `hrlkit sweep` (one sweep per method, its seeds as trials, `--jobs` trials at a time
on as many CPUs, in OUT/<method>/); a method whose sweep directory exists is resumed (`hrlkit sweep --resume`:
finished trials stay, interrupted ones continue from their checkpoints). The Stable-Baselines3 rows run one after the
other in this process (they are not hrlkit runs) and are kept when they reached --steps. The table and the plot come
from every run dir found, and `hrlkit report` writes rliable's statistics of the hrlkit runs to OUT/report/.

    python benchmarks/maze_sample_efficiency.py --seeds 3 --steps 30000 --eval-every 5000   # hours on 1 core
    python benchmarks/maze_sample_efficiency.py --env PointMaze_Medium-v3 --seeds 3 --steps 100000
    python benchmarks/maze_sample_efficiency.py --seeds 1 --steps 2000 --eval-every 1000 --no-write   # check
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from docwriter import DOCS, write_section

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--hidden", "64,64", "--batch-size", "128"]  # the flat learners get the HIRO preset's level sizes
METHODS = {
    "hiro": ["hiro"],
    "hiro-no-hindsight": ["hiro", "--hindsight.enabled", "false"],
    "hiro-no-correction": ["hiro", "--relabel", "false"],
    # the task goal folded into the state (HIRO before goal conditioning), with the preset's 10 high-level steps
    "hiro-no-goal-conditioning": [
        "hiro",
        "--goal-conditioned",
        "false",
        "--hindsight.enabled",
        "false",
        "--state-keys",
        "observation,desired_goal",
        "--low-hidden-indices",
        "0,1,4,5",
    ],
    "hiro+adjacency": [
        "hiro",
        "--adjacency.enabled",
        "true",
        "--adjacency.cell-size",
        "0.5",
        "--adjacency.train-freq",
        "5000",
    ],
    # the high level's network size: the U-maze preset's 64-64, the medium maze preset's 256-256
    "hiro-high64": ["hiro", "--high.hidden", "64,64"],
    "hiro-high256": ["hiro", "--high.hidden", "256,256"],
    # 5k env steps of low-level pretraining (random subgoals) before the high level learns
    "hiro-pretrain5k": ["hiro", "--low-pretrain-env-steps", "5000"],
    "td3": ["td3"],
    "sac": ["sac"],
    "sac-her": ["sac", "--her", "true"],
    "td3-matched": ["td3", *SMALL],
    "sac-matched": ["sac", *SMALL],
}
MAZES = {  # env -> (plot file name, docs section, heading)
    "PointMaze_UMaze-v3": (
        "maze_sample_efficiency",
        "maze-sample-efficiency",
        "## Sample efficiency on the U-maze (HIRO's maze protocol)",
    ),
    "PointMaze_Medium-v3": (
        "maze_medium_sample_efficiency",
        "maze-medium-sample-efficiency",
        "## Sample efficiency on the medium maze (HIRO's maze protocol)",
    ),
}
SB3 = {"sb3-sac-her": {}, "sb3-sac-her-matched": {"batch_size": 128, "policy_kwargs": {"net_arch": [64, 64]}}}


def finished(run_dir: Path, steps: int) -> bool:
    """A run left by an earlier call that reached `steps`."""
    import csv

    progress = run_dir / "progress.csv"
    if not progress.exists():
        return False
    with progress.open() as f:
        done = [float(row["time/env_steps"]) for row in csv.DictReader(f) if row.get("time/env_steps")]
    return bool(done) and max(done) >= steps


def sweep_hrlkit(env_id: str, method: str, args: argparse.Namespace, out: Path) -> None:
    """The method's seeds as one `hrlkit sweep` (resumed when its directory exists); its run dirs land in
    out/<method>/runs/."""
    algo, *extra = METHODS[method]
    sweep_dir = out / method
    hrlkit = [sys.executable, "-m", "hrlkit.cli", "sweep"]
    # seeds 0..L-1 that finished as run dirs of the script's earlier versions are kept: the sweep starts at seed L
    legacy = sum(finished(out / f"{method}__{seed}", args.steps) for seed in range(args.seeds))
    if (sweep_dir / "sweep_spec.json").exists():
        cmd = [*hrlkit, "--resume", str(sweep_dir)]
    elif legacy >= args.seeds:
        return
    else:
        cmd = [*hrlkit, algo, "--env", env_id, "--seed", str(legacy), "--seeds", str(args.seeds - legacy)]
        cmd += ["--total-env-steps", str(args.steps)]
        cmd += ["--cpus", str(args.jobs), "--cpus-per-trial", "1", "--max-concurrent", str(args.jobs)]
        cmd += ["--out", str(sweep_dir), "--metric", "eval/success_rate", "--mode", "max"]
        cmd += ["--eval-freq", str(args.eval_every), "--torch-threads", "1", *extra]
    subprocess.run(cmd, check=True, cwd=ROOT)


def seed_of(run_dir: Path) -> int:
    """The seed a run dir's `config.yaml` records (every run this script writes), else the one in its name: a sweep
    trial's `..__seed<N>__..`, or an SB3 run of an earlier version of this script, `<method>__<N>`."""
    from hrlkit.report import run_seed

    if (seed := run_seed(run_dir)) is not None:
        return seed
    name = run_dir.name
    return int(name.split("__seed")[1].split("__")[0]) if "__seed" in name else int(name.rsplit("__", 1)[1])


def run_dirs(out: Path, method: str, steps: int) -> list[Path]:
    """The method's runs that reached `steps`: its sweep's trials, and run dirs `<method>__<seed>` of earlier
    versions of this script (before the sweep), in seed order."""
    found = [*(out / method / "runs").glob("*__seed*"), *out.glob(f"{method}__[0-9]*")]
    return sorted((d for d in found if finished(d, steps)), key=seed_of)


def run_sb3_her(env_id: str, method: str, seed: int, steps: int, every: int, out: Path, reuse: bool) -> Path:
    import csv

    import gymnasium as gym
    import gymnasium_robotics
    import torch
    import yaml
    from stable_baselines3 import SAC, HerReplayBuffer

    import hrlkit
    from hrlkit.envs.make import make_eval_env

    run_dir = out / f"{method}__{seed}"
    if reuse and finished(run_dir, steps):
        return run_dir
    torch.set_num_threads(1)  # as the hrlkit runs (the preset's torch_threads), so parallel jobs do not contend

    gym.register_envs(gymnasium_robotics)
    preset = yaml.safe_load((ROOT / "hrlkit" / "presets" / f"{env_id}.yaml").read_text())["sac"]["run"]
    env = gym.make(env_id, **preset["env_kwargs"])
    eval_env = make_eval_env({"env": env_id, **preset, "wrappers": []})
    model = SAC(
        "MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"}, seed=seed, device="cpu",
        learning_starts=preset["learning_starts"], verbose=0, **SB3[method],
    )  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for step in range(every, steps + 1, every):
        model.learn(every, reset_num_timesteps=False)
        result = hrlkit.evaluate(model, eval_env, preset["eval_episodes"], seed=seed + 1_000_000)
        rows.append({"time/env_steps": step, "eval/success_rate": result.get("success_rate", 0.0)})
    with (run_dir / "progress.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ["time/env_steps", "eval/success_rate"])
        writer.writeheader()
        writer.writerows(rows)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"algo": method, "run": {"env": env_id, "seed": seed}}))
    return run_dir


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=[*METHODS, *SB3], choices=[*METHODS, *SB3])
    p.add_argument("--env", default="PointMaze_UMaze-v3", choices=list(MAZES), help="the maze (its preset file)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=120_000)
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--jobs", type=int, default=1, help="trials of a sweep at a time (each uses one CPU and thread)")
    p.add_argument("--out", default="runs/maze_sample_efficiency")
    p.add_argument("--report-only", action="store_true", help="run nothing: report the runs in --out that finished")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--per-seed", action="store_true", help="a second table with every seed's curve")
    p.add_argument(
        "--versus",
        nargs="*",
        default=["hiro"],
        help="the hierarchical methods whose means the report sets against each flat method's, evaluation by "
        "evaluation (default hiro; none given: no such table)",
    )
    args = p.parse_args()
    out = ROOT / args.out
    t0 = time.time()
    if not args.report_only:
        for method in args.methods:
            if method in SB3:
                for seed in range(args.seeds):
                    run_sb3_her(args.env, method, seed, args.steps, args.eval_every, out, reuse=True)
            else:
                sweep_hrlkit(args.env, method, args, out)
            print(f"{method} done ({time.time() - t0:.0f} s)", flush=True)
    runs = {m: dirs for m in args.methods if (dirs := run_dirs(out, m, args.steps))}
    if not runs:
        raise SystemExit(f"no run in {out} reached {args.steps} env steps")
    report(args, out, runs, t0)


def verdicts(means: dict[str, np.ndarray], steps: list[int], versus: list[str]) -> list[str]:
    """Each evaluation's verdict of each method in `versus` (hierarchical ones) against every flat method's mean:
    ahead, tied or behind, with both means; nothing for a method in `versus` without finished runs."""
    flat = [m for m in means if not m.startswith("hiro")]
    lines = []
    for ours in versus:
        if ours in means and flat:
            lines += verdict_table(means, steps, ours, flat)
    return lines


def verdict_table(means: dict[str, np.ndarray], steps: list[int], versus: str, flat: list[str]) -> list[str]:
    """One method's table of `verdicts`: a row per flat method, a cell per evaluation, and the tally."""
    lines = [
        "",
        f"Per evaluation, `{versus}`'s mean against each flat method's (ahead / tied / behind, and the two means):",
        "",
        "| | " + " | ".join(f"{s // 1000}k" for s in steps) + " | ahead / tied / behind |",
        "|---|" + "---|" * len(steps) + "---|",
    ]
    for method in flat:
        cells, count = [], {"ahead": 0, "tied": 0, "behind": 0}
        for ours, theirs in zip(means[versus], means[method], strict=True):
            word = "tied" if abs(ours - theirs) < 1e-9 else ("ahead" if ours > theirs else "behind")
            count[word] += 1
            cells.append(word if word == "tied" else f"{word} ({ours:.2f} / {theirs:.2f})")
        tally = f"{count['ahead']} / {count['tied']} / {count['behind']}"
        lines.append(f"| against {method} | " + " | ".join(cells) + f" | {tally} |")
    return lines


def report(args: argparse.Namespace, out: Path, runs: dict[str, list[Path]], t0: float) -> None:
    from hrlkit.plotting import load_progress, plot_learning_curves

    name, section, heading = MAZES[args.env]
    png_path = (out if args.no_write else DOCS) / f"{name}.png"
    labels = {d: method for method, dirs in runs.items() for d in dirs}  # hiro and its ablation share `algo: hiro`
    png = plot_learning_curves(list(labels), png_path, "eval/success_rate", labels)
    steps = list(range(args.eval_every, args.steps + 1, args.eval_every))
    if args.report_only:
        how = " --report-only` (a report of the runs in --out that reached the last step)"
    else:
        how = f" --jobs {args.jobs}` ({time.time() - t0:.0f} s on {os.cpu_count()} cores, runs of earlier calls not counted)"
    flags = " --per-seed" if args.per_seed else ""
    if args.versus != ["hiro"]:
        flags += " --versus " + " ".join(args.versus)
    lines = [
        f"Command: `python benchmarks/maze_sample_efficiency.py --env {args.env} --methods {' '.join(args.methods)} "
        f"--seeds {args.seeds} --steps {args.steps} --eval-every {args.eval_every}{flags}{how}. Evaluation success "
        f"rate (10 episodes, fixed far-end goal): mean over the seeds every {args.eval_every // 1000}k env steps, and "
        f"each seed's last evaluation. Plot (mean and 95% interval): `docs/{png.name}`.",
        "",
        "| method | seeds | " + " | ".join(f"{s // 1000}k" for s in steps) + " | last, per seed |",
        "|---|---|" + "---|" * len(steps) + "---|",
    ]
    means, per_seed = {}, []
    for method, dirs in runs.items():
        curves = []
        for d in dirs:
            prog = load_progress(d)
            x, y = prog["time/env_steps"], prog["eval/success_rate"]
            ok = ~np.isnan(y)
            curves.append(np.interp(steps, x[ok], y[ok]))
            per_seed.append(f"| {method} | {seed_of(d)} | " + " | ".join(f"{v:.1f}" for v in curves[-1]) + " |")
        means[method] = mean = np.mean(curves, axis=0)
        last = " / ".join(f"{c[-1]:.1f}" for c in curves)
        lines.append(f"| {method} | {len(dirs)} | " + " | ".join(f"{v:.2f}" for v in mean) + f" | {last} |")
    if args.per_seed:  # every run's curve
        head = "| method | seed | " + " | ".join(f"{s // 1000}k" for s in steps) + " |"
        lines += ["", "Each seed:", "", head, "|---|---|" + "---|" * len(steps), *per_seed]
    lines += verdicts(means, steps, args.versus)
    table = "\n".join(lines)
    print(table)
    hrlkit_runs = [str(d) for m, dirs in runs.items() if m not in SB3 for d in dirs]
    if hrlkit_runs:  # rliable's intervals, performance profiles and P(X > Y) of the hrlkit runs
        report_cmd = [sys.executable, "-m", "hrlkit.cli", "report", *hrlkit_runs, "--out", str(out / "report")]
        subprocess.run([*report_cmd, "--metric", "eval/success_rate"], check=True, cwd=ROOT)
    if not args.no_write:
        for doc in (DOCS / "benchmarks.md", DOCS / "hiro.md"):
            write_section(doc, section, table, heading)


if __name__ == "__main__":
    main()
