"""Shared by the smoke tests: tiny configs (Python keyword arguments and CLI flags), progress.csv reading, CLI runs."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]

# Small enough that a run of a few hundred env steps takes a few seconds on one core, and every phase executes:
# warm-up, updates (learning_starts < total), evaluation, log dumps and checkpoints.
TINY: dict[str, Any] = {
    "hidden": (32, 32),
    "batch_size": 32,
    "learning_starts": 100,
    "buffer_size": 1000,
    "eval_freq": 200,
    "eval_episodes": 1,
    "log_interval": 100,
    "checkpoint_freq": 100,
    "torch_threads": 1,
}


def tiny_flags(**changes: Any) -> list[str]:
    """TINY (updated with `changes`) as command-line overrides: `--batch-size 32 ...`."""
    flags = []
    for key, value in {**TINY, **changes}.items():
        text = ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
        flags += ["--" + key.replace("_", "-"), text]
    return flags


# ------------------------------------------------------------------------------------------------- progress.csv
def read_progress(run_dir: Path) -> list[dict[str, str]]:
    """The rows of progress.csv, without the wall-clock columns (`time/fps*`), which no two runs share."""
    with (Path(run_dir) / "progress.csv").open(newline="") as f:
        return [{k: v for k, v in row.items() if not k.startswith("time/fps")} for row in csv.DictReader(f)]


def assert_same_progress(a: Path, b: Path) -> None:
    """Row by row, column by column, as text: `repr` of a float round-trips, so equal text means equal bits."""
    rows_a, rows_b = read_progress(a), read_progress(b)
    assert [r["time/env_steps"] for r in rows_a] == [r["time/env_steps"] for r in rows_b]
    assert list(rows_a[0]) == list(rows_b[0]), "different columns"
    for ra, rb in zip(rows_a, rows_b, strict=True):
        diff = {k: (ra[k], rb[k]) for k in ra if ra[k] != rb[k]}
        assert not diff, f"progress.csv differs at env step {ra['time/env_steps']}: {diff}"


def assert_same_weights(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"weights differ: {different}"


def obs_batch(space: Any, n: int = 16, seed: int = 0) -> np.ndarray:
    space.seed(seed)
    return np.stack([space.sample() for _ in range(n)])


# ------------------------------------------------------------------------------------------------------ the CLI
@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"hrlkit {' '.join(self.args)} -> {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def cli_env() -> dict[str, str]:
    """The environment of a CLI subprocess: test env modules importable (`tests.nan_env:NanEnv-v0`), no progress bar."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("HRLKIT_PROGRESS", None)
    env.pop("MUJOCO_GL", None)
    return env


def _default_sigint() -> None:
    # A test runner started in the background (CI, nohup) may run with SIGINT ignored, which children inherit and
    # hrlkit then respects: give the child the default disposition so that Ctrl-C reaches it as it does in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_popen(args: Sequence[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hrlkit.cli", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def run_cli(args: Sequence[str], cwd: Path, timeout: float = 120) -> CliResult:
    proc = cli_popen(args, cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"hrlkit {' '.join(args)} ran past {timeout} s\n{out}\n{err}") from None
    return CliResult(list(args), proc.returncode, out, err)


def run_cli_many(commands: Mapping[str, Sequence[str]], cwd: Path, jobs: int = 3) -> dict[str, CliResult]:
    """Several CLI runs at once: most of each is Python start-up and imports, so a few overlap well even on 2 cores."""
    with ThreadPoolExecutor(jobs) as pool:
        futures = {name: pool.submit(run_cli, args, cwd) for name, args in commands.items()}
        return {name: f.result() for name, f in futures.items()}
