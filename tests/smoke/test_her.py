"""HER end to end: SAC+HER and DQN+HER train with relabelled batches (n_envs 1 and 2), resume exactly (with observation
normalisation, and with prioritized replay), and the CLI takes --her and --normalize-obs flags and refuses them where
they do not apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hrlkit import SAC, TD3, Algorithm
from hrlkit.errors import HrlkitError
from hrlkit.training.checkpoint import list_checkpoints
from tests.smoke.helpers import TINY, assert_same_progress, read_progress, run_cli_many
from tests.smoke.test_resume import assert_same_state, full_state


def make(cls: type[Algorithm], run_dir: Path, **kwargs: Any) -> Algorithm:
    settings = {**TINY, "seed": 5, "eval_freq": 300, "her": True, **kwargs}
    return cls("FetchReach-v4", run_dir=run_dir, verbose=0, **settings)


@pytest.mark.parametrize(("cls", "n_envs"), [(SAC, 2), (TD3, 1)])
def test_trains_with_relabelled_batches(tmp_path: Path, cls: type[Algorithm], n_envs: int) -> None:
    model = make(cls, tmp_path / "run", n_envs=n_envs, total_env_steps=300)
    model.learn()
    model.close()
    row = read_progress(tmp_path / "run")[-1]
    assert 0.7 < float(row["her/relabeled"]) < 0.9  # 1 - 1/(4 + 1) of each batch, on average
    assert "train/critic_loss" in row and "eval/success_rate" in row


@pytest.mark.parametrize("extra", [
    {"normalize_obs": True},  # the statistics are saved and restored with the checkpoint
    {"prioritized_replay": True, "is_weight_anneal_env_steps": 600},
], ids=["normalize_obs", "per"])  # fmt: skip
def test_exact_resume_with_her(tmp_path: Path, extra: dict[str, Any]) -> None:
    a = make(SAC, tmp_path / "A", total_env_steps=600, **extra)
    a.learn()
    a.close()
    b = make(SAC, tmp_path / "B", total_env_steps=250, **extra)
    b.learn()
    b.close()
    assert list_checkpoints(tmp_path / "B" / "checkpoints")[-1] == 250  # inside an episode (50 steps) and a log period
    b = Algorithm.resume(tmp_path / "B", {"run.total_env_steps": 600}, verbose=0)
    b.learn()
    b.close()
    assert_same_progress(a.run_dir, b.run_dir)
    assert_same_state(full_state(a), full_state(b))
    if "normalize_obs" in extra:  # the statistics belong to the weights: resuming without them is refused
        with pytest.raises(HrlkitError, match="trained with observation normalisation"):
            Algorithm.resume(tmp_path / "B", {"run.total_env_steps": 800, "replay.normalize_obs": False}, verbose=0)


def test_cli_her_flags_and_refusals(tmp_path: Path) -> None:
    flags = ["--total-env-steps", "120", "--learning-starts", "50", "--batch-size", "16", "--hidden", "16",
             "--eval-freq", "0", "--no-progress"]  # fmt: skip
    commands = {
        "ok": ["train", "ddpg", "--env", "FetchReach-v4", "--her", "true", "--her.strategy", "final",
               "--her.n-sampled-goal", "2", "--run-dir", "ddpg", *flags],
        "not a goal env": ["train", "sac", "--env", "Pendulum-v1", "--her", "true", *flags],
        "hiro": ["train", "hiro", "--env", "PointMaze_UMaze-v3", "--her", "true", "--total-env-steps", "100"],
        "bad strategy": ["train", "sac", "--env", "FetchReach-v4", "--her", "true", "--her.strategy", "past", *flags],
        "norm on hiro": ["train", "hiro", "--env", "PointMaze_UMaze-v3", "--normalize-obs", "true",
                         "--total-env-steps", "100"],
        "bad clip": ["train", "sac", "--env", "FetchReach-v4", "--normalize-obs", "true", "--obs-clip", "0", *flags],
    }  # fmt: skip
    results = run_cli_many(commands, tmp_path, jobs=4)  # mostly interpreter start-up: they overlap well
    ok = results.pop("ok")
    assert ok.returncode == 0, ok.describe()
    config = (tmp_path / "ddpg" / "config.yaml").read_text()
    assert "strategy: final" in config and "n_sampled_goal: 2" in config
    messages = {
        "not a goal env": "HER needs a goal env",
        "hiro": "--her applies to sac, td3, ddpg, dqn and sac-discrete, not hiro: drop --her (HIRO's own hindsight",
        "bad strategy": "unknown HER strategy 'past'",
        "norm on hiro": "--normalize-obs applies to",
        "bad clip": "--replay.obs-clip = 0.0: it must be > 0",
    }
    for name, result in results.items():
        message = messages[name]
        assert result.returncode == 2, (name, result.describe())
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (name, result.describe())
