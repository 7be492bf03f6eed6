"""Checkpoint pieces shared by agents with several learners and buffers (HIRO, h-DQN): one layout for all of them.

learners_tree({"high": h, "low": l}) -> {"high": weights, "low": weights,
                                          "optimizers": {"high": {...}, "low": {...}},
                                          "extra": {"high": counters, "low": counters}}
replay_tree({"low": buf, "high": buf}) -> {"low.obs": ..., "high.states": ...}   (flat names for np.savez)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hrlkit.learners.base import Learner
from hrlkit.training.serialization import check_tensors_fit, load_optimizer_state


def learners_tree(learners: Mapping[str, Learner]) -> dict[str, Any]:
    """Weights (online and target), optimizer moments and counters of named learners."""
    return {
        **{name: learner.state_dict() for name, learner in learners.items()},
        "optimizers": {name: {k: o.state_dict() for k, o in lr.optimizers.items()} for name, lr in learners.items()},
        "extra": {name: learner.extra_state() for name, learner in learners.items()},
    }


def load_learners_tree(tree: Mapping[str, Any], learners: Mapping[str, Learner]) -> None:
    """The inverse of `learners_tree`; raises RuntimeError or KeyError when the shapes or names do not fit."""
    for name, learner in learners.items():
        check_tensors_fit(tree[name], learner.state_dict(), f"{name} weights")
        learner.load_state_dict(tree[name])
        for k, o in learner.optimizers.items():
            load_optimizer_state(o, tree["optimizers"][name][k])
        learner.load_extra_state(tree["extra"][name])


def replay_tree(buffers: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Each buffer's `state_dict()` with its name as a prefix: `{"low.obs": ..., "high.states": ...}`."""
    return {f"{name}.{k}": v for name, buf in buffers.items() for k, v in buf.state_dict().items()}


def load_replay_tree(state: Mapping[str, np.ndarray], buffers: Mapping[str, Any]) -> None:
    for name, buf in buffers.items():
        prefix = f"{name}."
        buf.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
