"""Hostile checkpoints: ways to damage a run dir's checkpoint, each a function that edits a copy in place.

Used by `tests/smoke/test_hostile_checkpoints.py` (every case, against `hrlkit eval` and `hrlkit train --resume`) and by
`benchmarks/hostile_checkpoints.py` (the same cases on more algorithms, with counts for the docs). Each case must end
in one `hrlkit: error:` line and exit 2, with no traceback and no file of the run dir changed.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing as mp
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

Case = Callable[[Path], None]  # edits the newest checkpoint directory it is given


def _edit_json(name: str, edit: Callable[[Any], Any]) -> Case:
    def case(ckpt: Path) -> None:
        path = ckpt / name
        path.write_text(json.dumps(edit(json.loads(path.read_text()))))

    return case


def _write(name: str, data: bytes | str) -> Case:
    def case(ckpt: Path) -> None:
        path = ckpt / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)

    return case


def _set(*keys: Any, value: Any) -> Callable[[Any], Any]:
    """Sets tree[k0][k1]...[kn] = value (or deletes the key when value is DELETE)."""

    def edit(tree: Any) -> Any:
        node = tree
        for k in keys[:-1]:
            node = node.get(k) if isinstance(node, dict) else None
        if not isinstance(node, dict) or keys[-1] not in node:
            raise NotApplicable(f"no {'.'.join(map(str, keys))} in this algorithm's checkpoint")
        if value is DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
        return tree

    return edit


DELETE = object()


class NotApplicable(Exception):
    """The case damages a part this algorithm's checkpoint does not have."""


def _edit_tensors(name: str, edit: Callable[[dict[str, np.ndarray]], None]) -> Case:
    def case(ckpt: Path) -> None:
        path = ckpt / f"{name}.safetensors"
        tensors = load_file(str(path))
        edit(tensors)
        save_file(tensors, str(path))

    return case


def _each(pattern: str, make: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(tensors: dict[str, np.ndarray]) -> None:
        hits = [k for k in tensors if pattern in k]
        if not hits:
            raise NotApplicable(f"no tensor matches {pattern!r}")
        for k in hits:
            tensors[k] = make(tensors[k])

    return edit


def _first_weight(suffix: str, make: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict[str, np.ndarray]], None]:
    """Edits the first network tensor (not an optimizer's) whose name ends with `suffix`, whatever the algorithm."""

    def edit(tensors: dict[str, np.ndarray]) -> None:
        name = next(k for k in sorted(tensors) if k.endswith(suffix) and "optimizers" not in k)
        tensors[name] = make(tensors[name])

    return edit


def _dangling_tensor_ref(ckpt: Path) -> None:
    """agent.json's first tensor reference renamed to a tensor the safetensors file does not hold."""
    path = ckpt / "agent.json"
    text = path.read_text()
    start = text.index('"__tensor__": "') + len('"__tensor__": "')
    path.write_text(text[:start] + "no.such.tensor" + text[text.index('"', start) :])


def _edit_replay(edit: Callable[[dict[str, np.ndarray]], None]) -> Case:
    def case(ckpt: Path) -> None:
        path = ckpt / "replay.npz"
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        edit(arrays)
        np.savez(path, **arrays)

    return case


def _replay_set(key: str, value: Any) -> Callable[[dict[str, np.ndarray]], None]:
    """Sets (or deletes) array `key` of the replay, or of each of its buffers (`low.key`, `high.key`); `value` may be
    a function of the array it replaces."""

    def edit(arrays: dict[str, np.ndarray]) -> None:
        targets = [k for k in arrays if k == key or k.endswith("." + key)]
        if not targets:
            raise NotApplicable(f"the replay has no array {key!r}")
        for k in targets:
            if value is DELETE:
                del arrays[k]
            else:
                arrays[k] = np.asarray(value(arrays[k]) if callable(value) else value)

    return edit


def _huge_npz_member(ckpt: Path) -> None:
    """replay.npz whose `rewards` member declares 2^33 float32 rows in its header (and holds a few bytes)."""
    import zipfile

    path = ckpt / "replay.npz"
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(path, **{k: v for k, v in arrays.items() if k != "rewards"})
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (8589934592, 1), }"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    raw = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\x00" * 64
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("rewards.npy", raw)


def _rename_checkpoint(name: str) -> Case:
    def case(ckpt: Path) -> None:
        ckpt.rename(ckpt.parent / name)

    return case


def _meta_dir(ckpt: Path) -> None:
    (ckpt / "meta.json").unlink()
    (ckpt / "meta.json").mkdir()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _progress_garbage(ckpt: Path) -> None:
    progress = ckpt.parent.parent / "progress.csv"
    with progress.open("a") as f:
        f.write("garbage,\x00,not a number\n")


CASES: dict[str, Case] = {
    # meta.json
    "meta binary": _write("meta.json", b"\xff\xfe\x00binary\x80"),
    "meta list": _write("meta.json", "[]"),
    "meta string": _write("meta.json", '"str"'),
    "meta empty object": _write("meta.json", "{}"),
    "meta config string": _edit_json("meta.json", _set("config", value="x")),
    "meta config no algo": _edit_json("meta.json", _set("config", "algo", value=DELETE)),
    "meta config algo number": _edit_json("meta.json", _set("config", "algo", value=5)),
    "meta algo_config list": _edit_json("meta.json", _set("config", "algo_config", value=[1])),
    "meta algo number": _edit_json("meta.json", _set("algo", value=5)),
    "meta algo unknown": _edit_json("meta.json", _set("algo", value="nope")),
    "meta no env_steps": _edit_json("meta.json", _set("env_steps", value=DELETE)),
    "meta env_steps text": _edit_json("meta.json", _set("env_steps", value="abc")),
    "meta env_steps negative": _edit_json("meta.json", _set("env_steps", value=-7)),
    "meta env_steps float": _edit_json("meta.json", _set("env_steps", value=1.5)),
    "meta env number": _edit_json("meta.json", _set("env", value=5)),
    "meta run seed text": _edit_json("meta.json", _set("config", "run", "seed", value="x")),
    "meta run group list": _edit_json("meta.json", _set("config", "run", value=[1, 2])),
    "meta batch size text": _edit_json("meta.json", _set("config", "algo_config", "batch_size", value="big")),
    "meta gamma out of range": _edit_json("meta.json", _set("config", "algo_config", "gamma", value=7.0)),
    "meta hidden text": _edit_json("meta.json", _set("config", "algo_config", "hidden", value="abc")),
    "meta unknown config key": _edit_json(
        "meta.json",
        lambda m: {**m, "config": {**m["config"], "algo_config": {**m["config"]["algo_config"], "bogus": 1}}},
    ),
    "meta learning_starts text": _edit_json("meta.json", _set("config", "replay", "learning_starts", value=[1])),
    "meta nested deep": _write("meta.json", _nested(100_000)),
    "meta directory": _meta_dir,
    "meta null": _write("meta.json", "null"),
    "meta nan": _write("meta.json", "NaN"),
    # agent.json / agent.safetensors
    "agent json list": _write("agent.json", "[]"),
    "agent json nested deep": _write("agent.json", _nested(100_000)),
    "agent rng text": _edit_json("agent.json", _set("rng", value="x")),
    "agent rng empty": _edit_json("agent.json", _set("rng", value={})),
    "agent rng wrong state": _edit_json("agent.json", _set("rng", "state", value={"state": "x", "inc": 1})),
    "agent env_steps text": _edit_json("agent.json", _set("env_steps", value="many")),
    "agent no weights": _edit_json("agent.json", lambda tree: {k: v for k, v in tree.items() if k == "rng"}),
    "agent tensor ref missing": _dangling_tensor_ref,
    "agent optimizer state wrong shape": _edit_tensors("agent", _each(".exp_avg", lambda t: np.zeros((1,), t.dtype))),
    "agent optimizer state wrong dtype": _edit_tensors("agent", _each(".exp_avg_sq", lambda t: t.astype(np.float64))),
    "agent optimizer step wrong shape": _edit_tensors("agent", _each(".step", lambda t: np.zeros((3,), t.dtype))),
    "agent weight wrong shape": _edit_tensors("agent", _first_weight(".bias", lambda t: np.zeros((7,), t.dtype))),
    "agent weight int dtype": _edit_tensors("agent", _first_weight(".weight", lambda t: t.astype(np.int64))),
    "agent safetensors garbage": _write("agent.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage}"),
    # loop.json / loop.safetensors
    "loop json string": _write("loop.json", '"loop"'),
    "loop counters text": _edit_json("loop.json", _set("counters", value="abc")),
    "loop counters short": _edit_json("loop.json", _set("counters", value=[1])),
    "loop counters negative": _edit_json("loop.json", _set("counters", value=[-5, -5, 0, 0])),
    "loop counters huge": _edit_json("loop.json", _set("counters", value=[10**30, 1, 0, 0])),
    "loop rng text": _edit_json("loop.json", _set("rng", value="x")),
    "loop rng other generator": _edit_json("loop.json", _set("rng", "bit_generator", value="MT19937")),
    "loop recent text": _edit_json("loop.json", _set("recent", value="abc")),
    "loop last_eval list": _edit_json("loop.json", _set("last_eval", value=[1, 2])),
    "loop env_states text": _edit_json("loop.json", _set("env_states", value="abc")),
    "loop torch_rng wrong size": _edit_tensors("loop", _each("torch_rng", lambda t: t[:10])),
    "loop torch_rng float": _edit_tensors("loop", _each("torch_rng", lambda t: t.astype(np.float32))),
    "loop obs wrong shape": _edit_tensors("loop", _each("obs", lambda t: np.zeros((3, 9), t.dtype))),
    "loop episode_seeds wrong shape": _edit_tensors("loop", _each("episode_seeds", lambda t: np.zeros((4,), t.dtype))),
    "loop ep_returns wrong shape": _edit_tensors("loop", _each("ep_returns", lambda t: np.zeros((5,), t.dtype))),
    # replay.npz
    "replay pos huge": _edit_replay(_replay_set("pos", 10**9)),
    "replay pos negative": _edit_replay(_replay_set("pos", -7)),
    "replay pos text": _edit_replay(_replay_set("pos", "abc")),
    "replay written negative": _edit_replay(_replay_set("written", -3)),
    "replay running_start huge": _edit_replay(_replay_set("running_start", [10**12])),
    "replay no rewards": _edit_replay(_replay_set("rewards", DELETE)),
    "replay rewards wrong shape": _edit_replay(_replay_set("rewards", np.zeros((3, 7), np.float32))),
    "replay rewards text": _edit_replay(_replay_set("rewards", np.array(["a", "b"]))),
    "replay ep_start out of range": _edit_replay(_replay_set("ep_start", lambda a: np.full_like(a, 10**12))),
    "replay member huge": _huge_npz_member,
    "replay garbage": _write("replay.npz", b"PK\x03\x04garbage"),
    # the checkpoint directory and the run dir
    "checkpoint named superscript two": _rename_checkpoint("\u00b2"),
    "progress.csv garbage row": _progress_garbage,
}


RECOVERABLE = {"checkpoint named superscript two"}
"""Cases a resume survives: the newest checkpoint is no checkpoint, so it resumes from the one before."""


def expected(case: str, command: str) -> set[str]:
    """The outcomes allowed for `command` ("eval" or "resume") on `case`: an `eval` reads meta.json and the agent's
    weights only, so damage elsewhere may leave it working; a resume reads everything."""
    if case in RECOVERABLE:
        return {"ok"}
    if command == "eval" and not case.startswith(("meta", "agent")):
        return {"ok", "error"}
    return {"error"}


def damaged_copy(run: Path, target: Path, case: str) -> Path:
    """A copy of the run dir at `target` with case `case` applied to its newest checkpoint."""
    shutil.copytree(run, target)
    ckpts = sorted((p for p in (target / "checkpoints").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    CASES[case](ckpts[-1])
    return target


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes): compared before and after a command to see what it changed."""
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.name != ".lock":
            out[str(p.relative_to(root))] = p.read_bytes()
        elif p.is_dir() and not p.is_symlink():
            out[str(p.relative_to(root)) + "/"] = b""
    return out


# ------------------------------------------------------------------------------------ running a command on one
def _child(args: list[str], conn, file_size_limit: int | None = None) -> None:  # type: ignore[no-untyped-def]
    import torch

    from hrlkit.cli import main

    # A forked child cannot use the OpenMP thread pool its parent started (a model built at 2 threads in the pytest
    # process): its first parallel op would wait for threads that were not copied. One thread never touches the pool.
    torch.set_num_threads(1)

    if file_size_limit is not None:  # a disk that fills: writes past the limit fail with EFBIG
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    err, out = io.StringIO(), io.StringIO()
    code: int | str
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(args)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - a traceback is what the campaign counts
        import traceback

        code = "traceback"
        err.write(traceback.format_exc())
    conn.send((code, err.getvalue()))


def run_command(args: list[str], timeout: float = 120.0, file_size_limit: int | None = None) -> tuple[str, str]:
    """(outcome, stderr) of `hrlkit ARGS` in a forked child; `file_size_limit`: no file may grow past it (bytes)."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(args, child, file_size_limit))
    proc.start()
    child.close()
    if not parent.poll(timeout):
        proc.kill()
        proc.join()
        return "hang", ""
    try:
        code, err = parent.recv()
    except EOFError:
        proc.join()
        return "crash", f"signal {-proc.exitcode if proc.exitcode else '?'}"
    proc.join()
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("hrlkit: warning", "warning:"))]
    if code == 0:
        return "ok", err
    if code == 2 and len(lines) == 1 and lines[0].startswith("hrlkit: error:") and "Traceback" not in err:
        return "error", err
    return "traceback", err
