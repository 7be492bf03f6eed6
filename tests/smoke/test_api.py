"""What users of Stable-Baselines3 expect of the Python API: `load` keeps the step count, `learn(total_timesteps=)`,
and `evaluate(model, "EnvId")`."""

from __future__ import annotations

from pathlib import Path

import pytest

from hrlkit import SAC, evaluate
from hrlkit.errors import HrlkitError
from tests.smoke.helpers import TINY

SMALL = {**TINY, "eval_freq": 0, "checkpoint_freq": 0}


def test_load_keeps_the_step_count_and_evaluate_takes_an_env_id(tmp_path: Path) -> None:
    model = SAC("Pendulum-v1", verbose=0, **SMALL).learn(total_timesteps=150)
    assert model.env_steps == 150
    model.save(tmp_path / "m")
    loaded = SAC.load(tmp_path / "m")
    assert loaded.env_steps == 150
    result = evaluate(loaded, "Pendulum-v1", episodes=2)
    assert result["mean_length"] == 200 and set(result) >= {"mean_return", "std_return"}
    with pytest.raises(HrlkitError, match="episodes = 0"):
        evaluate(loaded, "Pendulum-v1", episodes=0)
    with pytest.raises(HrlkitError, match="not both"):
        loaded.learn(100, total_timesteps=200)


def test_an_env_object_is_evaluated_with_its_wrappers() -> None:
    """Evaluation used to rebuild the env from its id, dropping the user's wrappers (a scaled observation then gave
    wrong evaluations). Now: a copy of the object, or `eval_env=` when given."""
    import gymnasium as gym
    import numpy as np

    def scaled() -> gym.Env:
        base = gym.make("Pendulum-v1")
        space = gym.spaces.Box(-80.0, 80.0, (3,), np.float32)
        return gym.wrappers.TransformObservation(base, lambda o: (o * 10).astype(np.float32), space)

    model = SAC(scaled(), verbose=0, **{**SMALL, "eval_freq": 100, "eval_episodes": 1})
    assert isinstance(model.eval_env.env, gym.wrappers.TransformObservation)
    obs, _ = model.eval_env.reset(seed=0)
    assert np.abs(obs).max() > 1.5  # scaled: Pendulum resets to cos, sin and a speed all within [-1, 1]
    model.learn(200)
    assert "mean_return" in model.state.last_eval  # the evaluations ran on the copy
    given = scaled()
    other = SAC(scaled(), verbose=0, eval_env=given, **{**SMALL, "eval_freq": 100})
    assert other.eval_env.env is given
    with pytest.raises(HrlkitError, match="eval_env must be a gymnasium.Env"):
        SAC("Pendulum-v1", verbose=0, eval_env="Pendulum-v1", **SMALL)


def test_an_env_without_render_mode_is_made_by_id() -> None:
    import tests.envs_for_tests  # noqa: F401  (registers the env)

    model = SAC("NoRenderModeForTests-v0", verbose=0, **{**SMALL, "eval_freq": 100, "eval_episodes": 1}).learn(150)
    assert model.env_steps == 150 and "mean_return" in model.state.last_eval


def test_the_api_applies_the_env_preset_as_the_cli_does(capsys: pytest.CaptureFixture[str]) -> None:
    """`SAC("Pendulum-v1")` used the library defaults (critic lr 3e-4) where `hrlkit train sac --env Pendulum-v1`
    used the preset's (1e-3). Now both resolve defaults < env preset < --preset/preset= < flags/keywords."""
    import argparse

    from hrlkit.algorithms import TD3
    from hrlkit.cli import _resolve_train_config
    from hrlkit.config import RunConfig, to_dict
    from hrlkit.learners import SACConfig

    args = argparse.Namespace(algo="sac", env="Pendulum-v1", preset=None, seed=None, total_env_steps=None)
    cli, _, _, _ = _resolve_train_config(args, ["--critic-lr", "5e-4"])
    model = SAC("Pendulum-v1", tensorboard=False, critic_lr=5e-4)
    assert to_dict(model.config) == to_dict(cli)
    assert model.config.algo_config.actor_lr == 1e-3 and model.config.run.eval_freq == 2000  # the preset's
    assert "preset: hrlkit/presets/Pendulum-v1.yaml (section sac)" in capsys.readouterr().err

    plain = SAC("Pendulum-v1", verbose=0, preset=False)
    assert plain.config.algo_config.actor_lr == SACConfig().actor_lr and plain.config.run == RunConfig(
        env="Pendulum-v1"
    )
    # A group passed as an object is used as it is; the preset still fills the others.
    given = SAC("Pendulum-v1", verbose=0, config=SACConfig(hidden=(8,)))
    assert given.config.algo_config == SACConfig(hidden=(8,)) and given.config.run.eval_freq == 2000
    # preset= a file (here another env's bundled preset, by name) applies after the env's, as --preset does.
    other = TD3("Pendulum-v1", verbose=0, preset="Hopper-v5")
    assert other.config.replay.learning_starts == 10_000
    with pytest.raises(HrlkitError, match="unknown preset 'nope'"):
        SAC("Pendulum-v1", verbose=0, preset="nope")


def test_runs_in_one_process_keep_their_own_torch_state() -> None:
    """Two models trained in turns in one process (a notebook, Ray trials sharing a worker) each learn what they would
    alone: each run has its own state of torch's global generator and its own thread count while it builds or trains,
    and the process's are left as they were. Before, the second model's draws moved the first one's generator."""
    import torch

    settings = {**SMALL, "preset": False, "verbose": 0, "learning_starts": 50, "hidden": (16,), "batch_size": 16}
    torch.manual_seed(123)
    before, threads = torch.get_rng_state(), torch.get_num_threads()
    a, b = SAC("Pendulum-v1", seed=0, **settings), SAC("Pendulum-v1", seed=1, **settings)
    for n in (100, 200, 300):
        a.learn(n)
        b.learn(n)
    alone = SAC("Pendulum-v1", seed=0, **settings).learn(300)
    assert torch.equal(torch.get_rng_state(), before) and torch.get_num_threads() == threads
    weights, expected = a.agent.learner.state_dict(), alone.agent.learner.state_dict()
    assert all(torch.equal(weights[k], expected[k]) for k in expected)
