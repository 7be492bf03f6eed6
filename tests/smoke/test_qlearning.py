"""Tabular Q-learning end to end: the exact resume (600 env steps in one go vs 300 + resume + 300) on a Discrete env and
on a binned Box env with two envs; the presets through the CLI entry point; the run settings it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hrlkit.algorithms import Algorithm, QLearning
from hrlkit.cli import main
from hrlkit.errors import HrlkitError
from hrlkit.training.checkpoint import list_checkpoints
from tests.smoke.helpers import assert_same_progress, read_progress
from tests.smoke.test_resume import assert_same_state, full_state, tensorboard_scalars

TOTAL = 600
SMALL: dict[str, Any] = {
    "seed": 3,
    "eval_freq": 200,
    "eval_episodes": 2,
    "log_interval": 100,
    "checkpoint_freq": 100,
    "torch_threads": 1,
    "exploration_env_steps": 400,
}
CARTPOLE = {"bins": (1, 1, 6, 12), "obs_low": (-2.4, -3.0, -0.21, -2.0), "obs_high": (2.4, 3.0, 0.21, 2.0)}
CASES = {"FrozenLake-v1": (1, {}), "CartPole-v1": (2, CARTPOLE)}


@pytest.mark.parametrize("env", list(CASES))
def test_exact_resume(tmp_path: Path, env: str) -> None:
    n_envs, extra = CASES[env]
    settings = {**SMALL, **extra, "n_envs": n_envs}
    a = QLearning(env, run_dir=tmp_path / "A", verbose=0, **settings).learn(TOTAL)
    a.close()
    assert a.agent.learner.n_updates == TOTAL // n_envs  # online: every vector step is learned from, once
    assert np.any(a.agent.learner.table != 0.0)
    assert {"train/td_error", "train/q_mean", "rollout/exploration_rate"} <= set(read_progress(a.run_dir)[-1])

    b_dir = tmp_path / "B"
    QLearning(env, run_dir=b_dir, verbose=0, total_env_steps=300, **settings).learn().close()
    assert list_checkpoints(b_dir / "checkpoints")[-1] == 300
    b = Algorithm.resume(b_dir, {"run.total_env_steps": TOTAL}, verbose=0)
    assert type(b) is QLearning and b.env_steps == 300
    b.learn().close()
    assert_same_progress(a.run_dir, b.run_dir)
    assert_same_state(full_state(a), full_state(b))  # the table, the generator, the last transition
    assert tensorboard_scalars(a.run_dir) == tensorboard_scalars(b.run_dir)


def test_presets_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The CartPole-v1, FrozenLake-v1 and Taxi-v4 presets, shortened, then `hrlkit eval` of the binned CartPole run."""
    monkeypatch.chdir(tmp_path)
    for env in ("CartPole-v1", "FrozenLake-v1", "Taxi-v4"):
        args = ["train", "qlearning", "--env", env, "--run-dir", env, "--total-env-steps", "500", "--no-progress"]
        assert main([*args, "--verbose", "0", "--eval-freq", "500", "--eval-episodes", "2"]) == 0
        assert "done: 500 env steps" in capsys.readouterr().out
    config = (tmp_path / "CartPole-v1" / "config.yaml").read_text()
    assert "obs_low:" in config and "- 12" in config  # the preset's ranges and bins
    assert main(["eval", "CartPole-v1", "--episodes", "2"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["episodes"] == 2


def test_refused_settings() -> None:
    # Online Q-learning learns from each step once, right after it: replay settings have no meaning for it.
    for key, value in (("train_freq", 4), ("prioritized_replay", True), ("learning_starts", 100)):
        with pytest.raises(HrlkitError, match=f"--{key.replace('_', '-')} is a replay setting and qlearning has no"):
            QLearning("FrozenLake-v1", verbose=0, **{key: value})
    with pytest.raises(HrlkitError, match="dimension 1 is unbounded"):
        QLearning("CartPole-v1", verbose=0, preset=False)  # the preset gives the bins' ranges
