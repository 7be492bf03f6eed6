"""h-DQN end to end on the chain: a short run logs both levels and the subgoal diagnostics, one and two envs; the exact
resume (600 env steps in one go vs 300 + resume + 300); the CLI trains h-DQN and its flat baselines with the chain's
presets (an env id with a slash), evaluates and plots them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hrlkit.algorithms import HDQN, Algorithm
from hrlkit.cli import main
from hrlkit.training.checkpoint import list_checkpoints
from tests.smoke.helpers import assert_same_progress, read_progress, run_cli
from tests.smoke.test_resume import assert_same_state, full_state, tensorboard_scalars

CHAIN = "hrlkit/HDQNChain-v0"
TOTAL = 600
SMALL: dict[str, Any] = {
    "seed": 3,
    "learning_starts": 100,
    "buffer_size": 1000,
    "eval_freq": 200,
    "eval_episodes": 3,
    "log_interval": 100,
    "checkpoint_freq": 100,
    "torch_threads": 1,
    "meta.hidden": (16,),
    "controller.hidden": (16,),
    "meta.batch_size": 16,
    "controller.batch_size": 16,
    "meta.target_update_interval": 50,
    "controller.target_update_interval": 50,
    "meta_learning_starts": 8,
    "meta_exploration_env_steps": 400,
    "controller_exploration_env_steps": 400,
}
COLUMNS = [
    "rollout/ep_rew_mean",
    "meta/train/loss",
    "controller/train/loss",
    "hdqn/meta_epsilon",
    "hdqn/controller_epsilon",
    "hdqn/subgoal_success_rate",
    "hdqn/subgoals_per_episode",
    "hdqn/intrinsic_reward",
    "eval/mean_return",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory):
    cache: dict[int, Algorithm] = {}

    def get(n_envs: int) -> Algorithm:
        if n_envs not in cache:
            model = HDQN(CHAIN, run_dir=tmp_path_factory.mktemp(f"A_{n_envs}"), verbose=0, n_envs=n_envs, **SMALL)
            model.learn(TOTAL).close()
            cache[n_envs] = model
        return cache[n_envs]

    return get


@pytest.mark.parametrize("n_envs", [1, 2])
def test_run_logs_both_levels(uninterrupted, n_envs: int) -> None:
    model = uninterrupted(n_envs)
    agent = model.agent
    rows = read_progress(model.run_dir)
    assert [r["time/env_steps"] for r in rows] == [str(float(s)) for s in range(100, TOTAL + 1, 100)]
    assert set(COLUMNS) <= set(rows[-1]), sorted(rows[-1])
    assert agent.n_low_updates == (TOTAL - 100) // n_envs
    assert 0 < agent.n_high_updates <= agent.n_low_updates
    assert len(agent.low_buffer) == TOTAL
    assert len(agent.high_buffer) >= model.state.n_episodes  # at least one subgoal per finished episode
    assert float(rows[-1]["hdqn/meta_epsilon"]) == pytest.approx(0.1)  # annealed over 400 env steps
    actions, state = model.predict(1)  # one observation: a scalar action and the subgoal state
    assert actions in (0, 1) and model.subgoal(state).target.shape == (1, 1)


@pytest.mark.parametrize("n_envs", [1, 2])
def test_exact_resume(uninterrupted, tmp_path: Path, n_envs: int) -> None:
    a = uninterrupted(n_envs)
    b_dir = tmp_path / "B"
    HDQN(CHAIN, run_dir=b_dir, verbose=0, n_envs=n_envs, total_env_steps=300, **SMALL).learn().close()
    assert list_checkpoints(b_dir / "checkpoints")[-1] == 300
    b = Algorithm.resume(b_dir, {"run.total_env_steps": TOTAL}, verbose=0)
    assert type(b) is HDQN and b.env_steps == 300
    b.learn().close()
    assert b.env_steps == TOTAL
    assert_same_progress(a.run_dir, b.run_dir)
    assert_same_state(full_state(a), full_state(b))  # both learners, optimizers, subgoals in flight, both replays, rng
    assert tensorboard_scalars(a.run_dir) == tensorboard_scalars(b.run_dir)
    assert (a.run_dir / "config.yaml").read_text() == (b.run_dir / "config.yaml").read_text()


def test_cli_chain_presets_train_eval_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """h-DQN, tabular Q-learning and DQN with the chain's preset (hrlkit/presets/hrlkit/HDQNChain-v0.yaml), shortened:
    h-DQN in a subprocess, the baselines (and then `hrlkit eval` and `hrlkit plot`) through the same entry point
    in-process, which saves two interpreter start-ups."""
    common = ["--env", CHAIN, "--total-env-steps", "400", "--seed", "1", "--no-progress", "--verbose", "0"]
    common += ["--eval-freq", "400", "--eval-episodes", "3", "--log-interval", "200"]
    warm_up = ["--learning-starts", "100"]  # the replay learners'; online Q-learning has no replay settings
    result = run_cli(["train", "hdqn", "--run-dir", "hdqn", *common, *warm_up], tmp_path)
    assert result.returncode == 0, result.describe()
    assert "done: 400 env steps" in result.stdout, result.describe()
    monkeypatch.chdir(tmp_path)
    for algo, extra in (("qlearning", []), ("dqn", warm_up)):
        assert main(["train", algo, "--run-dir", algo, *common, *extra]) == 0
        assert "done: 400 env steps" in capsys.readouterr().out
    config = (tmp_path / "hdqn" / "config.yaml").read_text()
    assert "meta_exploration_env_steps: 3000" in config and "torch_threads: 1" in config  # from the preset
    assert "exploration_env_steps: 3000" in (tmp_path / "qlearning" / "config.yaml").read_text()

    for algo in ("hdqn", "qlearning"):
        capsys.readouterr()
        assert main(["eval", algo, "--episodes", "3"]) == 0
        evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert evaluated["episodes"] == 3 and evaluated["checkpoint_env_steps"] == 400
    assert main(["plot", "hdqn", "qlearning", "dqn", "--metric", "rollout/ep_rew_mean", "--out", "chain.png"]) == 0
    assert (tmp_path / "chain.png").stat().st_size > 0
