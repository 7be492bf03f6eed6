"""What each option learned, as pictures: `hrlkit plot RUN --options` on Four Rooms (the timeline of active options
and the map coloured by option) and on Pendulum with DAC (timeline only); the options recorded by evaluation equal
what `predict` returned step by step; a non-option run and bad flags end in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hrlkit import DAC, PPO, OptionCritic
from hrlkit.cli import main
from hrlkit.envs.make import make_env
from hrlkit.errors import HrlkitError
from hrlkit.plotting import option_timeline
from hrlkit.training.evaluate import Trajectory, evaluate, load_trajectories, save_trajectories

SMALL = {"torch_threads": 1, "eval_freq": 0, "checkpoint_freq": 0, "log_interval": 10_000, "verbose": 0}


def test_option_timeline_by_hand() -> None:
    def traj(options: list[int]) -> Trajectory:
        return Trajectory(len(options), 0.0, None, np.zeros(0, np.int64), np.zeros((0, 2)), options=np.array(options))

    out = option_timeline([traj([0, 0, 1]), traj([1])])
    np.testing.assert_array_equal(out[0], [0, 0, 1])
    assert out[1, 0] == 1 and np.isnan(out[1, 1:]).all()
    with pytest.raises(HrlkitError, match="option agent"):
        option_timeline([Trajectory(1, 0.0, None, np.zeros(0, np.int64), np.zeros((0, 2)))])


def test_four_rooms_options_plot_and_recorded_options(tmp_path: Path, capsys) -> None:
    model = OptionCritic("hrlkit/FourRooms-v0", seed=0, run_dir=tmp_path / "oc", learning_starts=100, **SMALL)
    model.learn(600).close()
    # evaluation records the option that chose each action, and the Four Rooms cell as (row, col)
    env = make_env("hrlkit/FourRooms-v0")
    trajectories: list[Trajectory] = []
    evaluate(model, env, 2, seed=5, trajectories=trajectories)
    obs, _ = env.reset(seed=5)
    state, start, expected = None, np.ones(1, bool), []
    for _ in range(trajectories[0].length):  # the same episode by hand: the options predict returned
        action, state = model.predict(obs, state, start)
        expected.append(int(state[0]))
        start = np.zeros(1, bool)
        obs, *_ = env.step(action)
    np.testing.assert_array_equal(trajectories[0].options, expected)
    assert trajectories[0].positions.shape == (trajectories[0].length + 1, 2)
    row, col = trajectories[0].positions[0]
    assert not env.unwrapped.WALLS[int(row), int(col)]
    saved, _ = load_trajectories(save_trajectories(tmp_path / "t.npz", trajectories))
    np.testing.assert_array_equal(saved[1].options, trajectories[1].options)
    env.close()
    # the CLI: a fresh evaluation written to the run's eval dir, and the picture
    out = tmp_path / "options.png"
    assert main(["plot", str(tmp_path / "oc"), "--options", "--episodes", "2", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000 and "plot:" in capsys.readouterr().out
    assert list((tmp_path / "oc" / "eval").glob("trajectories_600.npz"))
    # after the goal moves (Four Rooms' goal_moved): the same picture of the moved task
    moved = tmp_path / "moved.png"
    assert (
        main(["plot", str(tmp_path / "oc"), "--options", "--env-kwargs", "{goal_moved: true}", "--out", str(moved)])
        == 0
    )
    assert moved.exists()


def test_dac_pendulum_timeline_and_refusals(tmp_path: Path, capsys) -> None:
    DAC("Pendulum-v1", seed=0, run_dir=tmp_path / "dac", n_steps=64, hidden=(16,), n_options=3, **SMALL).learn(128)
    out = tmp_path / "dac.png"
    assert main(["plot", str(tmp_path / "dac"), "--options", "--episodes", "1", "--out", str(out)]) == 0
    assert out.exists()
    PPO("Pendulum-v1", seed=0, run_dir=tmp_path / "ppo", n_steps=64, hidden=(16,), **SMALL).learn(64)
    capsys.readouterr()
    for argv, message in (
        (["plot", str(tmp_path / "ppo"), "--options"], "needs an option agent"),
        (["plot", str(tmp_path / "dac"), "--options", "--trajectories"], "pass one of them"),
        (["plot", str(tmp_path / "dac"), "--env-kwargs", "{a: 1}"], "applies to --options only"),
        (["plot", str(tmp_path / "dac"), "--options", "--out", str(tmp_path / "x.jpg")], "must end in .png"),
    ):
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
