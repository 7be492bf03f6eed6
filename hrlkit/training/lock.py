"""One writer per run directory: an exclusive advisory lock (`flock`) on `<run_dir>/.lock`.

Also here: `refuse_links`, since a run dir's files are written in place (a `config.yaml` that is a symbolic link would
have its target overwritten by a resume).

Two processes training or resuming one run at once would write every progress row twice and overwrite each other's
checkpoints. The lock is taken before anything in the run dir is written (by `resume` before it tidies partial
checkpoints), held while the model lives, and dropped by `close()`; the operating system drops it when the process
ends in any way (SIGKILL included), so a crashed run never leaves a stale lock. The lock file holds the holder's pid,
which the refusal names. Within one process the lock is re-entrant (a model and the resume that built it share it).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from hrlkit.errors import HrlkitError

LOCK_NAME = ".lock"
WRITTEN = ("config.yaml", "progress.csv", "progress.csv.tmp", "eval", "checkpoints")
"""what training writes in a run dir besides TensorBoard's own new files"""


def refuse_links(run_dir: Path) -> None:
    """One line, before anything is written, when a path training writes in `run_dir` is a symbolic link (the run
    dir itself may be one: that is where the user put the run)."""
    run_dir = Path(run_dir)
    paths = [run_dir / name for name in WRITTEN]
    checkpoints = run_dir / "checkpoints"
    if checkpoints.is_dir() and not checkpoints.is_symlink():
        paths += [p for p in checkpoints.iterdir()]
    for path in paths:
        if path.is_symlink():
            raise HrlkitError(
                f"{path} is a symbolic link: hrlkit never writes through links in a run dir (its target would be "
                "overwritten or deleted); put the file itself there or remove the link"
            )


class RunDirLock:
    """A held lock; `acquire` takes it (or joins this process's), `release` gives back one hold."""

    _held: dict[str, RunDirLock] = {}  # resolved run dir -> this process's lock on it

    def __init__(self, key: str, fd: int) -> None:
        self.key, self.fd, self.holds = key, fd, 1

    @classmethod
    def acquire(cls, run_dir: str | Path) -> RunDirLock:
        run_dir = Path(run_dir)
        key = str(run_dir.resolve())
        held = cls._held.get(key)
        if held is not None:
            held.holds += 1
            return held
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise HrlkitError(f"cannot lock run dir {run_dir}: {e.strerror} ({e.filename})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise HrlkitError(
                f"run dir {run_dir} is in use by another hrlkit process (pid {holder}): wait for it to finish or stop "
                "it, or give another --run-dir"
            ) from None
        try:
            refuse_links(run_dir)
        except HrlkitError:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        lock = cls._held[key] = cls(key, fd)
        return lock

    def release(self) -> None:
        self.holds -= 1
        if self.holds > 0 or self.fd < 0:
            return
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = -1
        self._held.pop(self.key, None)


def clear_run_dir(run_dir: Path) -> None:
    """`--overwrite`: delete an earlier run's files (the names training writes, and TensorBoard's events) under the
    run dir's lock; anything else there is refused first, so no file of the user's is deleted."""
    lock = RunDirLock.acquire(run_dir)
    try:
        ours = set(WRITTEN) | {LOCK_NAME}
        foreign = [p.name for p in run_dir.iterdir() if p.name not in ours and not p.name.startswith("events.out.")]
        if foreign:
            raise HrlkitError(
                f"--overwrite deletes only an hrlkit run's files, and {run_dir} also holds {sorted(foreign)[:5]}: "
                "move them, or give another --run-dir"
            )
        for p in run_dir.iterdir():
            if p.name == LOCK_NAME:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    finally:
        lock.release()
