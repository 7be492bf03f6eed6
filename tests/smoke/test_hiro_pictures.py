"""Pictures of HIRO: the subgoal drawn into `hrlkit eval --video` frames, the trajectories file `hrlkit eval` writes, and
the maze map of `hrlkit plot --trajectories`; flat agents still make videos, without subgoals; `maze_walls` on both
kinds of maze.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest

import hrlkit
from hrlkit.envs.make import make_env
from hrlkit.plotting import maze_walls
from hrlkit.training.evaluate import evaluate, load_trajectories
from hrlkit.training.video import SUBGOAL_RGBA, add_marker
from tests.smoke.helpers import REPO_ROOT, CliResult, run_cli, run_cli_many

ENV = "hrlkit/PointUMaze-v0"  # 100-step episodes, 20 px per maze unit, state (x, y, goal x, goal y)
C = 10  # HIRO's default high_level_interval
PNG = b"\x89PNG\r\n\x1a\n"
ORANGE = np.round(255 * np.array(SUBGOAL_RGBA[:3])).astype(int)  # (3,)
HAS_ROBOTICS = importlib.util.find_spec("gymnasium_robotics") is not None
RUN = {"seed": 0, "verbose": 0, "learning_starts": 50, "total_env_steps": 200, "eval_freq": 0, "torch_threads": 1}


def is_orange(pixels: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 -> (...,) bool: the subgoal colour, with room for GIF palette rounding."""
    return np.abs(pixels.astype(int) - ORANGE).sum(-1) < 30


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny HIRO run and a tiny SAC run on the toy maze, each evaluated once by `hrlkit eval --video --gif`."""
    work = tmp_path_factory.mktemp("pictures")
    hiro = hrlkit.HIRO(
        ENV, run_dir=work / "hiro", goal_low=(-1.0,), goal_high=(1.0,), **RUN,
        **{"high.hidden": (16, 16), "low.hidden": (16, 16), "high.batch_size": 16, "low.batch_size": 16},
    )  # fmt: skip
    hiro.learn()
    hiro.close()
    sac = hrlkit.SAC(ENV, run_dir=work / "sac", hidden=(16, 16), batch_size=16, **RUN)
    sac.learn()
    sac.close()
    shutil.copytree(work / "hiro", work / "hiro_fresh")  # no eval/ yet: `plot --trajectories` must evaluate it
    video = ["--episodes", "1", "--video", "--gif"]
    results = run_cli_many({name: ["eval", name, *video] for name in ("hiro", "sac")}, work, jobs=2)
    for result in results.values():
        assert result.returncode == 0, result.describe()
    return work


@pytest.fixture(scope="module")
def plot(work: Path) -> CliResult:
    """One map of two runs: `hiro` has its trajectories file, `hiro_fresh` is evaluated (2 episodes) on the way."""
    return run_cli(["plot", "hiro", "hiro_fresh", "--trajectories", "--out", "t.png", "--episodes", "2"], work)


def test_eval_writes_hiro_trajectories(work: Path) -> None:
    path = work / "hiro" / "eval" / "trajectories_200.npz"
    trajectories, meta = load_trajectories(path)  # allow_pickle=False
    assert meta["env"] == ENV and meta["algo"] == "hiro" and meta["checkpoint_env_steps"] == 200
    assert (work / "hiro" / "eval" / "results_200.json").is_file()
    (traj,) = trajectories
    assert traj.length == 100 and traj.positions is not None and traj.positions.shape == (101, 2)
    np.testing.assert_allclose(traj.positions[0], [1.5, 1.5], atol=0.1)  # the start, with its reset noise
    np.testing.assert_array_equal(traj.subgoal_steps, np.arange(0, 100, C))
    assert traj.subgoals.shape == (100 // C, 2)
    # target = s + g with g inside the goal bounds [-1, 1]^2, s the position the high level decided at.
    offsets = traj.subgoals - traj.positions[traj.subgoal_steps]  # (K, 2)
    assert np.all(np.abs(offsets) <= 1.0 + 1e-5) and np.any(np.abs(offsets) > 1e-3)
    np.testing.assert_allclose(traj.goal, [1.5, 3.5])


def test_eval_video_draws_the_subgoal(work: Path) -> None:
    frames = iio.imread(work / "hiro" / "eval" / "200.gif", index=None, plugin="pillow")  # (T', 100, 100, 3)
    (traj,), _ = load_trajectories(work / "hiro" / "eval" / "trajectories_200.npz")
    # Pillow merges identical consecutive frames, so frame k is step k only for k = 0; later decisions are found in
    # some frame. Pixel (row, col) shows the point (x, y) = (col, row) / 20.
    pixels = [(int(y * 20), int(x * 20)) for x, y in traj.subgoals]
    inside = [(r, c) for r, c in pixels if 0 <= r < frames.shape[1] and 0 <= c < frames.shape[2]]
    assert pixels[0] in inside and is_orange(frames[0][pixels[0]])
    for r, c in inside:
        assert is_orange(frames[:, r, c]).any(), f"no frame shows the subgoal at pixel {(r, c)}"


def test_plot_trajectories(work: Path, plot: CliResult) -> None:
    assert plot.returncode == 0, plot.describe()
    assert (work / "t.png").read_bytes().startswith(PNG) and "plot: t.png" in plot.stdout
    assert "hiro_fresh: no trajectories yet" in plot.stdout and "hiro: no" not in plot.stdout
    trajectories, _ = load_trajectories(work / "hiro_fresh" / "eval" / "trajectories_200.npz")
    assert len(trajectories) == 2


def test_plot_trajectories_older_than_the_latest_checkpoint_are_refreshed(work: Path, plot: CliResult) -> None:
    """An evaluation of an earlier checkpoint would draw an old policy under the latest one's title: it is redone."""
    stale = work / "hiro_stale"
    shutil.copytree(work / "hiro", stale)
    (stale / "eval" / "trajectories_200.npz").rename(stale / "eval" / "trajectories_100.npz")
    result = run_cli(["plot", "hiro_stale", "--trajectories", "--out", "s.png", "--episodes", "2"], work)
    assert result.returncode == 0, result.describe()
    assert "its newest trajectories are of 100 env steps; evaluating its latest checkpoint (200 env steps)" in (
        result.stdout
    )
    trajectories, meta = load_trajectories(stale / "eval" / "trajectories_200.npz")
    assert len(trajectories) == 2 and meta["checkpoint_env_steps"] == 200


def test_flat_sac_video_has_no_subgoals(work: Path) -> None:
    frames = iio.imread(work / "sac" / "eval" / "200.gif", index=None, plugin="pillow")
    assert frames.shape[1:] == (100, 100, 3) and not is_orange(frames).any()
    (traj,), meta = load_trajectories(work / "sac" / "eval" / "trajectories_200.npz")
    assert meta["algo"] == "sac" and traj.length == 100
    assert traj.subgoal_steps.shape == (0,) and len(traj.subgoals) == 0
    assert traj.positions is None  # a flat agent on a Box observation cannot say which dims are a position


def test_recording_leaves_evaluate_unchanged(work: Path) -> None:
    model = hrlkit.HIRO.load(work / "hiro")
    env = make_env(ENV)
    trajectories: list = []
    assert evaluate(model, env, 2, seed=5, trajectories=trajectories) == evaluate(model, env, 2, seed=5)
    assert [t.length for t in trajectories] == [100, 100]


def test_toy_maze_markers_and_walls() -> None:
    env = gym.make(ENV, render_mode="rgb_array")
    env.reset(seed=0)
    plain = env.render()
    assert add_marker(env, np.array([3.5, 1.5]))
    marked = env.render()
    assert is_orange(marked[30, 70]) and not is_orange(plain).any()
    np.testing.assert_array_equal(env.render(), plain)  # a marker lasts one frame
    walls = env.unwrapped.walls
    rects = maze_walls(env)
    assert len(rects) == walls.sum() == 18
    assert all(walls[int(y), int(x)] and w == h == 1.0 for x, y, w, h in rects)
    assert not add_marker(gym.make("Pendulum-v1", render_mode="rgb_array"), np.zeros(2))  # no way to mark: no-op


@pytest.mark.skipif(not HAS_ROBOTICS, reason="gymnasium-robotics is not installed")
def test_robotics_maze_walls() -> None:
    env = make_env("PointMaze_UMaze-v3")
    maze = env.unwrapped.maze
    ones = [(i, j) for i, row in enumerate(maze.maze_map) for j, cell in enumerate(row) if cell == 1]
    rects = maze_walls(env)
    assert len(rects) == len(ones)
    s = maze.maze_size_scaling
    for (x, y, w, h), (i, j) in zip(rects, ones, strict=True):
        assert w == h == s
        np.testing.assert_allclose([x + s / 2, y + s / 2], maze.cell_rowcol_to_xy(np.array([i, j])))


MUJOCO_MARKER = """
import numpy as np
from hrlkit.envs.make import make_env
from hrlkit.training.video import add_marker, render_frame
env = make_env("PointMaze_UMaze-v3", render_mode="rgb_array")
env.reset(seed=0)
assert add_marker(env, np.array([1.0, 1.0]))
orange = lambda f: int((np.abs(f.astype(int) - [255, 140, 0]).sum(-1) < 30).sum())
print(orange(render_frame(env)), orange(render_frame(env)))
"""


@pytest.mark.skipif(not HAS_ROBOTICS, reason="gymnasium-robotics is not installed")
def test_mujoco_maze_marker() -> None:
    env = {**os.environ, "MUJOCO_GL": "osmesa", "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", MUJOCO_MARKER], env=env, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )
    if proc.returncode != 0 and "osmesa" in proc.stderr.lower():
        pytest.skip(f"no OSMesa: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    marked, after = (int(n) for n in proc.stdout.split())
    assert marked > 20 and after == 0
