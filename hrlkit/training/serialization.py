"""Nested state (module weights, optimizer states, RNG states) to safetensors + JSON, and back, without pickle.

`split_tree` walks dicts, lists and tuples: every tensor (and numpy array) is moved to a flat `{path: tensor}` map
saved with safetensors, and replaced in the tree by `{"__tensor__": path}`; what remains is JSON. Dicts whose keys are
not all strings (an optimizer's `state` is keyed by int) are stored as `{"__items__": [[key, value], ...]}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from hrlkit.errors import HrlkitError


def split_tree(tree: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    tensors: dict[str, torch.Tensor] = {}
    storages: set[tuple[torch.device, int]] = set()

    def store(t: torch.Tensor, path: str) -> str:
        # Dotted paths can collide ({"a.b": x, "a": {"b": y}}): the skeleton records the key actually used.
        key = path
        while key in tensors:
            key += "#"
        # safetensors refuses tensors that share memory (the same tensor twice, a view beside its base): copy those.
        storage = (t.device, t.untyped_storage().data_ptr())
        if storage in storages and t.numel() > 0:
            t = t.clone()
        storages.add(storage)
        tensors[key] = t
        return key

    def walk(x: Any, path: str) -> Any:
        if isinstance(x, torch.Tensor):
            return {"__tensor__": store(x.detach().cpu().contiguous(), path)}
        if isinstance(x, np.ndarray):
            return {"__tensor__": store(torch.from_numpy(np.ascontiguousarray(x)), path), "numpy": True}
        if isinstance(x, dict):
            if all(isinstance(k, str) for k in x):
                return {k: walk(v, f"{path}.{k}" if path else k) for k, v in x.items()}
            return {"__items__": [[k, walk(v, f"{path}.{k}")] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {"__tuple__": [walk(v, f"{path}.{i}") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(x)]
        if isinstance(x, (np.integer, np.floating, np.bool_)):
            return x.item()
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"cannot serialise {type(x).__name__} at {path!r}")

    return walk(tree, prefix), tensors


def join_tree(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(tree, dict):
        if "__tensor__" in tree:
            t = tensors[tree["__tensor__"]]
            return t.numpy() if tree.get("numpy") else t
        if "__items__" in tree:
            return {k: join_tree(v, tensors) for k, v in tree["__items__"]}
        if "__tuple__" in tree:
            return tuple(join_tree(v, tensors) for v in tree["__tuple__"])
        return {k: join_tree(v, tensors) for k, v in tree.items()}
    if isinstance(tree, list):
        return [join_tree(v, tensors) for v in tree]
    return tree


def save_tree(tree: Any, directory: Path, name: str) -> None:
    """Writes `name.safetensors` and `name.json` into `directory`."""
    skeleton, tensors = split_tree(tree)
    path = directory / f"{name}.safetensors"
    try:
        save_file(tensors, str(path))
    except SafetensorError as e:  # its I/O errors (a full disk) as the OSError they are
        import os
        import re

        code = re.search(r"os error (\d+)", str(e))
        if code is None:
            raise
        raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) from None
    (directory / f"{name}.json").write_text(json.dumps(skeleton))


JSON_LIMIT = 256 * 2**20
"""the largest JSON file a checkpoint may hold (bytes); a larger one is refused unread"""


def regular_file(path: Path, limit: int | None = None) -> Path:
    """`path` when it is a regular file (after links) of at most `limit` bytes; else one line, before any read: a FIFO
    would hang the read, /dev/zero would never end it."""
    import stat

    try:
        info = path.stat()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise HrlkitError(f"cannot read {path}: {e.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise HrlkitError(
            f"{path} is not a regular file (a FIFO, device or directory): the checkpoint is corrupt, use another one"
        )
    if limit is not None and info.st_size > limit:
        raise HrlkitError(
            f"{path} holds {info.st_size} bytes, more than a checkpoint's {limit}: it is corrupt, use another one"
        )
    return path


def load_tree(directory: Path, name: str) -> Any:
    st, js = directory / f"{name}.safetensors", directory / f"{name}.json"
    try:
        tensors = load_file(str(regular_file(st)))
        skeleton = json.loads(regular_file(js, JSON_LIMIT).read_text())
        return join_tree(skeleton, tensors)
    except FileNotFoundError as e:
        raise HrlkitError(f"checkpoint {directory} is incomplete: {Path(e.filename).name} is missing") from None
    except (SafetensorError, json.JSONDecodeError, KeyError, OSError, ValueError, RecursionError) as e:
        raise HrlkitError(
            f"checkpoint {directory} is corrupt ({name}: {(str(e).splitlines() or [type(e).__name__])[0][:160]}): use "
            "another checkpoint"
        ) from None


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: Any) -> None:
    """`optimizer.load_state_dict(state)`, keeping the optimizer's own hyperparameters, after checking that the saved
    state fits the optimizer's parameters: the same groups and parameter counts, and every per-parameter tensor
    (Adam's moments) of its parameter's shape and dtype, each `step` a one-element float tensor. torch checks none of
    this, and its fused and foreach kernels write out of bounds for a moment of the wrong shape (a segfault, not an
    error)."""
    if not isinstance(state, dict) or not isinstance(state.get("param_groups"), list):
        raise ValueError("optimizer state is not a dict with param_groups")
    saved_groups, groups = state["param_groups"], optimizer.param_groups
    if len(saved_groups) != len(groups) or any(
        not isinstance(s, dict) or not isinstance(s.get("params"), list) or len(s["params"]) != len(g["params"])
        for s, g in zip(saved_groups, groups, strict=False)
    ):
        raise ValueError("optimizer state has other parameter groups than the model")
    params = {
        pid: p
        for s, g in zip(saved_groups, groups, strict=True)
        for pid, p in zip(s["params"], g["params"], strict=True)
    }
    per_param = state.get("state")
    if not isinstance(per_param, dict):
        raise ValueError("optimizer state has no per-parameter state")
    for pid, values in per_param.items():
        if pid not in params or not isinstance(values, dict):
            raise ValueError(f"optimizer state names parameter {pid!r}, which the model does not have")
        p = params[pid]
        for key, v in values.items():
            if not isinstance(v, torch.Tensor):
                continue
            if key == "step":
                if v.numel() != 1 or not v.dtype.is_floating_point:
                    raise ValueError(f"optimizer step of parameter {pid} has shape {tuple(v.shape)}, dtype {v.dtype}")
            elif v.shape != p.shape or v.dtype != p.dtype:
                raise ValueError(
                    f"optimizer {key} of parameter {pid} has shape {tuple(v.shape)} and dtype {v.dtype}, the "
                    f"parameter {tuple(p.shape)} and {p.dtype}"
                )
    # The moments come from the checkpoint, the hyperparameters (learning rate, betas, eps) from the config the
    # optimizer was built with: a resume with `--actor-lr 5e-4` trains at 5e-4, as its config.yaml says. (Schedules
    # such as PPO's annealing set the rate again before each update.)
    configured = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, hyper in zip(optimizer.param_groups, configured, strict=True):
        group.update(hyper)


def check_tensors_fit(saved: Any, expected: dict[str, torch.Tensor], what: str) -> None:
    """Raises ValueError unless `saved` holds exactly `expected`'s names, each a tensor of the same shape and dtype
    (`load_state_dict` would silently cast an integer tensor into float weights)."""
    if not isinstance(saved, dict):
        raise ValueError(f"{what} are not a mapping of names to tensors")
    missing, extra = expected.keys() - saved.keys(), saved.keys() - expected.keys()
    if missing or extra:
        raise ValueError(f"{what} miss {sorted(missing)[:3]} or hold unknown {sorted(extra)[:3]}")
    for name, t in expected.items():
        v = saved[name]
        if not isinstance(v, torch.Tensor) or v.shape != t.shape or v.dtype != t.dtype:
            got = f"{tuple(v.shape)} {v.dtype}" if isinstance(v, torch.Tensor) else type(v).__name__
            raise ValueError(f"{what} {name!r} is {got}, expected {tuple(t.shape)} {t.dtype}")
