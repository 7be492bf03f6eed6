"""Logger: `record` values under Stable-Baselines3-style keys, `dump` them to CSV, TensorBoard and the console.

Learners and agents return stats; only the loop records them. `record_mean` accumulates a mean until the next dump
(losses averaged over the updates between dumps); `record` keeps the last value. Keys are `{group}/{name}`, with the
level in front for hierarchical agents (`low/train/critic_loss`).

What was recorded since the last dump is part of a checkpoint (`state_dict`), so a resumed run averages over exactly
the values an uninterrupted one would have.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from hrlkit.errors import HrlkitError


@dataclass
class _Provisional:
    """A row written early (the last step of `learn` fell inside a log period) and what had accumulated before it."""

    step: int
    values: dict[str, float]
    sums: dict[str, float]
    counts: dict[str, int]


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
        self._provisional: _Provisional | None = None
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
            rows = list(reader)
        steps = []
        for line, r in enumerate(rows, start=2):
            try:
                steps.append(float(r.get("time/env_steps") or 0))
            except (TypeError, ValueError):
                raise HrlkitError(
                    f"{self.csv_path} line {line} has env step {str(r.get('time/env_steps'))[:20]!r}, not a number: "
                    "remove or repair that line, then resume again (nothing was changed)"
                ) from None
        self._rows = [r for r, step in zip(rows, steps, strict=True) if step <= resume_step]
        self._rewrite()

    def record(self, key: str, value: Any) -> None:
        self._values[key] = float(value)

    def record_mean(self, key: str, value: Any) -> None:
        self._sums[key] += float(value)
        self._counts[key] += 1

    def record_dict(self, stats: dict[str, float], prefix: str) -> None:
        for k, v in stats.items():
            self.record_mean(f"{prefix}{k}", v)

    def dump(self, step: int, provisional: bool = False) -> dict[str, float]:
        """Write everything recorded since the last dump at `step` (env steps); return what was written.

        `provisional`: the row closes a log period early (training stopped inside it). The logger remembers what it
        had accumulated; if training continues (`reopen`, or a resume from a checkpoint taken right after), the row
        is taken back and the period goes on, so the log reads as if training had never stopped.
        """
        self._provisional = (
            _Provisional(step, dict(self._values), dict(self._sums), dict(self._counts)) if provisional else None
        )
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

    def write_row(self, step: int, values: dict[str, float]) -> None:
        """Write `values` as a row of their own at `step` (CSV, TensorBoard, console), leaving what is being
        accumulated for the next dump untouched: an evaluation that falls between two dumps reaches every sink at its
        own env step."""
        row = {**{k: float(v) for k, v in values.items()}, "time/env_steps": float(step)}
        if self.run_dir is not None:
            self._write_csv(row)
        if self._tb is not None:
            for k, v in values.items():
                if math.isfinite(v):
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()

    # ------------------------------------------------------------------------------------------ resume support
    def state_dict(self) -> dict[str, Any]:
        """What the next dump would average (or, right after a provisional dump, what it had), for a checkpoint."""
        p = self._provisional
        if p is not None:
            return {"values": p.values, "sums": p.sums, "counts": p.counts, "provisional_step": p.step}
        return {"values": dict(self._values), "sums": dict(self._sums), "counts": dict(self._counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict` (a resume; the Logger was made with `resume_step` before the provisional row)."""
        self._values = {k: float(v) for k, v in state.get("values", {}).items()}
        self._sums = defaultdict(float, {k: float(v) for k, v in state.get("sums", {}).items()})
        self._counts = defaultdict(int, {k: int(v) for k, v in state.get("counts", {}).items()})
        self._provisional = None

    def reopen(self) -> None:
        """Training goes on after a provisional dump: take its row back and continue accumulating its period."""
        p, self._provisional = self._provisional, None
        if p is None:
            return
        self._values, self._sums, self._counts = dict(p.values), defaultdict(float, p.sums), defaultdict(int, p.counts)
        if self.run_dir is not None:
            self._rows = [r for r in self._rows if float(r.get("time/env_steps") or 0) < p.step]
            self._rewrite()
        if self._tb is not None:  # a new writer that hides the events logged at or after the provisional step
            from torch.utils.tensorboard import SummaryWriter

            self._tb.close()
            self._tb = SummaryWriter(str(self.run_dir), purge_step=p.step)

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
