"""On-policy learners end to end: every learner on Box and Discrete actions with 1 and 2 envs, exact resume (also from
a checkpoint inside a rollout, with normalisation statistics), a callback that stops a run, save/load, the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hrlkit import DAC, NPG, PPO, PPOC, TRPO, VPG, Algorithm
from hrlkit.training.callbacks import Callback, StopOnReward
from hrlkit.training.checkpoint import list_checkpoints
from tests.smoke.helpers import assert_same_progress, read_progress, run_cli
from tests.smoke.test_resume import assert_same_state, full_state, tensorboard_scalars

CLASSES: dict[str, type[Algorithm]] = {"ppo": PPO, "trpo": TRPO, "npg": NPG, "vpg": VPG, "ppoc": PPOC, "dac": DAC}
# 64-step rollouts per env: 400 env steps hold several updates with 1 and with 2 envs, and every period fires.
SMALL: dict[str, Any] = {
    "hidden": (16, 16),
    "n_steps": 64,
    "eval_freq": 200,
    "eval_episodes": 1,
    "log_interval": 100,
    "checkpoint_freq": 100,
    "torch_threads": 1,
}
PER_ALGO: dict[str, dict[str, Any]] = {
    "ppo": {"batch_size": 32, "n_epochs": 2},
    "trpo": {"batch_size": 32, "n_critic_updates": 2},
    "npg": {"batch_size": 32, "n_critic_updates": 2},
    "vpg": {"value_epochs": 2},
    "ppoc": {"batch_size": 32, "n_epochs": 2, "n_options": 2},
    "dac": {"batch_size": 32, "n_epochs": 2, "n_options": 3},
}


def make(algo: str, env: str, **kwargs: Any) -> Algorithm:
    # the mechanics at the library defaults and SMALL settings: no env preset
    return CLASSES[algo](env, verbose=0, seed=2, preset=False, **{**SMALL, **PER_ALGO[algo], **kwargs})


@pytest.mark.parametrize("algo", list(CLASSES))
@pytest.mark.parametrize(("env", "n_envs"), [("CartPole-v1", 1), ("Pendulum-v1", 2)])
def test_trains_logs_and_loads(tmp_path: Path, algo: str, env: str, n_envs: int) -> None:
    model = make(algo, env, run_dir=tmp_path / "run", n_envs=n_envs).learn(400)
    model.close()
    rollout = SMALL["n_steps"] * n_envs
    assert model.env_steps == 400 and model.state.n_updates == 400 // rollout > 0
    rows = read_progress(tmp_path / "run")
    keys = set(rows[-1])
    assert {"train/value_loss", "train/explained_variance", "rollout/ep_rew_mean", "eval/mean_return"} <= keys
    if algo == "ppo":
        assert {"train/approx_kl", "train/clip_fraction", "train/entropy_loss", "train/policy_gradient_loss"} <= keys
    if algo in ("ppoc", "dac"):
        assert {"options/usage_0", "options/mean_duration", "options/termination_rate", "train/approx_kl"} <= keys
    if algo == "dac":
        assert {"train/high/approx_kl", "train/high/value_loss"} <= keys
    if algo in ("trpo", "npg"):
        assert {"train/kl_divergence_loss", "train/policy_objective"} <= keys
    if env == "Pendulum-v1":
        assert "train/std" in keys
    # a loaded model acts like the trained one
    loaded = Algorithm.load(tmp_path / "run")
    assert type(loaded) is type(model)
    obs = np.stack([model.observation_space.sample() for _ in range(5)])
    assert np.array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    actions = loaded.predict(obs[0])[0]
    assert model.action_space.contains(actions.astype(model.action_space.dtype))


# ----------------------------------------------------------------------------------------------- exact resume
@pytest.mark.parametrize(
    ("algo", "env", "n_envs", "stop", "extra"),
    [
        # stops at 300: 300 = 4 rollouts of 64 + 44 steps, a checkpoint inside a rollout; normalisers on
        ("ppo", "Pendulum-v1", 1, 300, {"normalize_obs": True, "normalize_reward": True}),
        ("trpo", "CartPole-v1", 2, 256, {}),  # at a rollout boundary, 2 envs
        # the option learners: inside a rollout with 2 envs (the running options travel in the checkpoint)
        ("ppoc", "CartPole-v1", 2, 300, {}),
        ("dac", "Pendulum-v1", 1, 300, {"normalize_obs": True}),
    ],
)
def test_exact_resume(tmp_path: Path, algo: str, env: str, n_envs: int, stop: int, extra: dict[str, Any]) -> None:
    total = 600
    a = make(algo, env, run_dir=tmp_path / "A", n_envs=n_envs, **extra).learn(total)
    a.close()
    b = make(algo, env, run_dir=tmp_path / "B", n_envs=n_envs, **extra).learn(stop)
    b.close()
    assert list_checkpoints(tmp_path / "B" / "checkpoints")[-1] == stop
    assert b.agent.buffer.pos == (stop // n_envs) % SMALL["n_steps"]  # what the checkpoint holds of the rollout
    b = Algorithm.resume(tmp_path / "B", {"run.total_env_steps": total}, verbose=0)
    assert type(b) is CLASSES[algo] and b.env_steps == stop
    if extra.get("normalize_obs"):
        assert b.agent.obs_norm.rms[""].count > 1  # the statistics came back with the checkpoint
    b.learn()
    b.close()
    assert a.env_steps == b.env_steps == total
    assert_same_progress(a.run_dir, b.run_dir)
    assert_same_state(full_state(a), full_state(b))
    assert tensorboard_scalars(a.run_dir) == tensorboard_scalars(b.run_dir)


# -------------------------------------------------------------------------------------------------- callbacks
def test_callback_stops_a_run_and_learn_continues_it(tmp_path: Path) -> None:
    """StopOnReward with a threshold every evaluation meets ends the run at the first evaluation (200 env steps);
    the last row, the final checkpoint and the callback's on_end are at that step; `learn` again continues."""
    seen: list[tuple[str, int, Any]] = []

    class Spy(Callback):
        def on_log(self, env_steps: int, values: dict[str, float]) -> None:
            seen.append(("log", env_steps, values["time/env_steps"]))

        def on_end(self, env_steps: int, stopped: bool) -> None:
            seen.append(("end", env_steps, stopped))

    model = make("ppo", "CartPole-v1", run_dir=tmp_path / "run", total_env_steps=1000)
    model.learn(callback=[StopOnReward(-1e9), Spy()])
    assert model.env_steps == 200 and model.state.stopped
    assert seen == [("log", 100, 100.0), ("log", 200, 200.0), ("end", 200, True)]
    assert list_checkpoints(tmp_path / "run" / "checkpoints")[-1] == 200
    assert float(read_progress(tmp_path / "run")[-1]["time/env_steps"]) == 200
    model.learn(400)
    model.close()
    assert model.env_steps == 400 and not model.state.stopped


def test_callback_may_stop_on_logged_values(tmp_path: Path) -> None:
    class StopAtSecondDump(Callback):
        def __init__(self) -> None:
            self.dumps = 0

        def on_log(self, env_steps: int, values: dict[str, float]) -> bool | None:
            self.dumps += 1
            return False if self.dumps == 2 else None

    model = make("vpg", "CartPole-v1", eval_freq=0, total_env_steps=1000).learn(callback=StopAtSecondDump())
    model.close()
    assert model.env_steps == 200 and model.state.stopped


# ------------------------------------------------------------------------------------------------------ the CLI
def test_cli_train_eval_and_refusals(tmp_path: Path) -> None:
    flags = [
        "--env",
        "CartPole-v1",
        "--total-env-steps",
        "256",
        "--n-steps",
        "64",
        "--batch-size",
        "32",
        "--no-progress",
    ]
    result = run_cli(
        ["train", "ppo", *flags, "--eval-freq", "256", "--eval-episodes", "1", "--run-dir", "run"], tmp_path
    )
    assert result.returncode == 0, result.describe()
    assert "done: 256 env steps" in result.stdout
    assert "n_steps: 64" in (tmp_path / "run" / "config.yaml").read_text()
    result = run_cli(["eval", "run", "--episodes", "1"], tmp_path)
    assert result.returncode == 0 and '"mean_return"' in result.stdout, result.describe()
    result = run_cli(["train", "ppo", *flags, "--learning-starts", "10"], tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "hrlkit: error: --learning-starts is a replay setting and ppo has no replay buffer: drop it"
    )
