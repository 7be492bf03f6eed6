"""HIRO's off-policy correction, per high-level batch: the batched `hiro_relabel_goals` against a per-sample loop.

Both versions score the same 10 candidate goals (the stored goal, s_{t+k} - s_t and `--num-samples` Gaussian draws,
made by `hiro_candidates` with the same seed) for every segment of a random high-level batch, with a random 300-300
MLP low-level actor as in HIRO on Ant: input obs (30) + goal (15), 8 tanh actions. The batched version is one actor
forward over (batch x candidates x c) rows, timed fed in one pass and in blocks of `--chunk-rows` rows; the loop is the naive one, one actor call per sample, candidate and step
(batch x candidates x c calls), carrying the goal with h(s, g, s') = s + g - s' step by step. Both run under
`torch.no_grad()` on the CPU with `--threads` torch threads; the two must pick the same candidates.

The batched time is the median of `--repeats` calls after `--warmup` untimed ones; the loop runs once per config.
When a loop would take longer than `--loop-budget` seconds, it stops after the samples done by then and its time is
scaled linearly to the whole batch (marked in the table).

    python benchmarks/hiro_correction.py                                   # full table -> docs/benchmarks.md
    python benchmarks/hiro_correction.py --batches 16 --cs 10 --no-write   # quick check
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from docwriter import DOCS, write_section  # noqa: E402
from torch import nn

from hrlkit.goals.functions import goal_transition
from hrlkit.goals.relabel import CHUNK_ROWS, hiro_candidates, hiro_relabel_goals

DOC = DOCS / "benchmarks.md"
HEADING = "## HIRO off-policy correction: batched vs a per-sample loop"
OBS_DIM, GOAL_DIM, ACTION_DIM, HIDDEN = 30, 15, 8, 300
GOAL_HIGH = torch.tensor([10.0, 10.0] + [1.0] * (GOAL_DIM - 2))  # a goal range: +-10 on x-y, +-1 elsewhere
GOAL_LOW = -GOAL_HIGH


class LowActor(nn.Module):
    """mu(obs, goal) = tanh(MLP(cat(obs, goal))), 300-300 ReLU, random weights."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(OBS_DIM + GOAL_DIM, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, ACTION_DIM),
        )  # fmt: skip

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([obs, goal], dim=-1)))


def ratio(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}"


def random_batch(batch: int, c: int, seed: int) -> tuple[torch.Tensor, ...]:
    """goals (B, G), obs_seq (B, c+1, S), achieved_seq (B, c+1, G), actions_seq (B, c, A), lengths (B,): full segments,
    except one in eight cut short by an episode end."""
    g = torch.Generator().manual_seed(seed)
    obs_seq = torch.cumsum(0.1 * torch.randn(batch, c + 1, OBS_DIM, generator=g), dim=1)  # (B, c+1, S): a random walk
    achieved_seq = obs_seq[..., :GOAL_DIM]  # (B, c+1, G): the first 15 state dims
    actions_seq = 2 * torch.rand(batch, c, ACTION_DIM, generator=g) - 1  # (B, c, A)
    goals = GOAL_LOW + (GOAL_HIGH - GOAL_LOW) * torch.rand(batch, GOAL_DIM, generator=g)  # (B, G)
    lengths = torch.full((batch,), c, dtype=torch.int64)
    lengths[::8] = torch.randint(1, c + 1, lengths[::8].shape, generator=g)
    return goals, obs_seq, achieved_seq, actions_seq, lengths


def batched(actor: LowActor, data: tuple[torch.Tensor, ...], num_samples: int, seed: int, chunk: int) -> torch.Tensor:
    goals, obs_seq, achieved_seq, actions_seq, lengths = data
    out = hiro_relabel_goals(
        goals, obs_seq, achieved_seq, actions_seq, lengths, actor, GOAL_LOW, GOAL_HIGH, num_samples,
        torch.Generator().manual_seed(seed), chunk,
    )  # fmt: skip
    return out.choice


@torch.no_grad()
def loop(actor: LowActor, data: tuple[torch.Tensor, ...], num_samples: int, seed: int, budget_s: float):
    """The naive correction: one actor call per (sample, candidate, step). Returns (choices of the samples done, samples
    done, seconds). Stops early, after a whole sample, once `budget_s` has passed."""
    goals, obs_seq, achieved_seq, actions_seq, lengths = data
    start = time.perf_counter()
    candidates = hiro_candidates(
        goals, achieved_seq, lengths, GOAL_LOW, GOAL_HIGH, num_samples, torch.Generator().manual_seed(seed)
    )  # (B, K, G): the same candidates as the batched version
    choices = []
    for b in range(len(goals)):
        best, best_score = 0, -float("inf")
        for k in range(candidates.shape[1]):
            goal, score = candidates[b, k], 0.0
            for i in range(int(lengths[b])):
                pred = actor(obs_seq[b, i][None], goal[None])[0]  # one row
                score -= float((actions_seq[b, i] - pred).pow(2).sum())
                goal = goal_transition(achieved_seq[b, i], goal, achieved_seq[b, i + 1])
            if score > best_score:
                best, best_score = k, score
        choices.append(best)
        if time.perf_counter() - start > budget_s:
            break
    return torch.tensor(choices), len(choices), time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", nargs="+", type=int, default=[100, 128], help="high-level batch sizes")
    p.add_argument("--cs", nargs="+", type=int, default=[10, 20], help="high-level intervals c")
    p.add_argument("--num-samples", type=int, default=8, help="Gaussian candidates (K = num_samples + 2)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--warmup", type=int, default=3, help="untimed batched calls before timing")
    p.add_argument("--repeats", type=int, default=20, help="timed batched calls; the median is reported")
    p.add_argument("--loop-budget", type=float, default=20.0, help="seconds before a loop is cut and scaled")
    p.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows per actor pass (the library default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    actor = LowActor().eval()
    K = args.num_samples + 2

    rows = []
    for batch in args.batches:
        for c in args.cs:
            data = random_batch(batch, c, args.seed)
            medians, choices = [], []
            for chunk in (0, args.chunk_rows):  # one pass over all rows, then blocks of rows (the library's way)
                for _ in range(args.warmup):
                    batched(actor, data, args.num_samples, args.seed, chunk)
                times = []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    choices.append(batched(actor, data, args.num_samples, args.seed, chunk))
                    times.append(time.perf_counter() - t)
                medians.append(statistics.median(times))
            one_pass_s, batched_s = medians
            choice = choices[-1]
            if not all(torch.equal(x, choice) for x in choices):
                raise SystemExit(f"batch {batch}, c {c}: one pass and blocks of rows chose different candidates")
            loop_choice, done, loop_s = loop(actor, data, args.num_samples, args.seed, args.loop_budget)
            if not torch.equal(loop_choice, choice[:done]):
                raise SystemExit(f"batch {batch}, c {c}: the loop and the batched version chose different candidates")
            scaled = done < batch
            loop_total = loop_s * batch / done
            rows.append((batch, c, loop_total, scaled, done, one_pass_s, batched_s))
            note = f" (timed {done} of {batch} samples, scaled)" if scaled else ""
            print(
                f"batch {batch} c {c}: loop {loop_total:.2f} s{note} ({batch * K * c} actor calls), "
                f"one pass {1e3 * one_pass_s:.2f} ms, blocks of {args.chunk_rows} rows {1e3 * batched_s:.2f} ms "
                f"(medians of {args.repeats}), ratio {ratio(loop_total / batched_s)}",
                flush=True,
            )

    command = (
        f"python benchmarks/hiro_correction.py --batches {' '.join(map(str, args.batches))} "
        f"--cs {' '.join(map(str, args.cs))} --num-samples {args.num_samples} --threads {args.threads} "
        f"--warmup {args.warmup} --repeats {args.repeats} --loop-budget {args.loop_budget:g} --chunk-rows {args.chunk_rows} --seed {args.seed}"
    )
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
        f"{args.threads} torch threads, {len(os.sched_getaffinity(0))} cores; torch {torch.__version__}, "
        f"python {platform.python_version()}.",
        "",
        f"Command: `{command}`. {K} candidates, a random 300-300 tanh actor with obs {OBS_DIM} + goal {GOAL_DIM} in and "
        f"{ACTION_DIM} actions out, CPU, `torch.no_grad()`. Batched: median of {args.repeats} calls of "
        f"`hiro_relabel_goals` after {args.warmup} warm-up calls, with the actor fed all batch x {K} x c rows in one "
        f"pass, and in blocks of {args.chunk_rows} rows (the library's default). Loop: one run, one actor call per "
        "sample, candidate and step. All three pick the same candidates.",
        "",
        f"| batch | c | loop s | one pass ms | blocks of {args.chunk_rows} ms | loop / one pass | loop / blocks |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {b} | {c} | {ls:.2f}{'*' if sc else ''} | {1e3 * os_:.2f} | {1e3 * bs:.2f} | {ratio(ls / os_)} | "
            f"**{ratio(ls / bs)}** |"
            for b, c, ls, sc, _, os_, bs in rows
        ],
    ]
    scaled_rows = [r for r in rows if r[3]]
    if scaled_rows:
        lines += [
            "",
            "\\* The loop took longer than " + f"{args.loop_budget:g} s; timed on the first "
            + ", ".join(f"{done} of {b} samples (batch {b}, c {c})" for b, c, _, _, done, _, _ in scaled_rows)
            + " and scaled linearly to the whole batch.",
        ]  # fmt: skip
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(DOC, "hiro-correction", table, HEADING)


if __name__ == "__main__":
    main()
