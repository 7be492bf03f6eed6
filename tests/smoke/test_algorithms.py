"""Every flat algorithm trains a few hundred env steps with real updates; determinism; save/load round trips."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from hrlkit import DDPG, SAC, TD3
from hrlkit.algorithms import Algorithm
from hrlkit.errors import HrlkitError
from tests.smoke.helpers import TINY, assert_same_progress, assert_same_weights, obs_batch

TOTAL = 300
ALGORITHMS = {"sac": SAC, "td3": TD3, "ddpg": DDPG}


def weights(model: Algorithm) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.agent.learner.state_dict().items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """(algo, n_envs) -> (model trained TOTAL env steps into a run dir, its weights before training); made once each."""
    cache: dict[tuple[str, int], tuple[Algorithm, dict[str, torch.Tensor]]] = {}

    def get(algo: str, n_envs: int) -> tuple[Algorithm, dict[str, torch.Tensor]]:
        if (algo, n_envs) not in cache:
            run_dir = tmp_path_factory.mktemp(f"{algo}_{n_envs}")
            model = ALGORITHMS[algo]("Pendulum-v1", run_dir=run_dir, verbose=0, n_envs=n_envs, seed=0, **TINY)
            before = weights(model)
            model.learn(TOTAL)
            model.close()
            cache[algo, n_envs] = model, before
        return cache[algo, n_envs]

    return get


@pytest.mark.parametrize("n_envs", [1, 2])
@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_learn_runs_updates(trained, algo: str, n_envs: int) -> None:
    model, before = trained(algo, n_envs)
    state = model.state
    assert state.env_steps == TOTAL
    assert state.vec_steps == TOTAL // n_envs  # each vector step is n_envs env steps
    # An update after every vector step past learning_starts (train_freq 1, gradient_steps 1).
    assert state.n_updates == (TOTAL - TINY["learning_starts"]) // n_envs > 0
    assert len(model.agent.buffer) == TOTAL
    after = weights(model)
    for module in {k.split(".")[0] for k in after}:  # actor, critic, their targets, SAC's entropy coefficient
        changed = [k for k in after if k.split(".")[0] == module and not torch.equal(before[k], after[k])]
        assert changed, f"{algo}: no parameter of {module} changed in {state.n_updates} updates"
    obs = obs_batch(model.observation_space)
    actions, _ = model.predict(obs)
    assert actions.shape == (len(obs), 1)
    assert np.all(np.abs(actions) <= 2.0)  # Pendulum's torque bound, in env units
    single, _ = model.predict(obs[0])
    assert single.shape == (1,)
    np.testing.assert_allclose(single, actions[0], rtol=1e-5, atol=1e-6)  # batch size changes the matmul kernel
    assert model.state.last_eval["mean_length"] == 200  # evaluated on a separate env at 200 env steps


def test_dict_observations(monkeypatch: pytest.MonkeyPatch) -> None:
    """FetchReach-v4 (Dict obs: observation, achieved_goal, desired_goal); no rendering, so no MUJOCO_GL."""
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    model = SAC("FetchReach-v4", verbose=0, seed=0, **{**TINY, "eval_freq": 0})
    assert set(model.observation_space.spaces) == {"observation", "achieved_goal", "desired_goal"}
    before = weights(model)
    model.learn(200)
    assert model.state.n_updates == 100
    after = weights(model)
    assert any(not torch.equal(before[k], after[k]) for k in after)
    obs, _ = model.envs.envs[0].reset(seed=0)  # one Dict observation
    action, _ = model.predict(obs)
    assert action.shape == model.action_space.shape
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    actions, _ = model.predict(batch)
    np.testing.assert_allclose(actions[0], action, rtol=1e-5, atol=1e-6)
    model.close()


def test_same_seed_same_run(trained, tmp_path: Path) -> None:
    """A second run with the same seed logs the same numbers and ends with the same policy; another seed does not."""
    first, _ = trained("sac", 1)
    again = SAC("Pendulum-v1", run_dir=tmp_path / "again", verbose=0, seed=0, **TINY).learn(TOTAL)
    again.close()
    assert_same_progress(first.run_dir, again.run_dir)
    assert_same_weights(weights(first), weights(again))
    obs = obs_batch(first.observation_space)
    np.testing.assert_array_equal(first.predict(obs)[0], again.predict(obs)[0])

    other = SAC("Pendulum-v1", verbose=0, seed=1, **{**TINY, "eval_freq": 0}).learn(TOTAL)
    other.close()
    assert not np.array_equal(first.predict(obs)[0], other.predict(obs)[0])


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_save_load_round_trip(trained, tmp_path: Path, algo: str) -> None:
    model, _ = trained(algo, 1)
    cls = ALGORITHMS[algo]
    path = model.save(tmp_path / "model")
    assert (path / "meta.json").is_file() and (path / "agent.safetensors").is_file()
    obs = obs_batch(model.observation_space, n=32)
    expected, _ = model.predict(obs)
    for loaded in (cls.load(path), Algorithm.load(path)):
        assert type(loaded) is cls
        np.testing.assert_array_equal(loaded.predict(obs)[0], expected)
        assert_same_weights(weights(model), weights(loaded))
        loaded.close()
    latest = cls.load(model.run_dir)  # a run dir loads its latest checkpoint, which is the final step here
    np.testing.assert_array_equal(latest.predict(obs)[0], expected)
    latest.close()
    wrong = DDPG if algo == "sac" else SAC
    with pytest.raises(HrlkitError, match=f"holds a '{algo}' model"):
        wrong.load(path)


def test_env_object_with_several_envs_is_refused() -> None:
    """An env object is one env; n_envs = 2 used to crash later with an IndexError inside the agent."""
    env = gym.make("Pendulum-v1")
    with pytest.raises(HrlkitError, match=r"n_envs = 2 with an env object: .*pass the env's id"):
        SAC(env, verbose=0, n_envs=2, **{**TINY, "eval_freq": 0})
    model = SAC(env, verbose=0, n_envs=1, **{**TINY, "eval_freq": 0})  # one env is fine
    assert model.envs.num_envs == 1
    model.close()
