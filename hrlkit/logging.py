"""Logger: `record` values under Stable-Baselines3-style keys, `dump` them to CSV, TensorBoard and the console.

Learners and agents return stats; only the loop records them. `record_mean` accumulates a mean until the next dump
(losses averaged over the updates between dumps); `record` keeps the last value. Keys are `{group}/{name}`, with the
level in front for hierarchical agents (`low/train/critic_loss`).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console


class Logger:
    """Writes `progress.csv` (the columns grow as new keys appear) and TensorBoard events into `run_dir`.

    Args:
        run_dir: where the files go; None logs to the console only.
        tensorboard: write TensorBoard event files.
        verbose: 0 silent, 1 one line per dump, 2 a table per dump.
        resume_step: on resume, CSV rows after this env step are dropped (they were logged after the checkpoint
            being resumed) and TensorBoard events past it are purged, so the files read as one uninterrupted run.
    """

    def __init__(
        self, run_dir: Path | None, tensorboard: bool = True, verbose: int = 1, resume_step: int | None = None
    ) -> None:
        self.run_dir = run_dir
        self.verbose = verbose
        self.console = Console(stderr=False, highlight=False)
        self._values: dict[str, float] = {}
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._rows: list[dict[str, str]] = []
        self._fieldnames: list[str] = []
        self._tb = None
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            self.csv_path = run_dir / "progress.csv"
            if resume_step is not None and self.csv_path.exists():
                self._load_rows(resume_step)
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(run_dir), purge_step=resume_step + 1 if resume_step is not None else None)

    def _load_rows(self, resume_step: int) -> None:
        with self.csv_path.open(newline="") as f:
            reader = csv.DictReader(f)
            self._fieldnames = list(reader.fieldnames or [])
            self._rows = [r for r in reader if float(r.get("time/env_steps") or 0) <= resume_step]
        self._rewrite()

    def record(self, key: str, value: Any) -> None:
        self._values[key] = float(value)

    def record_mean(self, key: str, value: Any) -> None:
        self._sums[key] += float(value)
        self._counts[key] += 1

    def record_dict(self, stats: dict[str, float], prefix: str) -> None:
        for k, v in stats.items():
            self.record_mean(f"{prefix}{k}", v)

    def dump(self, step: int) -> dict[str, float]:
        """Write everything recorded since the last dump at `step` (env steps); return what was written."""
        values = dict(self._values)
        values.update({k: self._sums[k] / self._counts[k] for k in self._sums})
        values["time/env_steps"] = float(step)
        self._values.clear()
        self._sums.clear()
        self._counts.clear()
        if self.run_dir is not None:
            self._write_csv(values)
        if self._tb is not None:
            for k, v in values.items():
                if k != "time/env_steps" and math.isfinite(v):
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()
        if self.verbose >= 2:
            width = max(len(k) for k in values)
            self.console.print("\n".join(f"{k:<{width}}  {v:.6g}" for k, v in sorted(values.items())))
        return values

    def _write_csv(self, values: dict[str, float]) -> None:
        row = {k: repr(v) for k, v in values.items()}
        new_keys = [k for k in values if k not in self._fieldnames]
        self._rows.append(row)
        if new_keys or not self.csv_path.exists():
            self._fieldnames = sorted(set(self._fieldnames) | set(values), key=lambda k: (k != "time/env_steps", k))
            self._rewrite()  # new columns: rewrite the whole file once with the wider header
        else:
            with self.csv_path.open("a", newline="") as f:
                csv.DictWriter(f, self._fieldnames).writerow(row)

    def _rewrite(self) -> None:
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, self._fieldnames)
            writer.writeheader()
            writer.writerows(self._rows)
        tmp.replace(self.csv_path)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
