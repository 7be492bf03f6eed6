"""What a sweep costs: `hrlkit sweep` of N trials against the same N runs started one after another by hand.

Each run is SAC on Pendulum-v1 (64-64 networks, batch 128, one torch thread, `--steps` env steps, evaluated every
`--steps / 4`). By hand: `hrlkit train` N times in a row, each a fresh process (as a user would start them), timed
from process start to exit. The ideal sweep on C CPUs takes (sum of the by-hand times) / C; the sweep's wall clock
(`hrlkit sweep --seeds N --cpus C`, Ray's start-up and the report included) is compared with it. Ray's resident memory
is the summed RSS of the processes a local `ray.init(num_cpus=C)` starts, with no trial running.

    python benchmarks/sweep_overhead.py                    # 8 runs of 8000 env steps on 2 CPUs -> docs/sweeps.md
    python benchmarks/sweep_overhead.py --runs 2 --steps 1000 --no-write   # a quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from docwriter import DOCS, write_section
from machine import LoadWatch, versions_line

ROOT = Path(__file__).resolve().parents[1]
HRLKIT = [sys.executable, "-m", "hrlkit.cli"]


def flags(steps: int) -> list[str]:
    every = str(max(1, steps // 4))
    return [
        "--env", "Pendulum-v1", "--total-env-steps", str(steps),
        "--hidden", "64,64", "--batch-size", "128", "--eval-freq", every, "--log-interval", every,
        "--checkpoint-freq", every, "--eval-episodes", "2", "--torch-threads", "1",
    ]  # fmt: skip


def ray_resident_mib(cpus: int) -> float:
    """Summed RSS (MiB) of every process in the session a local Ray instance starts, after it settles."""
    code = (
        "import os, time, ray\n"
        f"ray.init(address='local', num_cpus={cpus}, include_dashboard=False, log_to_driver=False)\n"
        "time.sleep(10)\n"
        "me = os.getpid()\n"
        "total = 0\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        cmd = open(f'/proc/{pid}/cmdline', 'rb').read().decode(errors='replace')\n"
        "        status = open(f'/proc/{pid}/status').read()\n"
        "    except OSError:\n"
        "        continue\n"
        "    if int(pid) == me or 'ray' in cmd and 'sweep_overhead' not in cmd:\n"
        "        total += int(status.split('VmRSS:')[1].split()[0]) if 'VmRSS:' in status else 0\n"
        "print(total / 1024)\n"
        "ray.shutdown()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--root", default=str(ROOT / "runs" / "sweep_overhead"))
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    watch = LoadWatch()

    by_hand = []
    for seed in range(args.runs):
        t = time.perf_counter()
        subprocess.run(
            [*HRLKIT, "train", "sac", *flags(args.steps), "--seed", str(seed), "--run-dir", str(root / f"hand{seed}"),
             "--no-progress"], check=True, capture_output=True, cwd=root,
        )  # fmt: skip
        by_hand.append(time.perf_counter() - t)
        print(f"by hand, seed {seed}: {by_hand[-1]:.1f} s", flush=True)
    watch.sample("after the runs by hand")

    t = time.perf_counter()
    subprocess.run(
        [*HRLKIT, "sweep", "sac", *flags(args.steps), "--seeds", str(args.runs), "--cpus", str(args.cpus),
         "--out", str(root / "sweep")], check=True, capture_output=True, cwd=root, env={**os.environ},
    )  # fmt: skip
    sweep = time.perf_counter() - t
    watch.sample("after the sweep")
    ideal = sum(by_hand) / args.cpus
    memory = ray_resident_mib(args.cpus)
    print(f"sweep {sweep:.1f} s, ideal {ideal:.1f} s ({sweep / ideal:.3f} x), Ray resident {memory:.0f} MiB")

    body = f"""
`python benchmarks/sweep_overhead.py --runs {args.runs} --steps {args.steps} --cpus {args.cpus}`: SAC on Pendulum-v1
(64-64, batch 128, one torch thread), {args.steps} env steps per run, evaluated every {args.steps // 4}.

| | wall clock |
|---|---|
| {args.runs} runs by hand, one after another (each `hrlkit train` from process start to exit) | {sum(by_hand):.1f} s (each {min(by_hand):.1f}-{max(by_hand):.1f} s) |
| ideal on {args.cpus} CPUs (sum / {args.cpus}) | {ideal:.1f} s |
| `hrlkit sweep --seeds {args.runs} --cpus {args.cpus}` (Ray's start-up and the report included) | {sweep:.1f} s: **{sweep / ideal:.3f} x the ideal** |

Ray's resident memory (a local `ray.init(num_cpus={args.cpus})` with no trial running, the RSS of its processes and the driver
summed): {memory:.0f} MiB. {watch.note()} {versions_line()}
"""
    print(body)
    if not args.no_write:
        write_section(DOCS / "sweeps.md", "sweep-overhead", body, "## Overhead")


if __name__ == "__main__":
    main()
