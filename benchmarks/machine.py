"""What a benchmark records about the machine it ran on: versions, cores, and the load average while it ran.

Timings on a shared machine are only comparable when the reader knows how busy it was, so each benchmark prints the
1-minute load average before, during and after its measurements and writes the highest reading into its doc section.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class LoadWatch:
    """Keeps the 1-minute load averages read with `sample()`; `note()` says whether other work shared the cores."""

    def __init__(self) -> None:
        self.readings: list[float] = []
        self.sample("start")

    def sample(self, label: str = "") -> float:
        load = os.getloadavg()[0]
        self.readings.append(load)
        print(f"load average (1 min){' ' + label if label else ''}: {load:.2f}", flush=True)
        return load

    def note(self, timing: bool = True) -> str:
        cores = len(os.sched_getaffinity(0))
        lo, hi = min(self.readings), max(self.readings)
        text = f"1-minute load average during the run {lo:.2f}-{hi:.2f} on {cores} cores"
        if hi > 1.0:
            text += (
                ": other processes (test runs) were using the CPU at the same time, so the absolute "
                "figures are lower and noisier than on an idle machine; the alternating order shares the slow spells "
                "between the compared sides"
                if timing
                else ": other processes (test runs) were using the CPU at the same time; that slows the "
                "runs down but does not change what they learn"
            )
        return text + "."


def versions_line() -> str:
    """Date, CPU, cores and library versions in one sentence."""
    import torch

    import hrlkit

    parts = [f"hrlkit {hrlkit.__version__}"]
    try:
        import stable_baselines3

        parts.append(f"stable-baselines3 {stable_baselines3.__version__}")
    except ImportError:
        pass
    parts += [f"torch {torch.__version__}", f"python {platform.python_version()}"]
    return (
        f"Measured {time.strftime('%Y-%m-%d')} at commit {git_revision()} on {platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores; {', '.join(parts)}."
    )


def git_revision() -> str:
    """The checked-out commit, marked when `hrlkit/` has uncommitted changes (the figures then describe those)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        rev = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "hrlkit")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{rev} (with uncommitted changes in hrlkit/)" if dirty else rev
