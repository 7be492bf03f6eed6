"""Option-Critic end to end: the CLI on CartPole (train, eval, help), continuous actions on Pendulum with one and two
envs, Meta-World's pick-place through `--env-kwargs`, and the exact resume (600 env steps in one go vs 300 + resume).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hrlkit.algorithms import Algorithm, OptionCritic
from hrlkit.cli import main
from tests.smoke.helpers import TINY, assert_same_progress, read_progress, run_cli, tiny_flags
from tests.smoke.test_resume import assert_same_state, full_state

OPTION_COLUMNS = [
    "train/critic_loss",
    "train/policy_loss",
    "train/termination_loss",
    "options/mean_duration",
    "options/termination_rate",
    "options/usage_0",
    "options/usage_3",
]


def test_cli_cartpole_train_eval_help(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`hrlkit train option-critic` in a subprocess; `eval` and `--help` through the same entry point in-process."""
    args = ["train", "option-critic", "--env", "CartPole-v1", "--run-dir", "run", "--total-env-steps", "300"]
    args += ["--seed", "1", "--no-progress", "--verbose", "0", "--n-options", "4", *tiny_flags(eval_freq=300)]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.describe()
    rows = read_progress(tmp_path / "run")
    assert [r["time/env_steps"] for r in rows] == ["100.0", "200.0", "300.0"]
    assert set(OPTION_COLUMNS) <= set(rows[-1]), sorted(rows[-1])
    usage = sum(float(rows[-1][f"options/usage_{k}"]) for k in range(4))
    assert usage == pytest.approx(1.0)

    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["eval", "run", "--episodes", "2"]) == 0
    evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert evaluated["episodes"] == 2 and evaluated["mean_length"] >= 8
    assert main(["train", "option-critic", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--algo.termination-reg" in text and "--algo.n-options" in text


@pytest.mark.parametrize("n_envs", [1, 2])
def test_pendulum_continuous_options(tmp_path: Path, n_envs: int) -> None:
    model = OptionCritic(
        "Pendulum-v1", run_dir=tmp_path, verbose=0, n_envs=n_envs, seed=0, **{**TINY, "hidden": (16,), "eval_freq": 300}
    )
    model.learn(300).close()
    agent = model.agent
    assert agent.learner.n_updates == (300 - TINY["learning_starts"]) // n_envs > 0
    assert len(agent.buffer) == 300
    stored = agent.buffer.actions[: 300 // n_envs]
    assert np.all(np.abs(stored) <= 1.0) and stored.std() > 0  # normalised actions, not all the same
    assert model.state.last_eval["mean_length"] == 200
    actions, options = model.predict(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -3.0]], np.float32))
    assert actions.shape == (2, 1) and np.all(np.abs(actions) <= 2.0) and options.shape == (2,)
    assert {"train/policy_loss", "train/termination_loss", "options/usage_0"} <= set(read_progress(tmp_path)[-1])


def test_metaworld_pick_place_through_env_kwargs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line of docs/options.md, in-process: the env name reaches gymnasium.make through --env-kwargs; with
    MT1's `seed` fixed the episode in flight is rebuilt on resume (Meta-World draws a task at each reset)."""
    flags = tiny_flags(hidden=(16,), learning_starts=50, eval_freq=0, log_interval=100, checkpoint_freq=0)
    kwargs = "{env_name: pick-place-v3, seed: 0, max_episode_steps: 40}"  # 2 episodes done at the checkpoint
    args = ["train", "option-critic", "--env", "Meta-World/MT1", "--env-kwargs", kwargs]
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--run-dir", "mw", "--total-env-steps", "100", "--no-progress", "--verbose", "0", *flags]) == 0
    assert "train/critic_loss" in read_progress(tmp_path / "mw")[-1]
    config = (tmp_path / "mw" / "config.yaml").read_text()
    assert "env_name: pick-place-v3" in config
    resume = ["train", "option-critic", "--resume", "mw", "--total-env-steps", "150", "--no-progress", "--verbose", "0"]
    assert main(resume) == 0  # refused with "not deterministic" when the reset's task draw is not seeded
    assert float(read_progress(tmp_path / "mw")[-1]["time/env_steps"]) == 150


# -------------------------------------------------------------------------------------------- exact resume
TOTAL = 600
CONFIG = {**TINY, "seed": 3, "n_envs": 2, "hidden": (16,), "eval_freq": 200, "option_epsilon_env_steps": 400}


@pytest.mark.parametrize("extra", [{}, {"actor_n_step": 3, "shared_features": False, "deliberation_cost": 0.1}])
def test_exact_resume(tmp_path: Path, extra: dict) -> None:
    """A CartPole run split at 300 env steps (options in flight, fresh actor rows pending -- with 3-step actor windows,
    in the middle of one) logs and learns what the uninterrupted run does: every progress.csv column but time/fps,
    weights, optimizer, replay with its option, episode-end and termination rings, the per-env options and the agent's
    generator."""
    config = {**CONFIG, **extra}
    a = OptionCritic("CartPole-v1", run_dir=tmp_path / "A", verbose=0, **config)
    a.learn(TOTAL).close()
    OptionCritic("CartPole-v1", run_dir=tmp_path / "B", verbose=0, total_env_steps=300, **config).learn().close()
    b = Algorithm.resume(tmp_path / "B", {"run.total_env_steps": TOTAL}, verbose=0)
    assert type(b) is OptionCritic and b.env_steps == 300
    b.learn().close()
    assert b.env_steps == a.env_steps == TOTAL
    assert_same_progress(a.run_dir, b.run_dir)
    assert_same_state(full_state(a), full_state(b))
    assert "options/mean_duration" in read_progress(a.run_dir)[-1]
