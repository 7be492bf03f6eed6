"""On-policy training throughput, env steps/s: hrlkit PPO/TRPO against Stable-Baselines3 PPO and sb3-contrib TRPO.

Both sides train the same networks with the same rollout and update sizes: separate policy and value MLPs of 64-64
tanh units with orthogonal initialisation (SB3's `MlpPolicy`; ours with `hidden=(64, 64)`, not shared), a
state-independent Gaussian log-std (Hopper) or a categorical head (CartPole), the same n_envs, n_steps, batch size,
epochs (PPO) or critic updates and conjugate-gradient steps (TRPO), learning rate, gamma and GAE lambda, advantages
standardised, PPO's clip range 0.2, value coefficient 0.5, gradient norm clip 0.5 and Adam epsilon 1e-5 (SB3 gets
`optimizer_kwargs={"eps": 1e-5}`), no observation or reward normalisation on either side, no evaluation, no
checkpoints, no TensorBoard, no console output. SB3 runs its envs in a `DummyVecEnv` (`make_vec_env`), ours in
Gymnasium's `SyncVectorEnv`; both step the sub-envs one after the other in the same process.

The cases (`--cases`; rollout = n_envs x n_steps env steps):

- `cartpole-ppo-zoo`: rl-baselines3-zoo's tuned CartPole PPO: 8 envs x 32 steps, one minibatch of 256, 20 epochs.
- `cartpole-ppo-default`: SB3's PPO defaults: 1 env x 2048 steps, minibatches of 64, 10 epochs.
- `hopper-ppo`: SB3's defaults (CleanRL's MuJoCo PPO): 1 env x 2048 steps, minibatches of 64, 10 epochs.
- `cartpole-trpo`: the zoo's CartPole TRPO: 2 envs x 512 steps, critic minibatch 512, 20 critic passes, 15 CG steps
  with damping 1e-3.
- `hopper-trpo`: the zoo's MuJoCo TRPO: 2 envs x 1024 steps, critic minibatches of 128, 20 critic passes, 25 CG steps
  with damping 0.1.

What counts: the wall clock of one `learn()` call that takes `--steps` env steps (rounded up to whole rollouts, so both
sides collect and update exactly as often), after an untimed `learn()` of `--warmup` env steps (at least one rollout
and its update) on the same model. Collection, the updates and each library's own bookkeeping are all inside. Each
round builds a fresh model per side (seed = round) and runs ours, then SB3, alternating, so that a slow spell of the
machine hits both; both sides run with the same torch thread count (`--threads`, default 1). The table reports the
median steps/s of each side and the median over rounds of the per-round ratio hrlkit/SB3.

After the table the script profiles one hrlkit run per case (cProfile, the same thread count) and reports where its
time goes.

    python benchmarks/on_policy_throughput.py                                      # full table -> docs/benchmarks.md
    python benchmarks/on_policy_throughput.py --rounds 5 --no-write --out onp.json # table and JSON only
    python benchmarks/on_policy_throughput.py --quick                              # < 1 min smoke run, writes nothing

`--quick` shrinks every rollout to at most 256 env steps (n_steps divided, batch capped at the rollout), times one
rollout after a one-rollout warm-up, runs one round, skips the profile and never writes the doc: it checks that the
script runs, its figures are not the benchmark.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import math
import os
import pstats
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # docwriter, machine: also when imported from elsewhere
from docwriter import DOCS, write_section  # noqa: E402
from machine import LoadWatch, versions_line  # noqa: E402

DOC = DOCS / "benchmarks.md"
HIDDEN = (64, 64)
QUICK_ROLLOUT = 256  # env steps per rollout at most in --quick


@dataclass(frozen=True)
class Case:
    """One benchmark setting, shared by both sides. `algo_kwargs` use hrlkit's names; `sb3_kwargs` maps them."""

    name: str
    env_id: str
    algo: str  # "ppo" or "trpo"
    n_envs: int
    n_steps: int
    batch_size: int
    updates: int  # PPO: n_epochs; TRPO: n_critic_updates
    extra: dict[str, Any] = field(default_factory=dict)  # same name on both sides (gamma, gae_lambda, cg_*)
    learning_rate: float = 3e-4

    @property
    def rollout(self) -> int:
        return self.n_envs * self.n_steps

    def describe(self) -> str:
        what = "epochs" if self.algo == "ppo" else "critic passes"
        text = f"{self.n_envs} x {self.n_steps} steps, batch {self.batch_size}, {self.updates} {what}"
        if self.algo == "trpo":
            text += f", {self.extra['cg_max_steps']} CG steps"
        return text

    def quick(self) -> Case:
        """The same case with the rollout shrunk to at most QUICK_ROLLOUT env steps (for --quick)."""
        n_steps = max(1, min(self.n_steps, QUICK_ROLLOUT // self.n_envs))
        batch = min(self.batch_size, self.n_envs * n_steps)
        return dataclasses.replace(self, n_steps=n_steps, batch_size=batch)


CASES = {
    c.name: c
    for c in (
        Case("cartpole-ppo-zoo", "CartPole-v1", "ppo", 8, 32, 256, 20,
             {"gamma": 0.98, "gae_lambda": 0.8}, learning_rate=1e-3),
        Case("cartpole-ppo-default", "CartPole-v1", "ppo", 1, 2048, 64, 10),
        Case("hopper-ppo", "Hopper-v5", "ppo", 1, 2048, 64, 10),
        Case("cartpole-trpo", "CartPole-v1", "trpo", 2, 512, 512, 20,
             {"gamma": 0.99, "gae_lambda": 0.98, "cg_max_steps": 15, "cg_damping": 1e-3}, learning_rate=1e-3),
        Case("hopper-trpo", "Hopper-v5", "trpo", 2, 1024, 128, 20,
             {"gamma": 0.99, "gae_lambda": 0.95, "cg_max_steps": 25, "cg_damping": 0.1}, learning_rate=1e-3),
    )
}  # fmt: skip


def whole_rollouts(steps: int, case: Case) -> int:
    """`steps` rounded up to whole rollouts (at least one)."""
    return max(1, math.ceil(steps / case.rollout)) * case.rollout


# ------------------------------------------------------------------------------------------------------ the sides
def make_ours(case: Case, threads: int, seed: int):
    import hrlkit

    common = dict(
        seed=seed, verbose=0, tensorboard=False, eval_freq=0, log_interval=10**9, checkpoint_freq=0,
        torch_threads=threads, n_envs=case.n_envs, n_steps=case.n_steps, batch_size=case.batch_size, hidden=HIDDEN,
        learning_rate=case.learning_rate, **case.extra,
    )  # fmt: skip
    if case.algo == "ppo":
        return hrlkit.PPO(case.env_id, preset=False, n_epochs=case.updates, **common)
    return hrlkit.TRPO(case.env_id, preset=False, n_critic_updates=case.updates, **common)


def make_sb3(case: Case, seed: int):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env(case.env_id, n_envs=case.n_envs, seed=seed)
    policy_kwargs: dict[str, Any] = {"net_arch": {"pi": list(HIDDEN), "vf": list(HIDDEN)}}
    common = dict(
        n_steps=case.n_steps, batch_size=case.batch_size, learning_rate=case.learning_rate, seed=seed, device="cpu",
        verbose=0, **case.extra,
    )  # fmt: skip
    if case.algo == "ppo":
        policy_kwargs["optimizer_kwargs"] = {"eps": 1e-5}  # hrlkit PPO's adam_eps
        return PPO("MlpPolicy", env, n_epochs=case.updates, policy_kwargs=policy_kwargs, **common)
    from sb3_contrib import TRPO

    return TRPO("MlpPolicy", env, n_critic_updates=case.updates, policy_kwargs=policy_kwargs, **common)


def ours(case: Case, warmup: int, steps: int, threads: int, seed: int) -> float:
    """hrlkit env steps/s over `steps` timed env steps after `warmup` untimed ones (both whole rollouts)."""
    model = make_ours(case, threads, seed)
    model.learn(warmup)
    t = time.perf_counter()
    model.learn(warmup + steps)
    sps = steps / (time.perf_counter() - t)
    assert model.env_steps == warmup + steps
    model.close()
    return sps


def sb3(case: Case, warmup: int, steps: int, threads: int, seed: int) -> float:
    """SB3 env steps/s, measured like `ours`."""
    torch.set_num_threads(threads)
    model = make_sb3(case, seed)
    model.learn(warmup)
    t = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    sps = steps / (time.perf_counter() - t)
    assert model.num_timesteps == warmup + steps, model.num_timesteps
    model.get_env().close()
    return sps


# --------------------------------------------------------------------------------------------------------- profile
# (label, (file suffix, function name), ...): the cumulative time of the first of the functions that ran (the clip was
# torch's until hrlkit had its own), as a share of the timed `learn` call.
PROFILE_PARTS = (
    ("env step", ("gymnasium/vector/sync_vector_env.py", "step")),
    ("acting", ("hrlkit/agents/rollout.py", "act")),
    ("storing the step", ("hrlkit/agents/rollout.py", "observe")),
    ("GAE", ("hrlkit/buffers/rollout.py", "finish")),
    ("whole update", ("hrlkit/agents/rollout.py", "update")),
    ("PPO loss forward", ("hrlkit/learners/ppo.py", "minibatch_loss")),
    ("backward", ("torch/_tensor.py", "backward")),
    (
        "grad clip",
        ("hrlkit/learners/on_policy.py", "clip_grad_norm"),
        ("torch/nn/utils/clip_grad.py", "clip_grad_norm_"),
    ),
    ("Adam step", ("torch/optim/optimizer.py", "wrapper")),
    ("conjugate gradient", ("hrlkit/learners/trpo.py", "conjugate_gradient")),
    ("line search", ("hrlkit/learners/trpo.py", "_apply_step")),
    ("value fit", ("hrlkit/learners/on_policy.py", "fit_value_function")),
)


def profile_ours(case: Case, warmup: int, steps: int, threads: int) -> tuple[float, list[tuple[str, float]]]:
    """Profile one timed hrlkit run: (total seconds, [(part, share of total)] for the parts that occur)."""
    model = make_ours(case, threads, seed=0)
    model.learn(warmup)
    prof = cProfile.Profile()
    prof.enable()
    model.learn(warmup + steps)
    prof.disable()
    model.close()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = next(ct for (f, _, fn), (_, _, _, ct, _) in stats.items() if fn == "learn" and f.endswith("algorithms.py"))
    parts = []
    for label, *functions in PROFILE_PARTS:
        for suffix, name in functions:
            ct = max((v[3] for (f, _, fn), v in stats.items() if fn == name and f.endswith(suffix)), default=0.0)
            if ct > 0:
                parts.append((label, ct / total))
                break
    pstats.Stats(prof).sort_stats("cumulative").print_stats(20)
    return total, parts


# ------------------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--steps", type=int, default=8192, help="timed env steps per measurement (whole rollouts)")
    p.add_argument("--warmup", type=int, default=1, help="untimed env steps before (rounded up to whole rollouts)")
    p.add_argument("--rounds", type=int, default=5, help="alternating hrlkit/SB3 pairs per case")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads, set for both sides")
    p.add_argument("--quick", action="store_true", help="smoke run in under a minute (see the module docstring)")
    p.add_argument("--out", type=Path, help="write the results as JSON to this file")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--no-write", action="store_true", help="do not write the table into docs/benchmarks.md")
    args = p.parse_args(argv)
    command = " ".join(["python benchmarks/on_policy_throughput.py", *(sys.argv[1:] if argv is None else argv)])
    if args.quick:
        args.steps, args.warmup, args.rounds, args.no_profile, args.no_write = 1, 1, 1, True, True
    cases = [CASES[name].quick() if args.quick else CASES[name] for name in args.cases]

    load = LoadWatch()
    results = []
    for case in cases:
        warmup, steps = whole_rollouts(args.warmup, case), whole_rollouts(args.steps, case)
        a, b = [], []
        for r in range(args.rounds):
            a.append(ours(case, warmup, steps, args.threads, seed=r))
            b.append(sb3(case, warmup, steps, args.threads, seed=r))
            print(
                f"{case.name} round {r}: hrlkit {a[-1]:.1f} SB3 {b[-1]:.1f} steps/s ({a[-1] / b[-1]:.2f}x)", flush=True
            )
        load.sample(case.name)
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        results.append(
            {
                "case": case.name, "env": case.env_id, "algo": case.algo, "settings": case.describe(),
                "config": dataclasses.asdict(case), "warmup_env_steps": warmup, "timed_env_steps": steps,
                "hrlkit_sps": a, "sb3_sps": b, "ratios": ratios, "median_hrlkit_sps": statistics.median(a),
                "median_sb3_sps": statistics.median(b), "median_ratio": statistics.median(ratios),
            }
        )  # fmt: skip

    profiles = []
    if not args.no_profile:
        for case in cases:
            steps = whole_rollouts(args.steps, case)
            total, parts = profile_ours(case, whole_rollouts(args.warmup, case), steps, args.threads)
            profiles.append({"case": case.name, "timed_env_steps": steps, "seconds": total, "shares": dict(parts)})
        load.sample("after profiling")

    import sb3_contrib

    ratios = [row["median_ratio"] for row in results]
    lines = [
        f"{versions_line()} sb3-contrib {sb3_contrib.__version__}.",
        "",
        f"Command: `{command}` (per case: {args.rounds} rounds of hrlkit then SB3, each a fresh model, timed over whole "
        f"rollouts after a one-rollout warm-up; {args.threads} torch thread(s) on both sides; 64-64 tanh policy and "
        f"value networks, no normalisation, no evaluation). {load.note()}",
        "",
        "| case | env | algo | settings | hrlkit steps/s | SB3 steps/s | ratio hrlkit/SB3 (median of rounds) |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {r['case']} | {r['env']} | {r['algo'].upper()} | {r['settings']} | {r['median_hrlkit_sps']:.0f} | "
            f"{r['median_sb3_sps']:.0f} | {r['median_ratio']:.2f} |"
            for r in results
        ],
        "",
        f"**Against the goal of 2.0x: {'reached' if min(ratios) >= 2.0 else 'not reached'}** "
        f"(ratios {min(ratios):.2f}-{max(ratios):.2f}).",
    ]
    for prof in profiles:
        shares = ", ".join(f"{label} {100 * s:.0f} %" for label, s in prof["shares"].items())
        lines += [
            "",
            f"Where an hrlkit {prof['case']} run spends its time (cProfile, {prof['timed_env_steps']} timed env steps, "
            f"{prof['seconds']:.1f} s under the profiler; parts nest: the whole update contains the loss, backward, "
            f"clip, Adam, CG, line search and value fit): {shares}.",
        ]
    table = "\n".join(lines)
    print(table)
    out = {
        "command": command, "quick": args.quick, "threads": args.threads, "rounds": args.rounds,
        "versions": versions_line(), "load_average": load.readings, "cpu_count": len(os.sched_getaffinity(0)),
        "results": results, "profiles": profiles,
    }  # fmt: skip
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=2))
        print(f"wrote {args.out}")
    if not args.no_write:
        write_section(DOC, "on-policy-throughput", table, "## On-policy throughput: hrlkit PPO/TRPO against SB3")
    return out


if __name__ == "__main__":
    main()
