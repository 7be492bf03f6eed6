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
from collections.abc import Iterator
from contextlib import contextmanager
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
        int(p.name)
        for p in parent.iterdir()
        if p.name.isascii() and p.name.isdecimal() and not p.is_symlink() and (p / "meta.json").exists()
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
    """meta.json, checked against `META_SCHEMA` (one line for anything else)."""
    try:
        meta = json.loads(regular_file(ckpt / "meta.json", JSON_LIMIT).read_text())
    except FileNotFoundError:
        raise HrlkitError(f"checkpoint {ckpt} has no meta.json: it is incomplete, use another checkpoint") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise HrlkitError(f"checkpoint {ckpt} is corrupt (meta.json: {str(e)[:120]}): use another checkpoint") from None
    problem = check_schema(meta, META_SCHEMA, "meta.json")
    if problem is None and meta["config"]["algo"] != meta["algo"]:
        problem = f"meta.json names algo {meta['algo']!r} and config.algo {meta['config']['algo']!r}"
    if problem is not None:
        raise HrlkitError(f"checkpoint {ckpt} is corrupt ({problem}): use another checkpoint")
    return meta


COUNT = "count"
"""a schema leaf: an int >= 0 (not a bool)"""
OPTIONAL = "?"
"""a key ending in it may be absent"""

META_SCHEMA: dict[str, Any] = {
    "algo": str,
    "env": str,
    "env_steps": COUNT,
    "config": {"algo": str, "run": dict, "algo_config": dict, "replay?": dict},
}
"""What every meta.json holds (more keys may be there: versions, saved_at). The config's fields are then checked by
the config loader itself, field by field, with each field's type and range."""


def check_schema(value: Any, schema: Any, where: str) -> str | None:
    """The first way `value` breaks `schema` (a type, COUNT, or a dict of key -> schema), or None."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{where} is a {type(value).__name__}, not an object"
        for key, sub in schema.items():
            name = key.rstrip(OPTIONAL)
            if name not in value:
                if key.endswith(OPTIONAL):
                    continue
                return f"{where} has no {name!r}"
            problem = check_schema(value[name], sub, f"{where}: {name}")
            if problem is not None:
                return problem
        return None
    if schema == COUNT:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else f"{where} = {str(value)[:40]!r}, not a count >= 0"
    if not isinstance(value, schema) or isinstance(value, bool) and schema is not bool:
        return f"{where} is a {type(value).__name__}, not a {schema.__name__}"
    return None


@contextmanager
def restoring(ckpt: Path, part: str) -> Iterator[None]:
    """Wraps the restore of one part of a checkpoint (the config, the agent, the loop, the replay): what the parts'
    own checks let through (a missing key, a wrong type deep in a tree) becomes one line naming the checkpoint, the
    part and the cause, never a traceback."""
    try:
        yield
    except HrlkitError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError, OverflowError,
            RecursionError) as e:  # fmt: skip
        cause = str(e).splitlines()[0][:160] if str(e) else ""
        raise HrlkitError(
            f"checkpoint {ckpt} is corrupt ({part}: {type(e).__name__}{': ' + cause if cause else ''}): use another "
            "checkpoint"
        ) from None


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
            path = regular_file(ckpt / "replay.npz")
            check_npz_sizes(path)
            with np.load(path, allow_pickle=False) as data:
                replay = {k: data[k] for k in data.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise HrlkitError(f"checkpoint {ckpt} has a corrupt replay.npz ({str(e).splitlines()[0]})") from None
    return meta, agent_state, loop_state, replay


def check_npz_sizes(path: Path) -> None:
    """Each array in an npz declares its shape and dtype in a header; refuse, before any array is allocated, one whose
    header declares more bytes than its member holds (a damaged or hostile file would otherwise allocate whatever it
    declares) or an object dtype (a pickle)."""
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else (
                    np.lib.format.read_array_header_2_0
                )  # fmt: skip
                shape, _, dtype = read_header(f, max_header_size=10_000)
                declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if dtype.hasobject or declared > info.file_size - f.tell():
                    raise ValueError(
                        f"member {info.filename} declares {shape} {dtype}, more than the {info.file_size} bytes it holds"
                        if not dtype.hasobject
                        else f"member {info.filename} holds Python objects (a pickle)"
                    )
