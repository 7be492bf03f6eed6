"""A rich progress bar: env steps, steps/s, time left, and the last evaluation."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class ProgressBar:
    def __init__(self, total: int, start: int = 0, console: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[sps]:>7.1f} steps/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[eval]}"),
            console=console,
            refresh_per_second=2,
        )
        self.task = self.progress.add_task("train", total=total, completed=start, sps=0.0, eval="")
        self.progress.start()

    def update(self, env_steps: int, sps: float, eval_text: str | None = None) -> None:
        fields = {"sps": sps}
        if eval_text is not None:
            fields["eval"] = eval_text
        self.progress.update(self.task, completed=env_steps, **fields)

    def close(self) -> None:
        self.progress.stop()
