"""Kill-and-resume campaign: runs stopped by SIGKILL or SIGTERM at random moments (many while a checkpoint is being
written), then resumed to the end, must log exactly what an uninterrupted run logs and leave no partial checkpoint.

Each trial: `hrlkit train ALGO` (tiny settings, checkpoints every 100 env steps) is started, a random delay is drawn,
then the process is polled every millisecond and, with probability 1/2, signalled the moment a `.tmp-*` checkpoint
directory appears (mid-write), else when the delay ends; it is then resumed (`--resume`, repeatedly if the resume is
killed too, for SIGKILL chains) to the budget and compared with the reference run row by row (every progress.csv column
but wall-clock fps) and tensor by tensor (the final checkpoint's weights, optimizer moments, replay).

    python benchmarks/kill_campaign.py --trials 40 --algos sac dqn hiro --out runs/kill
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.smoke.helpers import assert_same_progress, cli_env  # noqa: E402

TOTAL = 600
ENVS = {"sac": "Pendulum-v1", "td3": "Pendulum-v1", "dqn": "CartPole-v1", "hiro": "hrlkit/PointUMaze-v0"}
FLAGS = {
    "default": ["--hidden", "32,32", "--batch-size", "32", "--learning-starts", "100", "--buffer-size", "1000"],
    "hiro": ["--high.hidden", "32,32", "--low.hidden", "32,32", "--learning-starts", "100"],
}
COMMON = ["--eval-freq", "200", "--eval-episodes", "1", "--log-interval", "100", "--checkpoint-freq", "100",
          "--torch-threads", "1", "--no-progress", "--seed", "5", "--verbose", "0"]  # fmt: skip


def train_args(algo: str, run: Path, total: int) -> list[str]:
    flags = FLAGS.get(algo, FLAGS["default"])
    return ["train", algo, "--env", ENVS[algo], "--total-env-steps", str(total), "--run-dir", str(run), *flags, *COMMON]


def hrlkit(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hrlkit.cli", *args], env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def kill_at_random(proc: subprocess.Popen, run: Path, rng: random.Random, signum: int, wait_for_write: bool) -> str:
    """Signal `proc` after a random delay, or the moment a checkpoint is in flight; return when it was signalled."""
    deadline = time.monotonic() + rng.uniform(1.0, 6.0)
    checkpoints = run / "checkpoints"
    while proc.poll() is None:
        in_flight = checkpoints.is_dir() and any(p.name.startswith(".tmp-") for p in checkpoints.iterdir())
        if (wait_for_write and in_flight) or time.monotonic() > deadline:
            proc.send_signal(signum)
            proc.communicate(timeout=120)
            return "during a checkpoint write" if in_flight else "between checkpoints"
        time.sleep(0.001)
    proc.communicate()
    return "after it finished"


def final_tensors(run: Path) -> dict:
    from safetensors.torch import load_file

    ckpt = run / "checkpoints" / str(TOTAL)
    return {**load_file(str(ckpt / "agent.safetensors"))}


def trial(algo: str, reference: Path, work: Path, rng: random.Random) -> dict[str, str]:
    run = work / f"trial_{algo}"
    shutil.rmtree(run, ignore_errors=True)
    signum = rng.choice([signal.SIGKILL, signal.SIGTERM])
    when = kill_at_random(hrlkit(train_args(algo, run, TOTAL)), run, rng, signum, rng.random() < 0.5)
    out = {"algo": algo, "signal": signal.Signals(signum).name, "when": when}
    resumes = 0

    def finished() -> bool:  # the final checkpoint was written before the signal landed (e.g. while plotting)
        return (run / "checkpoints" / str(TOTAL) / "meta.json").exists()

    while when != "after it finished" and not finished():
        if not (run / "checkpoints").is_dir() or not any(p.name.isdecimal() for p in (run / "checkpoints").iterdir()):
            # killed before its first checkpoint: a run that never saved starts over in place
            proc = hrlkit([*train_args(algo, run, TOTAL), "--overwrite"])
        else:
            proc = hrlkit(["train", algo, "--resume", str(run), "--total-env-steps", str(TOTAL), "--no-progress"])
        resumes += 1
        # a SIGKILL chain: the first resume is killed again half of the time
        if signum == signal.SIGKILL and resumes == 1 and rng.random() < 0.5:
            kill_at_random(proc, run, rng, signal.SIGKILL, True)
            continue  # (a resume that finished before the kill ends the loop through finished())
        stdout, stderr = proc.communicate(timeout=600)
        if proc.returncode != 0:
            out["outcome"] = f"resume failed: {stderr.strip().splitlines()[-1] if stderr.strip() else proc.returncode}"
            return out
        break
    out["resumes"] = str(resumes)
    try:
        assert_same_progress(reference, run)
        a, b = final_tensors(reference), final_tensors(run)
        if a.keys() != b.keys() or any(not (a[k] == b[k]).all() for k in a):
            raise AssertionError("final weights differ")
    except AssertionError as e:
        out["outcome"] = f"differs: {str(e).splitlines()[0][:120]}"
        return out
    partial = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".tmp-")]
    out["outcome"] = "partial checkpoint left" if partial else "identical"
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=20, help="trials per algorithm")
    p.add_argument("--algos", nargs="+", default=["sac"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/kill"))
    args = p.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for algo in args.algos:
        reference = args.out / f"reference_{algo}"
        if not (reference / "checkpoints" / str(TOTAL)).is_dir():
            shutil.rmtree(reference, ignore_errors=True)
            proc = hrlkit(train_args(algo, reference, TOTAL))
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"reference run for {algo} failed: {err}")
        for i in range(args.trials):
            r = trial(algo, reference, args.out, rng)
            results.append(r)
            print(f"{algo:5s} {i:3d} {r['signal']:8s} {r['when']:26s} resumes={r.get('resumes', '-'):2s} {r['outcome']}",
                  flush=True)  # fmt: skip
    summary = {
        "trials": len(results),
        "outcomes": dict(Counter(r["outcome"] for r in results)),
        "signals": dict(Counter(f"{r['signal']} {r['when']}" for r in results)),
    }
    print(json.dumps(summary))
    (args.out / "results.json").write_text(json.dumps({"summary": summary, "results": results}, indent=1))


if __name__ == "__main__":
    main()
