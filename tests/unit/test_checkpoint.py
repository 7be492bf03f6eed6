"""Checkpoints: the tree <-> safetensors + JSON round trip, optimizer state, rotation, lookup, and refusing pickles."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from hrlkit.agents import FlatAgent
from hrlkit.agents.base import Transition
from hrlkit.buffers import ReplayBuffer
from hrlkit.errors import HrlkitError
from hrlkit.learners import SACConfig, SACLearner
from hrlkit.learners.common import make_adam
from hrlkit.training.checkpoint import find_checkpoint, list_checkpoints, load_checkpoint, read_meta, save_checkpoint
from hrlkit.training.serialization import join_tree, load_tree, save_tree, split_tree


def assert_tree_equal(a, b) -> None:
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_tree_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_tree_equal(x, y)
    else:
        assert a == b


NESTED = {
    "weights": {"actor.net.0.weight": torch.arange(6.0).reshape(2, 3), "step": torch.tensor(3, dtype=torch.int64)},
    "state": {0: {"exp_avg": torch.ones(2)}, 1: {"exp_avg": torch.zeros(3, dtype=torch.float64)}},
    "obs": np.arange(12, dtype=np.float32).reshape(3, 4),
    "flags": np.array([True, False]),
    "betas": (0.9, 0.999),
    "mixed": (1, "a", None, torch.tensor([2.5]), [np.int64(7), np.float32(0.5)]),
    "lst": [1.5, None, {"x": np.zeros((0,), np.int64)}],
    "none": None,
    "text": "sac",
    "flag": True,
}


# -------------------------------------------------------------------------------------------- serialization
def test_split_join_round_trip():
    skeleton, tensors = split_tree(NESTED)
    skeleton = json.loads(json.dumps(skeleton))  # what remains is plain JSON
    assert all(isinstance(t, torch.Tensor) for t in tensors.values())
    back = join_tree(skeleton, tensors)
    expected = dict(NESTED)
    expected["mixed"] = (1, "a", None, torch.tensor([2.5]), [7, 0.5])  # numpy scalars come back as Python numbers
    assert_tree_equal(back, expected)


def test_save_load_tree_round_trip(tmp_path):
    save_tree(NESTED, tmp_path, "agent")
    assert {p.name for p in tmp_path.iterdir()} == {"agent.safetensors", "agent.json"}
    back = load_tree(tmp_path, "agent")
    assert_tree_equal(back["state"], NESTED["state"])  # int keys stay ints
    assert_tree_equal(back["obs"], NESTED["obs"])
    assert_tree_equal(back["betas"], (0.9, 0.999))


def test_paths_that_collide_keep_both_tensors(tmp_path):
    # A key with a dot and a nested dict spell the same dotted path "a.b"; both tensors must survive.
    tree = {"a.b": torch.ones(2), "a": {"b": torch.zeros(2)}, "a.b#": torch.full((2,), 2.0)}
    save_tree(tree, tmp_path, "t")
    assert_tree_equal(load_tree(tmp_path, "t"), tree)


def test_tensors_sharing_memory_are_saved(tmp_path):
    # The same tensor twice, and a view next to its base (safetensors refuses shared storage on its own).
    base = torch.arange(6.0).reshape(2, 3)
    tree = {"a": base, "again": base, "row": base[1]}
    save_tree(tree, tmp_path, "t")
    assert_tree_equal(load_tree(tmp_path, "t"), {"a": base, "again": base, "row": base[1].clone()})


def test_unsupported_type_is_named():
    with pytest.raises(TypeError, match="cannot serialise set at 'x.y'"):
        split_tree({"x": {"y": {1, 2}}})


def test_adam_state_round_trip_gives_identical_steps(tmp_path):
    def make(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
        return model, make_adam(model.parameters(), lr=1e-2)

    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(16, 3, generator=g), torch.randn(16, 1, generator=g)) for _ in range(5)]

    def step(model, opt, x, y) -> None:
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    model, opt = make(0)
    for x, y in data[:3]:
        step(model, opt, x, y)
    save_tree({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path, "agent")

    restored, restored_opt = make(1)  # different initial weights: everything must come from the file
    tree = load_tree(tmp_path, "agent")
    restored.load_state_dict(tree["model"])
    restored_opt.load_state_dict(tree["opt"])
    assert restored_opt.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    for x, y in data[3:]:
        step(model, opt, x, y)
        step(restored, restored_opt, x, y)
    for p, q in zip(model.parameters(), restored.parameters(), strict=True):
        assert torch.equal(p, q)  # bit-identical


# ---------------------------------------------------------------------------------------------- checkpoints
def meta(step: int) -> dict:
    """The least meta.json that `read_meta` accepts (its schema: `hrlkit.training.checkpoint.META_SCHEMA`)."""
    return {
        "algo": "sac",
        "env": "Pendulum-v1",
        "env_steps": step,
        "config": {"algo": "sac", "run": {}, "algo_config": {}},
    }


def write(parent: Path, step: int, keep: int = 3, replay=None) -> Path:
    return save_checkpoint(
        parent / str(step),
        meta(step),
        {"w": torch.full((2,), float(step))},
        {"n": step},
        replay,
        keep=keep,
    )


def test_save_checkpoint_layout_and_round_trip(tmp_path):
    replay = {"rewards": np.arange(4, dtype=np.float32), "pos": np.array(2)}
    ckpt = write(tmp_path / "checkpoints", 500, replay=replay)
    assert {p.name for p in ckpt.iterdir()} == {
        "meta.json",
        "agent.safetensors",
        "agent.json",
        "loop.safetensors",
        "loop.json",
        "replay.npz",
    }
    meta, agent, loop, back = load_checkpoint(ckpt)
    assert meta["algo"] == "sac" and meta["env_steps"] == 500 and "torch" in meta["versions"]
    assert torch.equal(agent["w"], torch.full((2,), 500.0)) and loop == {"n": 500}
    assert_tree_equal(back, replay)
    assert load_checkpoint(ckpt, with_replay=False)[3] is None


def test_rotation_keeps_the_newest_and_leaves_no_temporary_dir(tmp_path):
    parent = tmp_path / "run" / "checkpoints"
    for step in (900, 1000, 10000):  # numeric, not lexicographic, order: "10000" < "900" as text
        write(parent, step, keep=2)
    assert list_checkpoints(parent) == [1000, 10000]
    assert sorted(p.name for p in parent.iterdir()) == ["1000", "10000"]  # no .tmp-* left behind
    # rewriting an existing step replaces it in place
    write(parent, 10000, keep=2)
    assert list_checkpoints(parent) == [1000, 10000]
    assert sorted(p.name for p in parent.iterdir()) == ["1000", "10000"]


def test_find_checkpoint_picks_the_newest(tmp_path):
    run = tmp_path / "run"
    for step in (900, 1000, 10000):
        write(run / "checkpoints", step)
    (run / "checkpoints" / "20000").mkdir()  # a crashed write: no meta.json, never picked
    assert find_checkpoint(run) == run / "checkpoints" / "10000"
    assert find_checkpoint(run / "checkpoints") == run / "checkpoints" / "10000"
    assert find_checkpoint(run / "checkpoints" / "900") == run / "checkpoints" / "900"
    assert find_checkpoint(run, step=1000) == run / "checkpoints" / "1000"
    with pytest.raises(HrlkitError, match=r"no checkpoint at step 5 .*\[900, 1000, 10000\]"):
        find_checkpoint(run, step=5)
    with pytest.raises(HrlkitError, match="no checkpoint found"):
        find_checkpoint(tmp_path / "run" / "checkpoints" / "20000")
    with pytest.raises(HrlkitError, match="does not exist"):
        find_checkpoint(tmp_path / "nowhere")


class WritesMarker:
    """Unpickling this calls open(marker, "w"): if the file appears, something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_files_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "pwned"
    # the payload does run when unpickled: the test's own control
    pickle.loads(pickle.dumps(WritesMarker(tmp_path / "control"))).close()
    assert (tmp_path / "control").exists()

    path = tmp_path / "model.pkl"
    with path.open("wb") as f:
        pickle.dump({"weights": WritesMarker(marker)}, f)
    with pytest.raises(HrlkitError, match="pickle") as excinfo:
        find_checkpoint(path)
    assert "\n" not in str(excinfo.value)
    from hrlkit.algorithms import SAC

    with pytest.raises(HrlkitError, match="pickle"):
        SAC.load(path)
    assert not marker.exists()


def test_torch_save_files_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2), "payload": WritesMarker(marker)}, path)
    with pytest.raises(HrlkitError, match="pickle or zip archive"):
        find_checkpoint(path)
    assert not marker.exists()


def test_other_files_are_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(HrlkitError, match="is a file, not an hrlkit checkpoint"):
        find_checkpoint(path)


@pytest.mark.parametrize("keep_fraction", [0.0, 0.5, 0.99])
def test_truncated_weights_are_reported_as_corrupt(tmp_path, keep_fraction):
    ckpt = write(tmp_path, 100)
    weights = ckpt / "agent.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: int(len(data) * keep_fraction)])
    with pytest.raises(HrlkitError, match="corrupt") as excinfo:
        load_checkpoint(ckpt)
    assert "agent" in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_corrupt_json_and_replay_are_reported(tmp_path):
    ckpt = write(tmp_path, 100, replay={"rewards": np.zeros(3, np.float32)})
    (ckpt / "replay.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(HrlkitError, match="corrupt replay.npz"):
        load_checkpoint(ckpt)
    (ckpt / "loop.json").write_text("{not json")
    with pytest.raises(HrlkitError, match="corrupt \\(loop"):
        load_checkpoint(ckpt)
    (ckpt / "meta.json").write_text("{not json")
    with pytest.raises(HrlkitError, match="corrupt \\(meta.json"):
        read_meta(ckpt)


def test_missing_files_are_reported(tmp_path):
    ckpt = write(tmp_path, 100)
    (ckpt / "agent.json").unlink()
    with pytest.raises(HrlkitError, match="incomplete: agent.json is missing"):
        load_checkpoint(ckpt)
    (ckpt / "meta.json").unlink()
    with pytest.raises(HrlkitError, match="no meta.json"):
        load_checkpoint(ckpt)


# ------------------------------------------------------------------------------------------------ agent state
def test_flat_agent_state_round_trip_continues_identically(tmp_path):
    obs_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    act_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    def make_agent(seed: int) -> FlatAgent:
        torch.manual_seed(seed)
        learner = SACLearner(obs_space, act_space, SACConfig(hidden=(8,), batch_size=8))
        return FlatAgent(learner, ReplayBuffer(32, obs_space, act_space), batch_size=8, seed=seed)

    agent = make_agent(0)
    rng = np.random.default_rng(0)
    for _ in range(32):
        o, o2 = rng.uniform(-1, 1, (1, 3)), rng.uniform(-1, 1, (1, 3))
        agent.observe(
            Transition(
                o, rng.uniform(-2, 2, (1, 1)), rng.normal(size=1), o2, rng.random(1) < 0.1, np.zeros(1, bool), {}
            )
        )
    torch.manual_seed(1)
    agent.update(3)
    ckpt = save_checkpoint(tmp_path / "3", meta(3), agent.state_tree(), {}, agent.replay_state())

    restored = make_agent(5)
    _, agent_state, _, replay = load_checkpoint(ckpt)
    restored.load_state_tree(agent_state)
    restored.load_replay_state(replay)
    assert restored.learner.n_updates == 3
    torch.manual_seed(2)
    stats = agent.update(2)
    torch.manual_seed(2)
    restored_stats = restored.update(2)
    assert stats == restored_stats
    for (name, p), q in zip(agent.learner.state_dict().items(), restored.learner.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_agent_state_for_another_network_size_is_refused(tmp_path):
    space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def make(hidden):
        learner = SACLearner(space, space, SACConfig(hidden=hidden))
        return FlatAgent(learner, ReplayBuffer(4, space, space), batch_size=2, seed=0)

    save_tree(make((8,)).state_tree(), tmp_path, "agent")
    with pytest.raises(HrlkitError, match="do not fit this model"):
        make((4,)).load_state_tree(load_tree(tmp_path, "agent"))


def test_loop_state_carries_the_cuda_generators(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a CUDA run the exploration noise, target noise and relabel samples draw from the CUDA generators: their states
    go into the checkpoint and come back on resume (CUDA faked here: the test machine has none)."""
    from hrlkit.training.off_policy import LoopState

    saved = [torch.arange(16, dtype=torch.uint8), torch.arange(16, 32, dtype=torch.uint8)]
    restored: list[tuple[int, torch.Tensor]] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [t.clone() for t in saved])
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append((device, state)))
    save_tree(LoopState().to_tree(), tmp_path, "loop")
    LoopState.from_tree(load_tree(tmp_path, "loop"))
    assert [d for d, _ in restored] == [0, 1]
    assert all(torch.equal(state, want) for (_, state), want in zip(restored, saved, strict=True))

    # Resumed where CUDA is missing: nothing to restore, no error. Saved without CUDA in use: no states.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored.clear()
    LoopState.from_tree(load_tree(tmp_path, "loop"))
    assert restored == []
    assert LoopState().to_tree()["cuda_rng"] == []
