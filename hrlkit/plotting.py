"""Learning curves across seeds: read each run's `progress.csv`, group seeds by (algo, env), plot IQM and 95% CI.

A run directory holds `progress.csv` (one row per log dump, `time/env_steps` first, an empty cell where a metric was
not recorded in that row) and `config.yaml` (`algo: td3`, `run: {env: Pendulum-v1, seed: 0, ...}`).

Seeds log at different env steps (evaluation and episode ends do not line up), so each seed's curve is linearly
interpolated onto one shared grid of env steps before averaging. The grid stops at the shortest run's last logged step:
past it some seeds have no data and the mean would silently change which seeds it averages.

The curve is the interquartile mean (IQM) across seeds and the band its 95 % stratified-bootstrap interval, the numbers
`hrlkit report` gives (rliable; `aggregate`).

Trajectory maps (`plot_trajectories`): a top-down view of a maze, its walls as grey squares (`maze_walls`), and the
evaluation episodes `hrlkit eval` recorded: each path as a line from its start (circle) towards the goal (star), and the
subgoals the high level chose as crosses, each joined by a thin line to where the agent was when it chose it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import yaml

from hrlkit.errors import HrlkitError

if TYPE_CHECKING:
    from hrlkit.training.evaluate import Trajectory

matplotlib.use("Agg")  # headless: never needs a display; must come before the pyplot import
import matplotlib.pyplot as plt  # noqa: E402

STEP_KEY = "time/env_steps"
DEFAULT_METRICS = ("eval/success_rate", "eval/mean_return", "rollout/ep_rew_mean")

Curve = tuple[np.ndarray, np.ndarray]  # (env_steps (N,), values (N,)) of one seed


def png_path(out: str | Path) -> Path:
    """`out` as a Path, refused in one line unless it ends in .png (every picture hrlkit writes is a PNG)."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise HrlkitError(f"plot output {out} must end in .png: pass e.g. {out.with_suffix('.png')}")
    return out


# ----------------------------------------------------------------------------------------------------- reading runs
def load_progress(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Read `run_dir/progress.csv` into one float array per column; empty cells become NaN.

    Args:
        run_dir: a run directory written by `hrlkit train`.

    Returns:
        Column name -> array of shape (n_rows,).

    Raises:
        HrlkitError: the directory or its `progress.csv` is missing, empty, ragged or holds a non-numeric cell.
    """
    run_dir = Path(run_dir)
    path = run_dir / "progress.csv"
    if not run_dir.is_dir():
        raise HrlkitError(f"run directory {run_dir} does not exist: pass the directory a training run wrote")
    if not path.is_file():
        raise HrlkitError(f"{path} not found: pass a run directory written by `hrlkit train` (it logs progress.csv)")
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or not rows[0]:
        raise HrlkitError(f"{path} is empty: wait for the run's first log dump or remove the run from the list")
    header, body = rows[0], [r for r in rows[1:] if r]  # skip blank lines
    if not body:
        raise HrlkitError(f"{path} has a header but no rows: wait for the run's first log dump")
    ragged = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
    if ragged:
        raise HrlkitError(
            f"{path} is malformed: line {ragged[0]} has a different number of cells than the header "
            f"({len(header)}); delete the broken line or re-run"
        )
    cells = np.char.strip(np.array(body, dtype=str))  # (n_rows, n_cols)
    cells[cells == ""] = "nan"  # a metric not recorded in that dump
    columns = {}
    for j, name in enumerate(header):
        try:
            columns[name] = cells[:, j].astype(np.float64)  # (n_rows,)
        except ValueError:
            row, cell = next((i, str(c)) for i, c in enumerate(cells[:, j]) if not _is_float(c))  # error path only
            raise HrlkitError(
                f"{path} is malformed: column {name!r} holds the non-numeric cell {cell!r} on line {row + 2}; "
                f"fix or delete that line"
            ) from None
    return columns


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def run_key(run_dir: str | Path) -> tuple[str, str]:
    """(algo, env) of a run from its `config.yaml`; a missing file or field falls back to the parent dir's name.

    The fallback fits a layout like `runs/td3_pendulum/seed_0`, where the parent names the experiment.
    """
    run_dir = Path(run_dir)
    fallback = run_dir.resolve().parent.name
    config: dict = {}
    path = run_dir / "config.yaml"
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise HrlkitError(f"{path} is not valid YAML ({e.__class__.__name__}): fix or delete it") from None
        config = loaded if isinstance(loaded, dict) else {}
    run = config.get("run") if isinstance(config.get("run"), dict) else {}
    algo = config.get("algo") or fallback
    env = run.get("env") or fallback
    return str(algo), str(env)


def group_runs(
    run_dirs: Iterable[str | Path], labels: Mapping[Path, str] | None = None
) -> dict[tuple[str, str], list[Path]]:
    """Group run directories by (algo, env) so the seeds of one algorithm on one env form one curve.

    Args:
        run_dirs: run directories, in any order.
        labels: a label per run directory that replaces its algo, e.g. to tell HIRO from its ablation (both `hiro`).

    Returns:
        (algo, env) -> run directories, in first-seen order (dict insertion order is the plot's legend order).
    """
    groups: dict[tuple[str, str], list[Path]] = {}
    for run_dir in run_dirs:
        algo, env = run_key(run_dir)
        if labels is not None:
            algo = labels[Path(run_dir)]
        groups.setdefault((algo, env), []).append(Path(run_dir))
    return groups


# ----------------------------------------------------------------------------------------------------- aggregation
def common_grid(curves: Sequence[Curve], num: int = 200) -> np.ndarray:
    """`num` evenly spaced env steps covered by every curve: from the latest first step to the earliest last step.

    Raises:
        HrlkitError: the curves do not overlap in env steps.
    """
    start = max(float(x[0]) for x, _ in curves)
    stop = min(float(x[-1]) for x, _ in curves)
    if start > stop:
        raise HrlkitError(
            f"the runs' logged env steps do not overlap ({start:g} > {stop:g}): plot runs of comparable length"
        )
    return np.linspace(start, stop, num if stop > start else 1)  # (G,)


def aggregate(
    curves: Sequence[Curve], grid: np.ndarray, reps: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interquartile mean (IQM) across seeds and its 95 % stratified-bootstrap interval, on `grid`: the numbers
    `hrlkit report` gives (rliable, `hrlkit.report.interval_estimates`).

    Each curve is linearly interpolated at the grid points (`np.interp`, so points outside a curve's range take its
    end values; use `common_grid` to stay inside). At each grid point the IQM is the mean of the middle 50 % of the
    seeds' values (`scipy.stats.trim_mean(values, 0.25)`: with fewer than 4 seeds nothing is cut, and it is the mean);
    the interval is the 2.5-97.5 percentile range of the IQM over `reps` resamples of the seeds, drawn independently at
    each grid point from a generator seeded with `seed`, so a plot is the same each time. A single seed has no spread
    to resample: low == high == its curve. A percentile interval stays within the values the seeds took (a success
    rate's band within [0, 1]).

    Args:
        curves: one (env_steps (N_i,), values (N_i,)) pair per seed, env steps increasing, no NaN.
        grid: env steps to evaluate at, shape (G,).

    Returns:
        iqm, low, high, each of shape (G,).
    """
    from scipy.stats import trim_mean

    grid = np.asarray(grid, dtype=np.float64)
    assert grid.ndim == 1, f"grid must be 1-D, got shape {grid.shape}"
    if not curves:
        raise ValueError("aggregate needs at least one curve")
    ys = np.stack([np.interp(grid, np.asarray(x, float), np.asarray(y, float)) for x, y in curves])  # (n, G)
    iqm = trim_mean(ys, 0.25, axis=0)  # (G,)
    if ys.shape[0] == 1:
        return iqm, iqm.copy(), iqm.copy()
    from hrlkit.report import interval_estimates

    _, intervals = interval_estimates({"curve": ys}, lambda m: trim_mean(m, 0.25, axis=0), reps, seed)
    low, high = np.asarray(intervals["curve"], np.float64)
    return iqm, np.minimum(low, iqm), np.maximum(high, iqm)


def run_seed(run_dir: Path) -> str:
    """The seed a run was trained with (from config.yaml), or its directory when it has none: two runs of one seed
    count once in a legend's "N seeds"."""
    try:
        config = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
        return str(config["run"]["seed"])
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return str(Path(run_dir).resolve())


def seed_curve(progress: dict[str, np.ndarray], metric: str, run_dir: Path) -> Curve:
    """The (env_steps, values) points of `metric` where both are recorded, sorted by env step."""
    if STEP_KEY not in progress:
        raise HrlkitError(f"{run_dir / 'progress.csv'} has no {STEP_KEY!r} column: it was not written by hrlkit")
    if metric not in progress:
        raise HrlkitError(
            f"{run_dir / 'progress.csv'} has no column {metric!r}; choose metric= from: {', '.join(sorted(progress))}"
        )
    x, y = progress[STEP_KEY], progress[metric]  # (n_rows,)
    keep = ~(np.isnan(x) | np.isnan(y))
    if not keep.any():
        raise HrlkitError(f"{run_dir / 'progress.csv'} never recorded {metric!r}: train longer or pick another metric=")
    order = np.argsort(x[keep], kind="stable")
    return x[keep][order], y[keep][order]


def default_metric(progresses: Sequence[dict[str, np.ndarray]], runs: Sequence[Path] = ()) -> str:
    """The first of `DEFAULT_METRICS` that every run recorded at least once: `eval/success_rate` (a task measured by
    success, like the mazes), `eval/mean_return`, then `rollout/ep_rew_mean`. Passing over a metric that only some
    runs have is said on stderr, naming a run without it."""
    import sys

    def has(p: dict[str, np.ndarray], metric: str) -> bool:
        return metric in p and bool((~np.isnan(p[metric])).any())

    for metric in DEFAULT_METRICS[:-1]:
        missing = [i for i, p in enumerate(progresses) if not has(p, metric)]
        if not missing:
            return metric
        if len(missing) < len(progresses):
            name = runs[missing[0]] if runs else f"run {missing[0]}"
            print(f"plot: {metric} is missing from {name} ({len(missing)} of {len(progresses)} runs): not plotted; "
                  "give --metric to choose", file=sys.stderr)  # fmt: skip
    return DEFAULT_METRICS[-1]


# ----------------------------------------------------------------------------------------------------- plotting
def plot_learning_curves(
    run_dirs: Iterable[str | Path], out: str | Path, metric: str | None = None, labels: Mapping[Path, str] | None = None
) -> Path:
    """Plot one IQM curve with its 95% bootstrap band per (algo, env) group of seeds; one panel per env. Save a PNG.

    Args:
        run_dirs: run directories (each with `progress.csv` and, ideally, `config.yaml`).
        out: PNG path to write; parent directories are created.
        metric: progress.csv column for the y axis; default: the first of `eval/success_rate`, `eval/mean_return`,
            `rollout/ep_rew_mean` that every run recorded (`default_metric`).
        labels: a legend label per run directory in place of its algo (runs sharing a label and env form one curve).

    Returns:
        The path of the written PNG.

    Raises:
        HrlkitError: no runs, a run without the metric, runs that do not overlap, or `out` not ending in `.png`.
    """
    out = png_path(out)
    groups = group_runs(run_dirs, labels)
    if not groups:
        raise HrlkitError("no run directories given: pass at least one run directory written by `hrlkit train`")
    progress = {run: load_progress(run) for runs in groups.values() for run in runs}
    metric = metric or default_metric(list(progress.values()), list(progress))

    envs = list(dict.fromkeys(env for _, env in groups))
    # more than three curves in a panel: the legend goes beside it, where it hides no curve
    beside = max(sum(group_env == env for _, group_env in groups) for env in envs) > 3
    fig, axes = plt.subplots(1, len(envs), figsize=((8.5 if beside else 6) * len(envs), 4.5), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        any_band = False
        for (algo, group_env), runs in groups.items():
            if group_env != env:
                continue
            curves = [seed_curve(progress[run], metric, run) for run in runs]
            grid = common_grid(curves)
            mean, low, high = aggregate(curves, grid)
            n, seeds = len(curves), len({run_seed(run) for run in runs})
            count = f"{seeds} seed{'s' if seeds != 1 else ''}" + (f", {n} runs" if n != seeds else "")
            end = max(float(x[-1]) for x, _ in curves)
            cut = f", cut at {grid[-1]:g} of {end:g} steps" if end > grid[-1] else ""
            few = len(grid) == 1 or min(len(x) for x, _ in curves) < 3  # a curve of 1-2 points: show the points
            (line,) = ax.plot(grid, mean, marker="o" if few else None, label=f"{algo} ({count}{cut})")
            if n > 1:
                band = "95% bootstrap CI of the IQM" if not any_band else None
                ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.25, linewidth=0, label=band)
                any_band = True
        ax.set_title(env)
        ax.set_xlabel("env steps")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if beside:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        else:
            ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out


# ----------------------------------------------------------------------------------------------- trajectory maps
Rect = tuple[float, float, float, float]  # (x, y, width, height): the corner with the smallest x and y, in env x-y


def maze_walls(env: Any) -> list[Rect]:
    """The wall cells of a maze env as rectangles in the env's x-y coordinates; [] for an env that is not a maze.

    hrlkit's toy mazes: `walls[row, col]` with unit cells, x = col, y = row, so wall (row, col) is (col, row, 1, 1).
    gymnasium-robotics mazes (PointMaze_*, AntMaze_*): `maze.maze_map[i][j] == 1` is a block of side
    `maze_size_scaling` centred on `maze.cell_rowcol_to_xy((i, j))`, i.e. x = (j + 0.5) s - x_center,
    y = y_center - (i + 0.5) s: rows go down the map while y goes up.
    """
    base = getattr(env, "unwrapped", env)
    walls = getattr(base, "walls", None)
    if walls is not None:
        rows, cols = np.nonzero(np.asarray(walls))
        return [(float(c), float(r), 1.0, 1.0) for r, c in zip(rows, cols, strict=True)]
    maze = getattr(base, "maze", None)
    if maze is None or not hasattr(maze, "maze_map"):
        return []
    s = float(maze.maze_size_scaling)
    rects = []
    for i, row in enumerate(maze.maze_map):
        for j, cell in enumerate(row):
            if cell == 1:  # the other cells: 0 free, "r"/"g"/"c" reset and goal cells
                x, y = maze.cell_rowcol_to_xy(np.array([i, j]))
                rects.append((float(x) - s / 2, float(y) - s / 2, s, s))
    return rects


def maze_y_down(env: Any) -> bool:
    """Whether the env's pictures put y downwards (hrlkit's toy mazes, drawn like their `walls` array), so a map of it
    should too; gymnasium-robotics mazes have y up."""
    return getattr(getattr(env, "unwrapped", env), "walls", None) is not None


@dataclass
class MazePanel:
    """One panel of `plot_trajectories`: a run's evaluation trajectories over its maze."""

    title: str
    trajectories: Sequence[Trajectory]
    walls: Sequence[Rect] = field(default_factory=list)
    y_down: bool = False


def draw_trajectories(ax: Any, panel: MazePanel) -> None:
    """Draw one panel on a matplotlib Axes: walls, then per episode its path, start, goal and subgoals (x-y only)."""
    from matplotlib.patches import Rectangle

    for x, y, w, h in panel.walls:
        ax.add_patch(Rectangle((x, y), w, h, facecolor="0.6", edgecolor="0.45", linewidth=0.5, zorder=1))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, traj in enumerate(panel.trajectories):
        colour = colours[k % len(colours)]
        pos = traj.positions  # (T + 1, G) or None
        label = f"episode {k}" + (" (success)" if traj.success else "")
        if pos is not None and pos.shape[1] >= 2:
            ax.plot(pos[:, 0], pos[:, 1], color=colour, linewidth=1.5, label=label, zorder=3)
            ax.plot(pos[0, 0], pos[0, 1], "o", color=colour, markeredgecolor="k", markersize=7, zorder=5)
        if traj.goal is not None and len(traj.goal) >= 2:
            ax.plot(traj.goal[0], traj.goal[1], "*", color="gold", markeredgecolor="k", markersize=14, zorder=5)
        if len(traj.subgoals) and traj.subgoals.shape[1] >= 2:
            tx, ty = traj.subgoals[:, 0], traj.subgoals[:, 1]  # (K,)
            if pos is not None and pos.shape[1] >= 2:
                fx, fy = pos[traj.subgoal_steps, 0], pos[traj.subgoal_steps, 1]  # (K,): where each was chosen
                ax.plot(np.stack([fx, tx]), np.stack([fy, ty]), color=colour, linewidth=0.6, alpha=0.6, zorder=2)
            ax.plot(tx, ty, "x", color=colour, markersize=6, markeredgewidth=1.5, zorder=4)
    # Legend entries for the symbols (colours are per episode).
    ax.plot([], [], "o", color="w", markeredgecolor="k", label="start")
    ax.plot([], [], "*", color="gold", markeredgecolor="k", markersize=10, label="goal")
    ax.plot([], [], "x", color="k", label="subgoal")
    ax.set_aspect("equal")
    ax.autoscale_view()
    if panel.walls:
        xs = [x for x, _, w, _ in panel.walls] + [x + w for x, _, w, _ in panel.walls]
        ys = [y for _, y, _, h in panel.walls] + [y + h for _, y, _, h in panel.walls]
        ax.set_xlim(min(xs), max(xs))
        ax.set_ylim(min(ys), max(ys))
    if panel.y_down:
        ax.invert_yaxis()
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(panel.title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)


def plot_trajectories(panels: MazePanel | Sequence[MazePanel], out: str | Path) -> Path:
    """Top-down maze maps of evaluation trajectories and their subgoals, one panel per run. Save a PNG.

    Args:
        panels: one `MazePanel` per run (title, trajectories from `hrlkit.training.evaluate.load_trajectories`, walls
            from `maze_walls`, y direction from `maze_y_down`).
        out: PNG path to write; parent directories are created.

    Returns:
        The path of the written PNG.

    Raises:
        HrlkitError: no panels, or `out` not ending in `.png`.
    """
    out = png_path(out)
    panels = [panels] if isinstance(panels, MazePanel) else list(panels)
    if not panels:
        raise HrlkitError("no trajectories to plot: pass at least one run directory")
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        draw_trajectories(ax, panel)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out


# ------------------------------------------------------------------------------------------------- option pictures
@dataclass
class OptionPanel:
    """One row of `plot_options`: a run's evaluation episodes with the option active at each step.

    `grid` (Four Rooms and other grid worlds): `walls` (H, W) bool, `cell_options` (H, W) int, the option the agent
    picks in each free cell when it starts there (-1 on walls), and `goal` (row, col); trajectories then carry
    (row, col) positions.
    """

    title: str
    trajectories: Sequence[Trajectory]
    n_options: int
    walls: np.ndarray | None = None
    cell_options: np.ndarray | None = None
    goal: tuple[int, int] | None = None


def option_timeline(trajectories: Sequence[Trajectory]) -> np.ndarray:
    """The episodes' options as one (E, T_max) float array for an image: option k at [e, t], NaN after an episode ends.

    Worked example: options [0, 0, 1] and [1] -> [[0, 0, 1], [1, nan, nan]].
    """
    runs = [t.options for t in trajectories if t.options is not None]
    if not runs:
        raise HrlkitError(
            "the evaluation recorded no options: --options needs an option agent (option-critic, ppoc, dac)"
        )
    out = np.full((len(runs), max(len(r) for r in runs)), np.nan)
    for e, r in enumerate(runs):
        out[e, : len(r)] = r
    return out


def draw_option_panel(axes: Sequence[Any], panel: OptionPanel) -> None:
    """Timeline on axes[0]; on axes[1] (grid worlds) the map coloured by option with the longest episode's path,
    each step's dot in the colour of the option that chose it."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    colours = plt.get_cmap("tab10").colors[: max(panel.n_options, 1)]
    cmap = ListedColormap(colours).with_extremes(bad="white")
    ax = axes[0]
    timeline = option_timeline(panel.trajectories)
    ax.imshow(np.ma.masked_invalid(timeline), aspect="auto", cmap=cmap, vmin=-0.5, vmax=panel.n_options - 0.5,
              interpolation="nearest")  # fmt: skip
    ax.set_xlabel("step")
    ax.set_ylabel("evaluation episode")
    ax.set_yticks(range(timeline.shape[0]))
    ax.set_title(f"{panel.title}: active option per step")
    handles = [Patch(color=colours[k], label=f"option {k}") for k in range(panel.n_options)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    if panel.walls is None or panel.cell_options is None or len(axes) < 2:
        return
    ax = axes[1]
    image = np.where(panel.walls, np.nan, panel.cell_options.astype(float))  # (H, W)
    ax.imshow(np.full(panel.walls.shape, 0.0), cmap="Greys", vmin=0, vmax=1)  # white under the free cells
    ax.imshow(np.ma.masked_invalid(image), cmap=cmap, vmin=-0.5, vmax=panel.n_options - 0.5, alpha=0.55)
    ax.imshow(np.ma.masked_where(~panel.walls, panel.walls.astype(float)), cmap="Greys", vmin=0, vmax=1.4)
    drawn = [(k, t) for k, t in enumerate(panel.trajectories) if t.positions is not None and t.options is not None]
    path_title = ""
    if drawn:
        k, first = max(drawn, key=lambda kt: kt[1].length)  # the longest episode shows the most of the options
        path_title = f"; episode {k}'s path"
        rows, cols = first.positions[:, 0], first.positions[:, 1]  # (T + 1,)
        ax.plot(cols, rows, color="k", linewidth=0.8, alpha=0.6)
        ax.scatter(cols[:-1], rows[:-1], c=[colours[o] for o in first.options], s=28, edgecolors="k", zorder=3)
        ax.plot(cols[0], rows[0], "o", color="w", markeredgecolor="k", markersize=9, zorder=4)
    if panel.goal is not None:
        ax.plot(panel.goal[1], panel.goal[0], "*", color="gold", markeredgecolor="k", markersize=16, zorder=5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("option picked when starting in each cell" + path_title)


def plot_options(panels: OptionPanel | Sequence[OptionPanel], out: str | Path) -> Path:
    """What each option learned: per run, the active option over its evaluation episodes (and, on a grid world, the map
    coloured by option). Save a PNG and return its path.

    Raises:
        HrlkitError: no panels, `out` not ending in `.png`, or trajectories without options (not an option agent).
    """
    out = png_path(out)
    panels = [panels] if isinstance(panels, OptionPanel) else list(panels)
    if not panels:
        raise HrlkitError("no runs to plot: pass at least one run directory")
    columns = 2 if any(p.walls is not None for p in panels) else 1
    fig, axes = plt.subplots(len(panels), columns, figsize=(7 * columns, 3.6 * len(panels)), squeeze=False)
    for row, panel in zip(axes, panels, strict=True):
        draw_option_panel(row, panel)
        if columns == 2 and panel.walls is None:
            row[1].axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out
