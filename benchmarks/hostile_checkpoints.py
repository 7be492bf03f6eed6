"""Hostile-checkpoint campaign: every damage in `tests/hostile.py`, against `hrlkit eval` and `hrlkit train --resume`,
for several algorithms; counts of outcomes for the docs.

Each command runs in a forked child (a crash or a hang stays in the child) with a time limit. Outcomes:
    error      exit 2 with exactly one `hrlkit: error:` line on stderr (what a damaged checkpoint must give)
    ok         exit 0 (fine only when the command never reads what was damaged, e.g. `eval` and replay.npz)
    traceback  any other exit with a Python traceback
    crash      killed by a signal (a segfault)
    hang       still running after the limit
and `changed`: a file of the run dir that the command wrote, deleted or rewrote.

    python benchmarks/hostile_checkpoints.py --algos sac td3 dqn hiro --out runs/hostile
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hostile import CASES, NotApplicable, damaged_copy, expected, run_command, snapshot  # noqa: E402

ENVS = {"dqn": "CartPole-v1", "hiro": "hrlkit/PointUMaze-v0", "option_critic": "CartPole-v1", "hdqn": "hrlkit/Chain-v0"}
TINY = ["--hidden", "32,32", "--batch-size", "32", "--learning-starts", "100", "--buffer-size", "1000",
        "--eval-freq", "0", "--log-interval", "100", "--checkpoint-freq", "100", "--torch-threads", "1",
        "--no-progress"]  # fmt: skip


def trial(run: Path, work: Path, algo: str, case: str, steps: int) -> dict[str, str]:
    out: dict[str, str] = {"algo": algo, "case": case}
    for command in ("eval", "resume"):
        try:
            copy = damaged_copy(run, work / f"{case.replace(' ', '_')}__{command}", case)
        except NotApplicable:
            out[command], out[command + "_stderr"] = "n/a", ""
            continue
        before = snapshot(copy)
        if command == "eval":
            args = ["eval", str(copy), "--episodes", "1", "--out", str(work / "eval_out" / case.replace(" ", "_"))]
        else:
            args = ["train", algo, "--resume", str(copy), "--total-env-steps", str(steps + 100), "--no-progress"]
        outcome, err = run_command(args)
        changed = outcome != "ok" and snapshot(copy) != before  # a run that goes on writes, as it should
        out[command] = outcome + (" +changed" if changed else "") + ("" if outcome in expected(case, command) else " !")
        out[command + "_stderr"] = err.strip().splitlines()[-1] if err.strip() else ""
    return out


def make_run(algo: str, root: Path, steps: int) -> Path:
    run = root / f"base_{algo}"
    if not (run / "checkpoints").is_dir():
        flags = TINY if algo not in ("option_critic", "hdqn") else TINY[4:]
        if algo == "hiro":
            flags = ["--torch-threads", "1", "--no-progress", "--checkpoint-freq", "100", "--eval-freq", "0"]
        code, err = run_command(["train", algo, "--env", ENVS.get(algo, "Pendulum-v1"), "--total-env-steps",
                                 str(steps), "--run-dir", str(run), *flags], timeout=600)  # fmt: skip
        if code != "ok":
            raise SystemExit(f"base run for {algo} failed: {err}")
    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", nargs="+", default=["sac"])
    p.add_argument("--cases", nargs="*", default=None, help="case names (default: all)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--out", type=Path, default=None, help="where base runs and results.json go (default: a temp dir)")
    args = p.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="hostile-"))
    root.mkdir(parents=True, exist_ok=True)
    results = []
    for algo in args.algos:
        run = make_run(algo, root, args.steps)
        with tempfile.TemporaryDirectory(dir=root) as work:
            for case in args.cases or list(CASES):
                r = trial(run, Path(work), algo, case, args.steps)
                results.append(r)
                bad = [c for c in ("eval", "resume") if r[c].endswith("!") or "changed" in r[c]]
                mark = "!!" if bad else "  "
                print(f"{mark} {algo:6s} {case:36s} eval={r['eval']:18s} resume={r['resume']:18s}"
                      + (f"  {r['resume_stderr'][:150] if 'resume' in bad else r['eval_stderr'][:150]}" if bad else ""),
                      flush=True)  # fmt: skip
    counts = Counter(r[c].split()[0] for r in results for c in ("eval", "resume"))
    unexpected = sum(r[c].endswith("!") for r in results for c in ("eval", "resume"))
    changed = sum("changed" in r[c] for r in results for c in ("eval", "resume"))
    summary = {"trials": len(results) * 2, "cases": len(CASES), "outcomes": dict(counts), "changed": changed,
               "unexpected": unexpected}  # fmt: skip
    print(json.dumps(summary))
    (root / "results.json").write_text(json.dumps({"summary": summary, "results": results}, indent=1))


if __name__ == "__main__":
    main()
