"""DQN end to end: CartPole with every option, vector envs, save/load, the CLI (train, eval with video), and Atari."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hrlkit import DQN
from tests.smoke.helpers import TINY, read_progress, run_cli_many, tiny_flags

# the defaults and TINY, without CartPole's preset (its train_freq of 256 would change the update count)
SETTINGS = {
    **TINY, "seed": 0, "exploration_env_steps": 200, "target_update_interval": 50, "torch_threads": 1, "preset": False
}  # fmt: skip


@pytest.mark.parametrize(
    ("n_envs", "options"),
    [(1, {}), (2, {"double": True, "dueling": True, "prioritized_replay": True}), (1, {"target_update_interval": 0})],
    ids=["plain", "double-dueling-per-2envs", "no-target-2013"],
)
def test_dqn_trains_on_cartpole(tmp_path: Path, n_envs: int, options: dict) -> None:
    model = DQN("CartPole-v1", run_dir=tmp_path, verbose=0, n_envs=n_envs, **{**SETTINGS, **options})
    before = {k: v.clone() for k, v in model.agent.learner.state_dict().items()}
    model.learn(400).close()
    state = model.state
    assert state.n_updates == (400 - TINY["learning_starts"]) // n_envs
    after = model.agent.learner.state_dict()
    online = {k: v for k, v in after.items() if k.startswith("q.")}
    assert all(k in before for k in online) and any(not torch.equal(before[k], v) for k, v in online.items())
    if options.get("target_update_interval", 50):
        # 300 (1 env) or 150 (2 envs) updates, a multiple of the interval 50: the last update copied online -> target
        assert state.n_updates % 50 == 0
        for k, v in online.items():
            assert torch.equal(after["q_target." + k[2:]], v), k
    else:
        assert not any(k.startswith("q_target.") for k in after)
    rows = read_progress(tmp_path)
    eps = [float(r["rollout/exploration_rate"]) for r in rows if r.get("rollout/exploration_rate")]
    assert eps[-1] == pytest.approx(0.05) and eps[0] > eps[-1]  # epsilon annealed to its final value by 200 steps
    if options.get("prioritized_replay"):
        assert "train/is_weight_exponent" in rows[-1]
    obs = np.zeros((3, 4), np.float32)
    actions, _ = model.predict(obs)
    assert actions.shape == (3,) and set(actions.tolist()) <= {0, 1}
    single, _ = model.predict(obs[0])
    assert np.ndim(single) == 0 and single == actions[0]


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = DQN("CartPole-v1", verbose=0, dueling=True, **SETTINGS)
    model.learn(300)
    path = model.save(tmp_path / "cartpole_dqn")
    loaded = DQN.load(path)
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    assert np.array_equal(model.predict(obs)[0], loaded.predict(obs)[0])
    for k, v in model.agent.learner.state_dict().items():
        assert torch.equal(v, loaded.agent.learner.state_dict()[k]), k


def test_cli_train_eval_and_atari(tmp_path: Path) -> None:
    atari = ["--total-env-steps", "160", "--learning-starts", "100", "--buffer-size", "500", "--eval-freq", "0",
             "--checkpoint-freq", "0", "--torch-threads", "1", "--save-replay-buffer", "false"]  # fmt: skip
    results = run_cli_many(
        {
            "cartpole": ["train", "dqn", "--env", "CartPole-v1", "--run-dir", "cp", "--total-env-steps", "300",
                         *tiny_flags(eval_freq=300, eval_episodes=2), "--double", "true"],
            "pong": ["train", "dqn", "--env", "ALE/Pong-v5", "--run-dir", "pong", *atari],
        },
        tmp_path,
        jobs=2,
    )  # fmt: skip
    for name, r in results.items():
        assert r.returncode == 0, (name, r.stderr[-2000:])
    pong = read_progress(tmp_path / "pong")
    assert float(pong[-1]["time/updates"]) == 15  # (160 - 100) / train_freq 4 updates through the Nature CNN
    config = (tmp_path / "pong" / "config.yaml").read_text()
    assert "nature_cnn" in config and "- atari" in config and "frameskip: 1" in config  # the Atari preset applied
    evaluated = run_cli_many({"eval": ["eval", "cp", "--episodes", "2", "--video"]}, tmp_path)["eval"]
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert list((tmp_path / "cp" / "eval").glob("*.mp4")) or list((tmp_path / "cp" / "eval").glob("*.gif"))
