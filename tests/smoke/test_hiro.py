"""HIRO end to end: training on the toy point U-maze (both levels update, the HRL columns are logged), SAC at both
levels, an exact resume from a checkpoint taken mid-segment, the CLI (train, eval), and a Dict-observation robotics env.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hrlkit import HIRO
from hrlkit.agents.hiro import HIROConfig
from hrlkit.agents.hiro.config import AdjacencyConfig, HindsightConfig
from hrlkit.algorithms import Algorithm
from hrlkit.learners import SACConfig, SACLearner, TD3Config, TD3Learner
from hrlkit.training.checkpoint import list_checkpoints, load_checkpoint
from hrlkit.training.serialization import split_tree
from tests.smoke.helpers import assert_same_progress, read_progress, run_cli

ENV = "hrlkit/PointUMaze-v0"  # 100-step episodes, state (x, y, goal x, goal y), goal space = x-y
RUN: dict[str, Any] = {
    "seed": 0,
    "learning_starts": 50,
    "buffer_size": 1000,
    "eval_freq": 0,
    "eval_episodes": 1,
    "log_interval": 100,
    "checkpoint_freq": 100,
    "torch_threads": 1,
}
HIRO_COLUMNS = [
    "low/train/critic_loss",
    "high/train/critic_loss",
    "hiro/relabel_kept_original",
    "hiro/intrinsic_reward",
]


def tiny_config(algo: str = "td3", **changes: Any) -> HIROConfig:
    level = (SACConfig if algo == "sac" else TD3Config)(hidden=(16, 16), batch_size=16)
    cfg = HIROConfig(high=level, low=replace(level), goal_low=(-2.5,), goal_high=(2.5,), high_buffer_size=200)
    for k, v in changes.items():
        setattr(cfg, k, v)
    return cfg


def columns(run_dir: Path) -> list[str]:
    return list(read_progress(run_dir)[0])


@pytest.mark.parametrize("n_envs", [1, 2])
def test_hiro_trains_on_the_point_maze(tmp_path: Path, n_envs: int) -> None:
    total = 400
    model = HIRO(ENV, config=tiny_config(), run_dir=tmp_path, verbose=0, n_envs=n_envs, **{**RUN, "eval_freq": 200})
    model.learn(total).close()
    agent, c = model.agent, model.config.algo_config.high_level_interval
    assert isinstance(agent.high, TD3Learner) and isinstance(agent.low, TD3Learner)
    # Low: one update per vector step past learning_starts; high: one per multiple of c env steps passed after the
    # first update call (segments are stored by then), i.e. one per decision whatever n_envs is.
    assert agent.low.n_updates == (total - RUN["learning_starts"]) // n_envs > 0
    first_call = total - n_envs * (agent.low.n_updates - 1)  # env steps at the first update
    assert agent.high.n_updates == total // c - first_call // c > 0
    assert len(agent.low_buffer) == total
    assert len(agent.high_buffer) == total // c  # the 100-step episodes end on segment boundaries
    np.testing.assert_array_equal(agent.high_buffer.lengths[: len(agent.high_buffer)], c)
    assert not agent.high_buffer.terminated.any()  # the maze only ends by its time limit
    assert [row["time/env_steps"] for row in read_progress(tmp_path)] == ["100.0", "200.0", "300.0", "400.0"]
    assert set(HIRO_COLUMNS) <= set(columns(tmp_path))
    assert model.state.last_eval["mean_length"] == 100
    actions, _ = model.predict(np.array([[1.5, 1.5, 1.5, 3.5], [3.5, 2.5, 1.5, 3.5]], np.float32))
    assert actions.shape == (2, 2) and np.all(np.abs(actions) <= 1.0)


def test_sac_at_both_levels(tmp_path: Path) -> None:
    model = HIRO(ENV, config=tiny_config("sac"), run_dir=tmp_path, verbose=0, **RUN).learn(300)
    model.close()
    assert isinstance(model.agent.high, SACLearner) and isinstance(model.agent.low, SACLearner)
    assert model.agent.low.n_updates == 250 and model.agent.high.n_updates == 25
    cols = columns(tmp_path)
    assert set(HIRO_COLUMNS) <= set(cols)
    assert {"low/train/entropy_coef", "high/train/entropy_coef"} <= set(cols)


# ------------------------------------------------------------------------------------------------------ resume
def full_state(model: Algorithm) -> dict[str, Any]:
    """Both learners' weights and optimizer moments, the segments in flight, both buffers, counters and RNG."""
    skeleton, tensors = split_tree({"agent": model.agent.state_tree(), "replay": model.agent.replay_state()})
    return {**tensors, "json": skeleton}


@pytest.mark.parametrize(
    ("n_envs", "per", "hindsight"),
    [(1, False, False), (2, False, False), (1, True, False), (2, False, True)],
    ids=["1env", "2envs", "per", "hindsight+adjacency"],
)
def test_exact_resume_mid_segment(tmp_path: Path, n_envs: int, per: bool, hindsight: bool) -> None:
    """c = 7, logs and checkpoints every 50 env steps: run B stops at 250, inside an episode (they last 100 steps and
    end every segment) and inside a segment, and resumes to 600; it logs and ends exactly as run A, which ran 600 in
    one go. With prioritized replay at the high level, its priorities and beta schedule resume exactly too; with
    goal-conditioned HIRO, hindsight (the maze as a goal env) and the adjacency constraint (trained every 100 env
    steps, before and after the stop), the hindsight draws, episode bounds, graph and adjacency network too."""
    total, stop = 600, 250
    config = {**RUN, "seed": 3, "eval_freq": 200, "log_interval": 50, "checkpoint_freq": 50, "n_envs": n_envs}
    if per:
        config |= {"prioritized_replay": True, "is_weight_anneal_env_steps": total}
    changes: dict[str, Any] = {"high_level_interval": 7}
    if hindsight:
        config |= {"env_kwargs": {"goal_env": True}}
        changes |= {"state_keys": ("observation",), "goal_conditioned": True, "hindsight": HindsightConfig(True)}
        changes |= {"adjacency": AdjacencyConfig(True, cell_size=0.5, train_freq=100, epochs=2, hidden=16)}
    a = HIRO(ENV, config=tiny_config(**changes), run_dir=tmp_path / "A", verbose=0, **config)
    a.learn(total).close()
    b_dir = tmp_path / "B"
    HIRO(ENV, config=tiny_config(**changes), run_dir=b_dir, verbose=0, **config).learn(stop).close()
    assert list_checkpoints(b_dir / "checkpoints")[-1] == stop
    _, agent_state, _, _ = load_checkpoint(b_dir / "checkpoints" / str(stop))
    episode_step = (stop // n_envs) % 100  # steps into each env's current episode: 50 (n_envs 1) or 25 (n_envs 2)
    assert np.all(agent_state["segments"]["seg_t"] == episode_step % 7) and episode_step % 7 > 0  # mid-segment

    b = Algorithm.resume(b_dir, {"run.total_env_steps": total}, verbose=0)
    assert type(b) is HIRO and b.env_steps == stop
    b.learn().close()
    assert b.env_steps == a.env_steps == total
    assert_same_progress(a.run_dir, b.run_dir)
    assert set(HIRO_COLUMNS) <= set(columns(b.run_dir))
    if hindsight:
        assert "hiro/hindsight_relabeled" in columns(b.run_dir)
        assert b.agent.high_buffer.ep_end.max() >= 0  # episodes closed, with their bounds
        assert b.agent.adjacency.rounds == 6 and "high/train/actor_penalty" in columns(b.run_dir)  # 100, ..., 600
    sa, sb = full_state(a), full_state(b)
    assert sa.keys() == sb.keys()
    different = [
        k for k in sa if not (torch.equal(sa[k], sb[k]) if isinstance(sa[k], torch.Tensor) else sa[k] == sb[k])
    ]
    assert not different, f"differs after resume: {different[:8]}"
    if per:  # the high level's TD errors reached the priorities: the stored segments no longer share one value
        sampler = b.agent.high_buffer.sampler
        leaves = sampler.sum_tree[np.arange(len(b.agent.high_buffer))]
        assert leaves.min() < leaves.max()


# --------------------------------------------------------------------------------------------------------- CLI
def test_cli_train_and_eval(tmp_path: Path) -> None:
    flags = {
        "--total-env-steps": "300", "--seed": "0", "--high.hidden": "16,16", "--low.hidden": "16,16",
        "--high.batch-size": "16", "--low.batch-size": "16", "--high-buffer-size": "200", "--learning-starts": "50",
        "--buffer-size": "1000", "--eval-freq": "300", "--eval-episodes": "1", "--log-interval": "100",
        "--checkpoint-freq": "100", "--torch-threads": "1", "--run-dir": "run", "--verbose": "0",
    }  # fmt: skip
    args = ["train", "hiro", "--env", ENV, "--goal-low=-2.5", "--goal-high", "2.5", "--no-progress"]
    train = run_cli([*args, *(x for kv in flags.items() for x in kv)], tmp_path)
    assert train.returncode == 0, train.describe()
    run_dir = tmp_path / "run"
    assert list_checkpoints(run_dir / "checkpoints")[-1] == 300
    assert set(HIRO_COLUMNS) <= set(columns(run_dir))
    cfg = HIRO.load(run_dir).config.algo_config
    assert (cfg.goal_low, cfg.goal_high, cfg.high.hidden, cfg.low.hidden) == ((-2.5,), (2.5,), (16, 16), (16, 16))

    result = run_cli(["eval", "run", "--episodes", "1"], tmp_path)
    assert result.returncode == 0, result.describe()
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["episodes"] == 1 and out["mean_length"] == 100 and out["checkpoint_env_steps"] == 300


# ----------------------------------------------------------------------------------------- Dict observations
def test_fetch_reach_dict_observations(monkeypatch: pytest.MonkeyPatch) -> None:
    """FetchReach-v4: state = observation (10) + desired_goal (3), goals on the gripper's xyz, SAC at both levels;
    50-step episodes cut every third segment of c = 20 to 10 steps (truncated, so not terminated)."""
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    cfg = tiny_config(
        "sac", state_keys=("observation", "desired_goal"), goal_indices=(0, 1, 2), goal_low=(-0.2,), goal_high=(0.2,),
        high_level_interval=20,
    )  # fmt: skip
    model = HIRO("FetchReach-v4", config=cfg, verbose=0, **RUN).learn(200)
    agent = model.agent
    assert agent.view.dim == 13
    # high: one step per multiple of c = 20 env steps after the first update (env step 51): 200 // 20 - 51 // 20 = 8
    assert agent.low.n_updates == 150 and agent.high.n_updates == 8
    np.testing.assert_array_equal(agent.high_buffer.lengths[: len(agent.high_buffer)], [20, 20, 10] * 4)
    assert not agent.high_buffer.terminated.any()
    obs, _ = model.envs.envs[0].reset(seed=0)
    action, state = model.predict(obs)
    assert action.shape == model.action_space.shape
    assert np.all(np.abs(state[0]) <= 0.2)  # the first goal, inside the goal range
    model.close()
