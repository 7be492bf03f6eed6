"""Video writing (GIF and MP4 read back with imageio) and the `render_frame` checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest

from hrlkit.errors import HrlkitError
from hrlkit.training.video import render_frame, write_video

# Five flat frames, one clear colour each, so a lossy codec still keeps each frame's colour recognisable.
COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]], dtype=np.uint8)


def flat_frames(height: int = 32, width: int = 48) -> list[np.ndarray]:
    return [np.broadcast_to(c, (height, width, 3)).copy() for c in COLOURS]  # 5 x (H, W, 3) uint8


def test_write_gif_round_trip(tmp_path: Path) -> None:
    path = write_video(flat_frames(), tmp_path / "sub" / "episode.gif", fps=10)
    assert path == tmp_path / "sub" / "episode.gif"
    video = iio.imread(path, index=None, plugin="pillow")
    assert video.shape == (5, 32, 48, 3)
    np.testing.assert_array_equal(video[:, 0, 0], COLOURS)  # flat colours survive the 256-colour palette exactly
    assert iio.immeta(path, plugin="pillow")["duration"] == 100  # ms per frame at 10 fps


def test_write_mp4_round_trip(tmp_path: Path) -> None:
    path = write_video(flat_frames(), tmp_path / "episode.mp4", fps=30)
    video = iio.imread(path, index=None, plugin="FFMPEG")
    assert video.shape == (5, 32, 48, 3)
    assert iio.immeta(path, plugin="FFMPEG")["fps"] == pytest.approx(30)
    # H.264 is lossy: compare each frame's mean colour with what was written.
    np.testing.assert_allclose(video.reshape(5, -1, 3).mean(axis=1), COLOURS, atol=8)


def test_write_mp4_pads_odd_sizes_to_even(tmp_path: Path) -> None:
    path = write_video(flat_frames(height=33, width=47), tmp_path / "odd.mp4")
    video = iio.imread(path, index=None, plugin="FFMPEG")
    assert video.shape == (5, 34, 48, 3)  # one repeated row and column, not a resize


@pytest.mark.parametrize("name", ["episode.avi", "episode", "episode.png"])
def test_write_video_rejects_other_suffixes(tmp_path: Path, name: str) -> None:
    with pytest.raises(HrlkitError, match=r"must end in \.mp4 or \.gif"):
        write_video(flat_frames(), tmp_path / name)
    assert not (tmp_path / name).exists()


def test_write_video_rejects_empty_and_bad_frames(tmp_path: Path) -> None:
    with pytest.raises(HrlkitError, match="no frames"):
        write_video([], tmp_path / "a.gif")
    with pytest.raises(HrlkitError, match="frame 1 is an array of shape .* dtype float32"):
        write_video([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.float32)], tmp_path / "a.gif")
    with pytest.raises(HrlkitError, match="differ in shape"):
        write_video([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)], tmp_path / "a.mp4")
    with pytest.raises(HrlkitError, match="fps must be positive"):
        write_video(flat_frames(), tmp_path / "a.mp4", fps=0)


class FakeEnv:
    """Stands in for an env whose render() returns whatever it was given."""

    def __init__(self, frame: object, render_mode: str | None = "rgb_array") -> None:
        self.frame = frame
        self.render_mode = render_mode

    def render(self) -> object:
        return self.frame


def test_render_frame_accepts_rgb_uint8() -> None:
    frame = np.zeros((6, 8, 3), np.uint8)
    assert render_frame(FakeEnv(frame)) is frame


@pytest.mark.parametrize(
    "frame",
    [None, [np.zeros((6, 8, 3), np.uint8)], np.zeros((6, 8, 3), np.float32), np.zeros((6, 8, 4), np.uint8)],
    ids=["none", "rgb_array_list", "float", "rgba"],
)
def test_render_frame_rejects_anything_else(frame: object) -> None:
    with pytest.raises(HrlkitError, match="create the env with render_mode='rgb_array'"):
        render_frame(FakeEnv(frame, render_mode="human"))


def test_render_frame_on_env_without_render_mode() -> None:
    env = gym.make("Pendulum-v1")  # render_mode=None: render() warns and returns None
    env.reset(seed=0)
    with pytest.warns(UserWarning), pytest.raises(HrlkitError, match="render_mode=None"):
        render_frame(env)
    env.close()


def test_render_frame_pendulum_rgb_array() -> None:
    pytest.importorskip(
        "pygame", reason="classic-control rendering needs pygame (pip install 'gymnasium[classic_control]')"
    )
    env = gym.make("Pendulum-v1", render_mode="rgb_array")
    env.reset(seed=0)
    frames = [render_frame(env)]
    for _ in range(4):
        env.step(env.action_space.sample())
        frames.append(render_frame(env))
    env.close()
    assert frames[0].shape == (500, 500, 3)
    assert frames[0].std() > 0


MUJOCO_SCRIPT = """
import gymnasium as gym
from hrlkit.training.video import render_frame, write_video
env = gym.make("HalfCheetah-v5", render_mode="rgb_array")
env.reset(seed=0)
frames = []
for _ in range(5):
    env.step(env.action_space.sample())
    frames.append(render_frame(env))
env.close()
assert frames[0].shape == (480, 480, 3) and frames[0].std() > 0, (frames[0].shape, frames[0].std())
write_video(frames, {path!r})
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["egl", "osmesa"])
def test_render_frame_mujoco_offscreen(tmp_path: Path, backend: str) -> None:
    """MUJOCO_GL is read once per process when mujoco loads, so each backend renders in a fresh interpreter."""
    path = tmp_path / "cheetah.mp4"
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    proc = subprocess.run(
        [sys.executable, "-c", MUJOCO_SCRIPT.format(path=str(path))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 and ("OpenGL" in proc.stderr or "EGL" in proc.stderr or "OSMesa" in proc.stderr):
        pytest.skip(f"MUJOCO_GL={backend} cannot create a context here: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    assert iio.imread(path, index=None, plugin="FFMPEG").shape == (5, 480, 480, 3)
