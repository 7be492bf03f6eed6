"""Videos of episodes: grab `rgb_array` frames from an env and write them as MP4 (ffmpeg) or GIF (Pillow).

Headless machines: MuJoCo envs render offscreen through the backend named by `MUJOCO_GL`, read when mujoco is first
imported. `MUJOCO_GL=egl` uses EGL (a GPU's driver, or Mesa's software renderer); `MUJOCO_GL=osmesa` needs Mesa's
off-screen library (Debian: `apt-get install libosmesa6`). Classic-control envs (Pendulum, CartPole) render with pygame.

MP4 is encoded with libx264 in yuv420p, which needs even frame sizes: an odd height or width is padded by repeating the
last row or column, never resized.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hrlkit.errors import HrlkitError

SUFFIXES = (".mp4", ".gif")


def _describe(x: Any) -> str:
    """A short description of what came back instead of an HxWx3 uint8 frame."""
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    return f"{type(x).__name__}" if x is not None else "None"


def _env_name(env: Any) -> str:
    spec = getattr(env, "spec", None)
    return spec.id if spec is not None else type(getattr(env, "unwrapped", env)).__name__


def _is_rgb_frame(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.ndim == 3 and x.shape[-1] == 3 and x.dtype == np.uint8


def render_frame(env: Any) -> np.ndarray:
    """`env.render()`, checked to be one RGB frame.

    Args:
        env: a Gymnasium env made with `render_mode="rgb_array"`.

    Returns:
        The frame, shape (H, W, 3), dtype uint8.

    Raises:
        HrlkitError: rendering needs a package that is not installed (pygame for Pendulum), or render returned
            anything else (None for render_mode=None or "human", a list for "rgb_array_list", floats, ...).
    """
    from gymnasium.error import DependencyNotInstalled

    try:
        frame = env.render()
    except DependencyNotInstalled as e:  # e.g. pygame for the classic-control envs
        raise HrlkitError(f"cannot render {_env_name(env)}: {str(e).splitlines()[0]}") from None
    if not _is_rgb_frame(frame):
        mode = getattr(env, "render_mode", None)
        raise HrlkitError(
            f"env.render() returned {_describe(frame)} (render_mode={mode!r}), not an HxWx3 uint8 frame: "
            f"create the env with render_mode='rgb_array', e.g. gymnasium.make(env_id, render_mode='rgb_array')"
        )
    return frame


SUBGOAL_RGBA = (1.0, 0.55, 0.0, 1.0)  # orange: neither the toy maze's colours nor MuJoCo mazes' red goal / green ball


def _mujoco_renderer(env: Any) -> Any:
    """The `MujocoRenderer` that draws `env`'s frames: a MuJoCo env's own, or the robot's inside a gymnasium-robotics
    maze (`PointMaze_*` keeps it on `point_env`, `AntMaze_*` on `ant_env`); None for other envs."""
    base = getattr(env, "unwrapped", env)
    for owner in (base, getattr(base, "point_env", None), getattr(base, "ant_env", None)):
        renderer = getattr(owner, "mujoco_renderer", None)
        if renderer is not None:
            return renderer
    return None


def add_marker(env: Any, pos: np.ndarray, rgba: tuple[float, ...] = SUBGOAL_RGBA) -> bool:
    """Mark the point `pos` in the next frame `env.render()` returns (the mark is gone from the frame after).

    hrlkit's toy envs draw a disc (`add_marker` on the env). MuJoCo envs get a sphere through the offscreen viewer's
    `add_marker`, at x-y = pos[:2] in world coordinates (gymnasium-robotics mazes: the x-y of `achieved_goal`), resting
    on the floor; its radius is 0.1 maze cells. Any other env is left as it is.

    Args:
        env: a single env made with render_mode="rgb_array".
        pos: (G,) with G >= 2; the first two entries are read as x-y.
        rgba: colour in [0, 1].

    Returns:
        Whether the env can show the mark.
    """
    base = getattr(env, "unwrapped", env)
    if callable(getattr(base, "add_marker", None)):
        base.add_marker(pos, rgba)
        return True
    renderer = _mujoco_renderer(env)
    if renderer is None or len(pos) < 2:
        return False
    import mujoco

    # `_get_viewer` is how MujocoRenderer.render itself makes (once) and returns its offscreen viewer; going through it
    # lets the mark land in the very next frame, even the first.
    viewer = renderer._get_viewer(render_mode=getattr(env, "render_mode", None) or "rgb_array")
    if not hasattr(viewer, "add_marker"):
        return False
    maze = getattr(base, "maze", None)
    radius = 0.1 * float(getattr(maze, "maze_size_scaling", 1.0))
    viewer.add_marker(
        pos=np.array([pos[0], pos[1], radius], np.float64), size=np.full(3, radius), rgba=np.asarray(rgba, np.float32),
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
    )  # fmt: skip
    return True


def write_video(frames: list[np.ndarray], path: str | Path, fps: int = 30) -> Path:
    """Write frames as an MP4 (`.mp4`, H.264 via imageio-ffmpeg) or a looping GIF (`.gif`, via Pillow).

    Args:
        frames: T frames, each (H, W, 3) uint8, all the same shape.
        path: output file; its suffix picks the format. Parent directories are created.
        fps: frames per second (a GIF stores delays in 1/100 s, so its rate is rounded).

    Returns:
        The path written.

    Raises:
        HrlkitError: an unknown suffix, no frames, frames that are not same-shaped HxWx3 uint8 arrays, a
            non-positive fps, or an encoder that wrote nothing.
    """
    import imageio.v3 as iio  # imported here: only runs that record videos pay for it

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise HrlkitError(f"cannot write video {path}: the file name must end in .mp4 or .gif")
    if len(frames) == 0:
        raise HrlkitError(f"no frames to write to {path}: record at least one frame with render_frame(env)")
    if fps <= 0:
        raise HrlkitError(f"fps must be positive, got {fps}: pass e.g. fps=30")
    bad = next((i for i, f in enumerate(frames) if not _is_rgb_frame(f)), None)
    if bad is not None:
        raise HrlkitError(
            f"frame {bad} is {_describe(frames[bad])}, not HxWx3 uint8: "
            f"create the env with render_mode='rgb_array' and collect frames with render_frame(env)"
        )
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise HrlkitError(f"frames for {path} differ in shape {sorted(shapes)}: render every frame from the same env")
    video = np.stack(frames)  # (T, H, W, 3)

    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".mp4":
        # yuv420p subsamples chroma 2x2, so libx264 refuses odd sizes: repeat the last row/column to make them even.
        _, h, w, _ = video.shape
        video = np.pad(video, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")  # (T, H', W', 3), H', W' even
        # macro_block_size=1: keep the size as is (the default 16 would resize and warn).
        iio.imwrite(path, video, plugin="FFMPEG", fps=fps, macro_block_size=1)
    else:
        iio.imwrite(path, video, plugin="pillow", duration=1000.0 / fps, loop=0)  # duration: ms per frame
    if not path.is_file() or path.stat().st_size == 0:
        raise HrlkitError(f"the encoder wrote nothing to {path}: check that imageio-ffmpeg is installed and working")
    return path
