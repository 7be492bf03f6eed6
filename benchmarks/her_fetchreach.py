"""FetchReach-v4 with HER: hrlkit SAC+HER and DDPG+HER against Stable-Baselines3's `HerReplayBuffer`, success rate
against env steps and training env steps/s, in one run.

Both libraries get the same settings (rl-baselines3-zoo's FetchReach hyperparameters, `hyperparams/sac.yml`, with
256-256 networks, SB3's SAC default, and without the zoo's VecNormalize, which hrlkit's off-policy learners lack):
256-256 ReLU actor and critics, batch 256, replay 1M, 1000 uniformly random env steps before the first update, then one
gradient step per env step, gamma 0.95, tau 0.005, learning rate 1e-3 for every optimizer (SAC: actor, critics,
entropy coefficient; DDPG: actor, critic), HER with k = 4 and the `future` strategy. SAC: two critics, entropy
coefficient tuned from 1.0 (`--sac-entropy-coef-init`) towards -dim(A) = -4. DDPG: one critic, no target smoothing,
Gaussian exploration noise N(0, 0.1) in normalised action units on both sides (SB3's DDPG has none unless given one).

Runs alternate libraries (hrlkit seed 0, SB3 seed 0, hrlkit seed 1, ...), each with one torch thread. Every
`--eval-freq` env steps training stops and both libraries are evaluated by the same function (`hrlkit.evaluate`: 20
deterministic episodes on a separate env, episode k seeded 1_000_000 + seed + k, so both libraries see the same
goals); success is gymnasium-robotics' `is_success` at the last step. Training time is measured around each `learn`
chunk only (evaluation excluded); env steps/s are given over the whole run and over the steps after `learning_starts`
(where every env step also runs one gradient step).

    python benchmarks/her_fetchreach.py                     # sac and ddpg, seeds 0 1 2, 5000 steps -> docs/her.md
    python benchmarks/her_fetchreach.py --quick             # smoke check, under a minute, writes nothing in docs/
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from docwriter import DOCS, write_section
from machine import LoadWatch, versions_line

ENV_ID = "FetchReach-v4"
EVAL_SEED = 1_000_000
DOC = DOCS / "her.md"
LIBRARIES = ("hrlkit", "sb3")
LABEL = {"hrlkit": "hrlkit", "sb3": "SB3"}


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings both libraries train with."""
    return {
        "hidden": list(args.hidden), "batch_size": args.batch_size, "buffer_size": 1_000_000,
        "learning_starts": args.learning_starts, "gamma": 0.95, "tau": 0.005, "lr": args.lr, "train_freq": 1,
        "gradient_steps": 1, "n_sampled_goal": 4, "strategy": "future", "ddpg_noise": 0.1, "torch_threads": 1,
        "sac_entropy_coef_init": args.sac_entropy_coef_init,
    }  # fmt: skip


# ------------------------------------------------------------------------------------------------------- builders
def make_hrlkit(algo: str, seed: int, s: dict[str, Any]):
    import hrlkit

    common = dict(
        seed=seed, verbose=0, tensorboard=False, eval_freq=0, log_interval=10**9, checkpoint_freq=0,
        torch_threads=s["torch_threads"], learning_starts=s["learning_starts"], buffer_size=s["buffer_size"],
        train_freq=s["train_freq"], gradient_steps=s["gradient_steps"], hidden=tuple(s["hidden"]),
        batch_size=s["batch_size"], gamma=s["gamma"], tau=s["tau"], actor_lr=s["lr"], critic_lr=s["lr"],
        her=True, **{"her.strategy": s["strategy"], "her.n_sampled_goal": s["n_sampled_goal"]},
    )  # fmt: skip
    if algo == "sac":
        return hrlkit.SAC(
            ENV_ID, preset=False, entropy_lr=s["lr"], entropy_coef_init=s["sac_entropy_coef_init"], **common
        )
    return hrlkit.DDPG(ENV_ID, preset=False, exploration_noise=s["ddpg_noise"], **common)


def make_sb3(algo: str, seed: int, s: dict[str, Any]):
    import gymnasium as gym
    import torch
    from stable_baselines3 import DDPG, SAC, HerReplayBuffer
    from stable_baselines3.common.noise import NormalActionNoise

    torch.set_num_threads(s["torch_threads"])
    env = gym.make(ENV_ID)
    common = dict(
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": s["n_sampled_goal"], "goal_selection_strategy": s["strategy"]},
        learning_starts=s["learning_starts"], buffer_size=s["buffer_size"], train_freq=s["train_freq"],
        gradient_steps=s["gradient_steps"], batch_size=s["batch_size"], gamma=s["gamma"], tau=s["tau"],
        learning_rate=s["lr"], policy_kwargs={"net_arch": list(s["hidden"])}, seed=seed, device="cpu", verbose=0,
    )  # fmt: skip
    if algo == "sac":
        return SAC("MultiInputPolicy", env, ent_coef=f"auto_{s['sac_entropy_coef_init']}", **common)
    n_actions = env.action_space.shape[0]
    noise = NormalActionNoise(np.zeros(n_actions), s["ddpg_noise"] * np.ones(n_actions))
    return DDPG("MultiInputPolicy", env, action_noise=noise, **common)


# ------------------------------------------------------------------------------------------------------------ run
def one_run(library: str, algo: str, seed: int, args: argparse.Namespace, s: dict[str, Any]) -> dict[str, Any]:
    """Train in chunks of `eval_freq` env steps, evaluating after each chunk; times the chunks only."""
    import gymnasium as gym

    import hrlkit

    model = make_hrlkit(algo, seed, s) if library == "hrlkit" else make_sb3(algo, seed, s)
    eval_env = gym.make(ENV_ID)
    steps, success, returns, chunk_s, eval_s = [], [], [], [], 0.0
    done = 0
    while done < args.steps:
        chunk = min(args.eval_freq, args.steps - done)
        t = time.perf_counter()
        if library == "hrlkit":
            model.learn(done + chunk)  # hrlkit: train until the run has this many env steps in all
        else:
            model.learn(chunk, reset_num_timesteps=False)  # SB3: this many more env steps
        chunk_s.append(time.perf_counter() - t)
        done += chunk
        t = time.perf_counter()
        result = hrlkit.evaluate(model, eval_env, args.eval_episodes, seed=EVAL_SEED + seed)
        eval_s += time.perf_counter() - t
        steps.append(done)
        success.append(result["success_rate"])
        returns.append(result["mean_return"])
    trained = model.env_steps if library == "hrlkit" else model.num_timesteps
    assert trained == args.steps, (library, trained, args.steps)
    # Steps and seconds after learning_starts: the chunks that start at or after it (every step there updates).
    late = [(b - a, c) for a, b, c in zip([0, *steps[:-1]], steps, chunk_s, strict=True) if a >= s["learning_starts"]]
    late_steps, late_s = sum(n for n, _ in late), sum(c for _, c in late)
    eval_env.close()
    if library == "hrlkit":
        model.close()
    else:
        model.get_env().close()
    return {
        "library": library, "algo": algo, "seed": seed, "env_steps": steps, "success_rate": success,
        "mean_return": returns, "chunk_seconds": chunk_s, "eval_seconds": eval_s,
        "sps_total": args.steps / sum(chunk_s),
        "sps_updating": late_steps / late_s if late_s > 0 else float("nan"),
        "load_avg_1min_after": os.getloadavg()[0],
    }  # fmt: skip


# --------------------------------------------------------------------------------------------------------- report
def by(runs: list[dict[str, Any]], algo: str, library: str) -> list[dict[str, Any]]:
    return sorted((r for r in runs if r["algo"] == algo and r["library"] == library), key=lambda r: r["seed"])


def plot(runs: list[dict[str, Any]], algos: list[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(algos), figsize=(5.5 * len(algos), 4), squeeze=False, sharey=True)
    for ax, algo in zip(axes[0], algos, strict=True):
        for library, color in zip(LIBRARIES, ("C0", "C1"), strict=True):
            group = by(runs, algo, library)
            if not group:
                continue
            x = np.array(group[0]["env_steps"])
            y = np.array([r["success_rate"] for r in group])  # (seeds, evals)
            for r in group:
                ax.plot(r["env_steps"], r["success_rate"], color=color, alpha=0.35, lw=1, marker=".")
            ax.fill_between(x, y.min(0), y.max(0), color=color, alpha=0.12)
            ax.plot(x, y.mean(0), color=color, lw=2.2, marker="o", label=f"{LABEL[library]} (mean of {len(group)})")
        ax.axhline(0.95, color="gray", ls=":", lw=1)
        ax.set_title(f"{algo.upper()}+HER, {ENV_ID}")
        ax.set_xlabel("env steps")
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    axes[0][0].set_ylabel("success rate (20 deterministic episodes)")
    fig.text(0.5, 0.005, "thin: one seed each; band: min-max over seeds; dotted: 0.95", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(runs: list[dict[str, Any]], args: argparse.Namespace, s: dict[str, Any], png: str, note: str, wall: float):
    algos = [a for a in args.algos if any(r["algo"] == a for r in runs)]
    cmd = (
        f"python benchmarks/her_fetchreach.py --algos {' '.join(args.algos)} --seeds {' '.join(map(str, args.seeds))} "
        f"--steps {args.steps} --eval-freq {args.eval_freq}"
        + (f" --sac-entropy-coef-init {args.sac_entropy_coef_init:g}" if args.sac_entropy_coef_init != 1.0 else "")
        + (" --quick" if args.quick else "")
    )
    lines = [
        versions_line(),
        "",
        f"Command: `{cmd}` ({wall / 60:.0f} min wall time, one process, one torch thread per run, libraries "
        f"alternating run by run). {note}",
        "",
        f"Settings, the same on both sides: {'-'.join(map(str, s['hidden']))} ReLU networks, batch {s['batch_size']}, "
        f"replay {s['buffer_size']:,}, {s['learning_starts']} random env steps before the first update, then "
        f"{s['gradient_steps']} gradient step per env step, gamma {s['gamma']}, tau {s['tau']}, learning rate "
        f"{s['lr']:g} for every optimizer, HER k = {s['n_sampled_goal']} `{s['strategy']}`; SAC: 2 critics, entropy "
        f"coefficient tuned from {s['sac_entropy_coef_init']:g} towards -4; DDPG: 1 critic, exploration noise "
        f"N(0, {s['ddpg_noise']}). "
        f"Evaluation: {args.eval_episodes} deterministic episodes every {args.eval_freq} env steps on a separate env, "
        "the same episode seeds for both libraries.",
        "",
        f"Success rate: mean over seeds, then each seed in brackets (seeds {', '.join(map(str, args.seeds))}). "
        f"Plot: `{Path(png).resolve().relative_to(Path(__file__).resolve().parents[1])}`.",
        "",
        "| algo | library | " + " | ".join(f"{n} steps" for n in runs[0]["env_steps"]) + " |",
        "|---|---|" + "---|" * len(runs[0]["env_steps"]),
    ]
    for algo in algos:
        for library in LIBRARIES:
            group = by(runs, algo, library)
            if not group:
                continue
            y = np.array([r["success_rate"] for r in group])  # (seeds, evals)
            cells = [f"{y[:, i].mean():.2f} ({' / '.join(f'{v:.2f}' for v in y[:, i])})" for i in range(y.shape[1])]
            lines.append(f"| {algo} | {LABEL[library]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        'Training speed (evaluation excluded), mean over seeds; "updating" is the env steps after learning_starts, '
        "each with one gradient step; the ratio is hrlkit / SB3 of the means, per-seed ratios in brackets.",
        "",
        "| algo | hrlkit steps/s (all) | SB3 steps/s (all) | ratio (all) | hrlkit steps/s (updating) | "
        "SB3 steps/s (updating) | ratio (updating) |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for algo in algos:
        ours, theirs = by(runs, algo, "hrlkit"), by(runs, algo, "sb3")
        if not ours or not theirs:
            continue
        row = [algo]
        for key in ("sps_total", "sps_updating"):
            a, b = np.mean([r[key] for r in ours]), np.mean([r[key] for r in theirs])
            per_seed = " / ".join(f"{x[key] / y[key]:.2f}" for x, y in zip(ours, theirs, strict=False))
            row += [f"{a:.1f}", f"{b:.1f}", f"{a / b:.2f} ({per_seed})"]
        lines.append("| " + " | ".join(row) + " |")
        verdicts.append(goal_verdicts(algo, ours, theirs))
    lines += ["", *verdicts]
    return "\n".join(lines)


def goal_verdicts(algo: str, ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> str:
    steps = ours[0]["env_steps"]
    a = np.array([r["success_rate"] for r in ours]).mean(0)  # (evals,)
    b = np.array([r["success_rate"] for r in theirs]).mean(0)
    reach = next((n for n, v in zip(steps, a, strict=True) if v >= 0.95), None)
    per_seed_reach = [next((n for n, v in zip(steps, r["success_rate"], strict=True) if v >= 0.95), None) for r in ours]
    ahead = sum(x > y for x, y in zip(a, b, strict=True))
    tied = sum(x == y for x, y in zip(a, b, strict=True))
    ratio = np.mean([r["sps_updating"] for r in ours]) / np.mean([r["sps_updating"] for r in theirs])
    met = lambda ok: "**met**" if ok else "**not met**"  # noqa: E731
    seeds = ", ".join("never" if n is None else str(n) for n in per_seed_reach)
    return (
        f"- {algo.upper()}+HER: success >= 0.95 within {steps[-1]} env steps (mean over seeds): "
        f"{met(reach is not None)} ({'first at ' + str(reach) if reach else 'best mean ' + f'{a.max():.2f}'}; "
        f"per seed first at: {seeds}). Ahead of SB3 at every evaluation: {met(ahead == len(steps))} (ahead at "
        f"{ahead}, tied at {tied}, behind at {len(steps) - ahead - tied} of {len(steps)}). >= 1.5x SB3's env steps/s "
        f"(updating): {met(ratio >= 1.5)} ({ratio:.2f}x)."
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algos", nargs="+", default=["sac", "ddpg"], choices=["sac", "ddpg"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--eval-freq", type=int, default=1000)
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--learning-starts", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--sac-entropy-coef-init", type=float, default=1.0, help="SAC's initial entropy coefficient, both")
    p.add_argument("--quick", action="store_true", help="tiny smoke run (< 1 min); writes under runs/, not docs/")
    p.add_argument("--out", default=None, help="JSON of every run (default docs/her_fetchreach.json)")
    p.add_argument("--no-write", action="store_true", help="leave docs/her.md and docs/her_fetchreach.png alone")
    args = p.parse_args()
    if args.quick:
        args.seeds, args.steps, args.eval_freq, args.eval_episodes = args.seeds[:1], 300, 150, 2
        args.learning_starts, args.batch_size, args.no_write = 100, 64, True
    root = Path(__file__).resolve().parents[1]
    scratch = root / "runs" / "her_fetchreach"
    out = Path(args.out) if args.out else (scratch if args.no_write else DOCS) / "her_fetchreach.json"
    png_path = (scratch if args.no_write else DOCS) / "her_fetchreach.png"
    s = settings(args)

    import gymnasium as gym
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    load = LoadWatch()
    t0 = time.time()
    runs: list[dict[str, Any]] = []
    for algo in args.algos:
        for seed in args.seeds:
            for library in LIBRARIES:
                r = one_run(library, algo, seed, args, s)
                runs.append(r)
                print(
                    f"{algo} {library} seed {seed}: success {' '.join(f'{v:.2f}' for v in r['success_rate'])}; "
                    f"{r['sps_total']:.1f} steps/s ({r['sps_updating']:.1f} updating), eval {r['eval_seconds']:.0f} s "
                    f"[{time.time() - t0:.0f} s]",
                    flush=True,
                )
                load.sample()
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps({"settings": s, "args": vars(args), "runs": runs}, indent=1))
    wall = time.time() - t0
    png = plot(runs, args.algos, png_path)
    table = report(runs, args, s, str(png), load.note(), wall)
    out.write_text(json.dumps({"settings": s, "args": vars(args), "runs": runs, "wall_s": wall}, indent=1))
    print(table)
    print(f"wrote {out} and {png}")
    if not args.no_write:
        write_section(DOC, "her-fetchreach", table, "### FetchReach-v4: SAC+HER and DDPG+HER against Stable-Baselines3")


if __name__ == "__main__":
    main()
