"""Checkpoints: directories of safetensors weights, JSON metadata and an optional npz replay buffer.

Layout of `run_dir/checkpoints/<env_steps>/`:
    meta.json            algo, env, counters, resolved config, library versions (written last)
    agent.safetensors    weights (online and target), optimizer moments    + agent.json: the rest of the agent state
    loop.safetensors     observations, episode action histories, RNG states + loop.json
    replay.npz           the replay buffer, when `save_replay_buffer` is on

A checkpoint is written under a temporary name and renamed into place, so a crash never leaves a half-written
checkpoint where a resume would look for one; older checkpoints beyond `keep` are deleted afterwards. Nothing is ever
unpickled: a file handed in as a checkpoint that is a pickle or a `torch.save` archive is refused.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hrlkit.errors import HrlkitError
from hrlkit.training.serialization import JSON_LIMIT, load_tree, regular_file, save_tree

PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol >= 2; zip (torch.save, Stable-Baselines3 .zip)


def versions() -> dict[str, str]:
    import gymnasium
    import torch

    import hrlkit

    return {
        "hrlkit": hrlkit.__version__,
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def save_checkpoint(
    directory: Path,
    meta: dict[str, Any],
    agent_state: Any,
    loop_state: Any,
    replay: dict[str, np.ndarray] | None,
    keep: int = 3,
) -> Path:
    """Write one checkpoint atomically to `directory` (its name is the env step count) and rotate older ones."""
    directory = Path(directory)
    check_checkpoint_target(directory)
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".tmp-{directory.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        save_tree(agent_state, tmp, "agent")
        save_tree(loop_state, tmp, "loop")
        if replay is not None:
            np.savez(tmp / "replay.npz", **replay)
        meta = {**meta, "versions": versions(), "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    except BaseException:  # a full disk, a second Ctrl-C: the half-written copy must not stay behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    _rotate(parent, keep)
    return directory


def check_checkpoint_target(directory: Path) -> None:
    """Refuse, before anything is written, a target that saving would destroy: a file or link, or a directory that
    holds something other than an hrlkit checkpoint (only an empty directory or an earlier checkpoint is replaced)."""
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise HrlkitError(f"{directory} is a file or a link, not a checkpoint directory: save to another path")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / "meta.json").is_file():
        raise HrlkitError(
            f"{directory} is not empty and is not an hrlkit checkpoint: save to a new or empty directory "
            "(nothing was written or deleted)"
        )


def remove_partial_checkpoints(parent: Path) -> list[Path]:
    """Delete the `.tmp-<step>-<pid>` directories that a process which no longer runs left under `parent` (killed
    while writing a checkpoint); a live writer's are kept. Returns what was removed."""
    removed = []
    for tmp in parent.glob(".tmp-*") if parent.is_dir() else []:
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdecimal() and pid.isascii() and _alive(int(pid)):
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != 0


def _rotate(parent: Path, keep: int) -> None:
    steps = sorted(list_checkpoints(parent))
    for step in steps[: max(0, len(steps) - keep)]:
        shutil.rmtree(parent / str(step), ignore_errors=True)


def list_checkpoints(parent: Path) -> list[int]:
    """Env-step counts of the complete checkpoints under `parent` (those with a meta.json; never a symbolic link,
    which rotation would otherwise delete through)."""
    if not parent.is_dir():
        return []
    return sorted(
        int(p.name) for p in parent.iterdir() if p.name.isdigit() and not p.is_symlink() and (p / "meta.json").exists()
    )


def refuse_pickle(path: Path) -> None:
    with path.open("rb") as f:
        head = f.read(4)
    if any(head.startswith(m) for m in PICKLE_MAGIC):
        raise HrlkitError(
            f"refusing to load {path}: it is a pickle or zip archive, and unpickling can run arbitrary code; "
            "hrlkit checkpoints are directories of safetensors and JSON (see `hrlkit train --help`)"
        )
    raise HrlkitError(f"{path} is a file, not an hrlkit checkpoint: give a run directory or a checkpoint directory")


def find_checkpoint(path: str | Path, step: int | None = None) -> Path:
    """Resolve a run dir, a `checkpoints/` dir or one checkpoint dir to a complete checkpoint directory."""
    path = Path(path)
    if not path.exists():
        raise HrlkitError(f"checkpoint path {path} does not exist: give a run directory made by `hrlkit train`")
    if path.is_file():
        refuse_pickle(path)
    if (path / "meta.json").exists() and step is None:
        return path
    for parent in (path / "checkpoints", path):
        steps = list_checkpoints(parent)
        if steps:
            if step is None:
                return parent / str(steps[-1])
            if step in steps:
                return parent / str(step)
            raise HrlkitError(f"no checkpoint at step {step} in {parent}: saved steps are {steps}")
    raise HrlkitError(f"no checkpoint found in {path}: a run writes them to RUN_DIR/checkpoints/<env_steps>/")


def read_meta(ckpt: Path) -> dict[str, Any]:
    try:
        return json.loads(regular_file(ckpt / "meta.json", JSON_LIMIT).read_text())
    except FileNotFoundError:
        raise HrlkitError(f"checkpoint {ckpt} has no meta.json: it is incomplete, use another checkpoint") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HrlkitError(f"checkpoint {ckpt} is corrupt (meta.json: {e}): use another checkpoint") from None


def load_checkpoint(
    ckpt: Path, with_replay: bool = True
) -> tuple[dict[str, Any], Any, Any, dict[str, np.ndarray] | None]:
    """(meta, agent_state, loop_state, replay or None)."""
    meta = read_meta(ckpt)
    agent_state = load_tree(ckpt, "agent")
    loop_state = load_tree(ckpt, "loop")
    replay = None
    if with_replay and (ckpt / "replay.npz").exists():
        try:
            with np.load(regular_file(ckpt / "replay.npz"), allow_pickle=False) as data:
                replay = {k: data[k] for k in data.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise HrlkitError(f"checkpoint {ckpt} has a corrupt replay.npz ({str(e).splitlines()[0]})") from None
    return meta, agent_state, loop_state, replay
