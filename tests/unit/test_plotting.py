"""Learning-curve plotting: CSV parsing, grouping, the IQM and its interval worked by hand, and the PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.axes
import numpy as np
import pytest
import yaml

from hrlkit import plotting
from hrlkit.errors import HrlkitError
from hrlkit.plotting import aggregate, common_grid, group_runs, load_progress, plot_learning_curves

# Seed k logs y = x / 100 + k on its own grid of env steps. Lines interpolate exactly, so at any common x the seeds
# hold x/100 + {0, 1, 2}: mean x/100 + 1, sample std 1, half width t_{0.975,2} / sqrt(3) = 4.303 / sqrt(3).
SEED_STEPS = {
    0: np.arange(0, 1001, 100),  # 0 .. 1000
    1: np.arange(0, 901, 150),  # 0 .. 900  <- shortest run: the grid stops here
    2: np.arange(50, 1201, 50),  # 50 .. 1200 <- latest start: the grid starts here
}


def write_run(run_dir: Path, steps: np.ndarray, offset: float, algo: str | None = "td3", seed: int = 0) -> Path:
    """A run dir like `hrlkit train` writes: eval every other dump (empty cells between), rollout every dump."""
    run_dir.mkdir(parents=True)
    lines = ["time/env_steps,eval/mean_return,rollout/ep_rew_mean"]
    for i, x in enumerate(steps):
        y = float(x) / 100 + offset
        lines.append(f"{float(x)!r},{y!r}," if i % 2 == 0 else f"{float(x)!r},,{-y!r}")
    (run_dir / "progress.csv").write_text("\n".join(lines) + "\n")
    if algo is not None:
        config = {"algo": algo, "run": {"env": "Pendulum-v1", "seed": seed}, "algo_config": {}}
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return run_dir


@pytest.fixture
def three_seeds(tmp_path: Path) -> list[Path]:
    return [write_run(tmp_path / "td3" / f"seed_{k}", steps, k, seed=k) for k, steps in SEED_STEPS.items()]


# ----------------------------------------------------------------------------------------------------- load_progress
def test_load_progress_parses_columns_and_empty_cells_as_nan(three_seeds: list[Path]) -> None:
    progress = load_progress(three_seeds[0])
    assert set(progress) == {"time/env_steps", "eval/mean_return", "rollout/ep_rew_mean"}
    np.testing.assert_array_equal(progress["time/env_steps"], np.arange(0, 1001, 100, dtype=float))
    assert all(v.dtype == np.float64 and v.shape == (11,) for v in progress.values())
    eval_ = progress["eval/mean_return"]
    np.testing.assert_array_equal(np.isnan(eval_), np.arange(11) % 2 == 1)  # recorded every other dump
    np.testing.assert_allclose(eval_[::2], np.arange(0, 1001, 200) / 100)
    assert np.isnan(progress["rollout/ep_rew_mean"][::2]).all()


def test_load_progress_missing_dir_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_run"
    with pytest.raises(HrlkitError, match="no_such_run.*does not exist"):
        load_progress(missing)


def test_load_progress_missing_csv(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(HrlkitError, match=r"progress\.csv not found"):
        load_progress(tmp_path / "run")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty"),
        ("time/env_steps,eval/mean_return\n", "no rows"),
        ("time/env_steps,eval/mean_return\n1.0,2.0\n2.0,3.0,4.0\n", "line 3"),
        ("time/env_steps,eval/mean_return\n1.0,abc\n", "'eval/mean_return' holds the non-numeric cell 'abc' on line 2"),
    ],
)
def test_load_progress_malformed(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "progress.csv").write_text(text)
    with pytest.raises(HrlkitError, match=match) as info:
        load_progress(tmp_path)
    assert "\n" not in str(info.value)  # one-line message


# ----------------------------------------------------------------------------------------------------- grouping
def test_group_runs_by_algo_and_env_with_parent_dir_fallback(tmp_path: Path, three_seeds: list[Path]) -> None:
    sac = write_run(tmp_path / "sac" / "seed_0", np.arange(0, 501, 100), 0.0, algo="sac")
    bare = [write_run(tmp_path / "my_experiment" / f"s{k}", np.arange(0, 501, 100), k, algo=None) for k in range(2)]
    groups = group_runs([three_seeds[0], sac, bare[0], three_seeds[1], bare[1], three_seeds[2]])
    assert groups == {
        ("td3", "Pendulum-v1"): three_seeds,
        ("sac", "Pendulum-v1"): [sac],
        ("my_experiment", "my_experiment"): bare,
    }


def test_group_runs_by_label_splits_runs_of_one_algo(tmp_path: Path, three_seeds: list[Path]) -> None:
    """Two variants of one algo (HIRO and its ablation both write `algo: hiro`) get a curve each through labels."""
    ablation = [write_run(tmp_path / "abl" / f"s{k}", np.arange(0, 501, 100), k) for k in range(2)]
    labels = {**{p: "td3" for p in three_seeds}, **{p: "td3-ablation" for p in ablation}}
    assert set(group_runs([*three_seeds, *ablation])) == {("td3", "Pendulum-v1")}  # without labels: one group
    groups = group_runs([*three_seeds, *ablation], labels)
    assert groups == {("td3", "Pendulum-v1"): three_seeds, ("td3-ablation", "Pendulum-v1"): ablation}
    png = plot_learning_curves([*three_seeds, *ablation], tmp_path / "two.png", labels=labels)
    assert png.is_file()


def test_rate_bands_stay_in_0_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two seeds of a success rate at 0.0 and 1.0: the bootstrap band is [0, 1] with no clipping (a t interval of two
    seeds spanned about +-6 and had to be cut)."""
    runs = []
    for k, value in enumerate([0.0, 1.0]):
        d = tmp_path / f"s{k}"
        d.mkdir()
        (d / "progress.csv").write_text(f"time/env_steps,eval/success_rate\n0.0,{value}\n100.0,{value}\n")
        runs.append(d)
    bands = []
    original = matplotlib.axes.Axes.fill_between

    def spy(self, x, low, high, **kwargs):
        bands.append((np.asarray(low), np.asarray(high)))
        return original(self, x, low, high, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "fill_between", spy)
    plot_learning_curves(runs, tmp_path / "rate.png", "eval/success_rate")
    ((low, high),) = bands
    np.testing.assert_array_equal(low, 0.0)
    np.testing.assert_array_equal(high, 1.0)


# ----------------------------------------------------------------------------------------------------- aggregation
def test_aggregate_two_seeds_by_hand() -> None:
    # At each grid point the seeds hold 0 and 2. The IQM of 2 values cuts nothing: their mean, 1. A resample of the 2
    # seeds has mean 0, 1 or 2 with probability 1/4, 1/2, 1/4, so its 2.5 and 97.5 percentiles are 0 and 2.
    curves = [(np.array([0.0, 10.0]), np.array([0.0, 0.0])), (np.array([0.0, 10.0]), np.array([2.0, 2.0]))]
    iqm, low, high = aggregate(curves, np.array([0.0, 5.0, 10.0]))
    np.testing.assert_allclose(iqm, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(low, [0.0] * 3)
    np.testing.assert_array_equal(high, [2.0] * 3)
    # 8 seeds at 1..8: the IQM drops the lowest and highest two, (3 + 4 + 5 + 6) / 4
    iqm8 = aggregate([(np.array([0.0, 1.0]), np.full(2, v)) for v in range(1, 9)], np.array([0.0]))[0]
    np.testing.assert_allclose(iqm8, [4.5])


def test_aggregate_interpolates_three_seeds_on_different_grids(three_seeds: list[Path]) -> None:
    curves = [plotting.seed_curve(load_progress(run), "eval/mean_return", run) for run in three_seeds]
    grid = common_grid(curves)
    assert grid[0] == 50.0 and grid[-1] == 900.0  # eval at even dumps: seed 2 from 50, seed 1 up to 900
    mean, low, high = aggregate(curves, grid)
    assert mean.shape == low.shape == high.shape == grid.shape
    np.testing.assert_allclose(mean, grid / 100 + 1)
    # The seeds are 1 apart (offsets 0, 1, 2), so a resample's mean lies within 1 of the IQM; it is at least 2/3 above
    # it (two highest seeds and the middle one, or three highest) with probability 4/27 > 2.5 %: the 97.5 percentile
    # lies in [2/3, 1] above the IQM, and the 2.5 percentile as far below.
    assert np.all(high - mean <= 1.0 + 1e-12) and np.all(high - mean >= 2 / 3 - 1e-12)
    assert np.all(mean - low <= 1.0 + 1e-12) and np.all(mean - low >= 2 / 3 - 1e-12)


def test_aggregate_single_seed_has_no_band() -> None:
    mean, low, high = aggregate([(np.array([0.0, 4.0]), np.array([1.0, 3.0]))], np.array([0.0, 1.0, 4.0]))
    np.testing.assert_allclose(mean, [1.0, 1.5, 3.0])
    np.testing.assert_array_equal(low, mean)
    np.testing.assert_array_equal(high, mean)


def test_common_grid_rejects_runs_that_do_not_overlap() -> None:
    curves = [(np.array([0.0, 10.0]), np.zeros(2)), (np.array([20.0, 30.0]), np.zeros(2))]
    with pytest.raises(HrlkitError, match="do not overlap"):
        common_grid(curves)


def test_default_metric_prefers_eval_when_every_run_recorded_it(three_seeds: list[Path]) -> None:
    progresses = [load_progress(run) for run in three_seeds]
    assert plotting.default_metric(progresses) == "eval/mean_return"
    progresses[1]["eval/mean_return"][:] = np.nan
    assert plotting.default_metric(progresses) == "rollout/ep_rew_mean"
    del progresses[1]["eval/mean_return"]
    assert plotting.default_metric(progresses) == "rollout/ep_rew_mean"


# ----------------------------------------------------------------------------------------------------- the plot
def test_plot_learning_curves_writes_png_with_mean_line(
    tmp_path: Path, three_seeds: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = []
    monkeypatch.setattr(plotting.plt, "close", figures.append)  # keep the figure to inspect what was drawn
    sac = write_run(tmp_path / "sac" / "seed_0", np.arange(0, 501, 100), 5.0, algo="sac")

    out = plot_learning_curves([*three_seeds, sac], tmp_path / "plots" / "curves.png")

    assert out == tmp_path / "plots" / "curves.png"
    assert out.stat().st_size > 1000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ax,) = figures[0].axes
    assert ax.get_title() == "Pendulum-v1"
    assert ax.get_xlabel() == "env steps"
    assert ax.get_ylabel() == "eval/mean_return"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "td3 (3 seeds, cut at 900 of 1150 steps)", "95% bootstrap CI of the IQM", "sac (1 seed)"
    ]  # fmt: skip
    td3_line, sac_line = ax.get_lines()
    x, y = td3_line.get_data()
    np.testing.assert_allclose(y, np.asarray(x) / 100 + 1)
    assert len(ax.collections) == 1  # one CI band: the single sac seed has none


def test_a_legend_of_more_than_three_curves_goes_beside_the_panel(
    tmp_path: Path, three_seeds: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = []
    monkeypatch.setattr(plotting.plt, "close", figures.append)
    steps = np.arange(0, 501, 100)
    others = [write_run(tmp_path / algo / "seed_0", steps, 5.0, algo=algo) for algo in ("sac", "ddpg")]
    plot_learning_curves([*three_seeds, *others], tmp_path / "three.png")
    plot_learning_curves([*three_seeds, *others, write_run(tmp_path / "ppo" / "seed_0", steps, 2.0, algo="ppo")],
                         tmp_path / "four.png")  # fmt: skip

    (inside,), (beside,) = (figure.axes for figure in figures)

    def legend_and_panel(ax):  # noqa: ANN001, ANN202
        renderer = ax.figure.canvas.get_renderer()
        return ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)

    legend, panel = legend_and_panel(inside)  # three curves: the legend inside the panel
    assert panel.x0 <= legend.x0 and legend.x1 <= panel.x1
    legend, panel = legend_and_panel(beside)  # four: right of it, on a wider figure
    assert legend.x0 >= panel.x1
    assert figures[1].get_size_inches()[0] > figures[0].get_size_inches()[0]


def test_plot_learning_curves_explicit_metric_and_errors(tmp_path: Path, three_seeds: list[Path]) -> None:
    out = plot_learning_curves(three_seeds, tmp_path / "rollout.png", metric="rollout/ep_rew_mean")
    assert out.stat().st_size > 0
    with pytest.raises(HrlkitError, match="no column 'train/nope'"):
        plot_learning_curves(three_seeds, tmp_path / "x.png", metric="train/nope")
    with pytest.raises(HrlkitError, match="must end in .png"):
        plot_learning_curves(three_seeds, tmp_path / "x.pdf")
    with pytest.raises(HrlkitError, match="does not exist"):
        plot_learning_curves([tmp_path / "missing_run"], tmp_path / "x.png")


def test_default_metric_is_the_success_rate_where_every_run_has_one(three_seeds: list[Path], capsys) -> None:
    progresses = [load_progress(run) for run in three_seeds]
    for p in progresses:
        p["eval/success_rate"] = np.where(np.isnan(p["eval/mean_return"]), np.nan, 0.5)
    assert plotting.default_metric(progresses, three_seeds) == "eval/success_rate"
    del progresses[2]["eval/success_rate"]
    assert plotting.default_metric(progresses, three_seeds) == "eval/mean_return"
    assert f"eval/success_rate is missing from {three_seeds[2]} (1 of 3 runs)" in capsys.readouterr().err


def test_legend_counts_seeds_not_runs_and_marks_short_curves(tmp_path: Path, monkeypatch) -> None:
    figures = []
    monkeypatch.setattr(plotting.plt, "close", figures.append)
    runs = [write_run(tmp_path / f"r{k}", np.array([0.0, 100.0]), k, seed=0) for k in range(2)]  # one seed twice
    plot_learning_curves(runs, tmp_path / "c.png", metric="rollout/ep_rew_mean")
    (ax,) = figures[0].axes
    assert ax.get_legend().get_texts()[0].get_text() == "td3 (1 seed, 2 runs)"
    assert ax.get_lines()[0].get_marker() == "o"  # a curve of one or two points is drawn as points
