"""`hrlkit report`'s numbers by hand on tiny score matrices, its grouping of runs, and the CLI on hand-made run dirs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from hrlkit.cli import main
from hrlkit.errors import HrlkitError
from hrlkit.report import (
    aggregates,
    config_labels,
    curve_estimates,
    improvement,
    make_report,
    read_groups,
    treatment_names,
    value_at,
)  # fmt: skip


def test_aggregates_by_hand() -> None:
    # 8 runs scoring 1..8: the IQM drops the lowest and highest quarter (1, 2 and 7, 8): mean of 3..6 = 4.5.
    scores = {"a": np.arange(1.0, 9.0)[:, None]}
    table = aggregates(scores, optimal=6.0, reps=500)["a"]
    assert table["IQM"][0] == pytest.approx(4.5)
    assert table["mean"][0] == pytest.approx(4.5) and table["median"][0] == pytest.approx(4.5)
    # optimality gap: mean of max(6 - x, 0) = (5 + 4 + 3 + 2 + 1 + 0 + 0 + 0) / 8
    assert table["optimality gap"][0] == pytest.approx(15 / 8)
    for point, low, high in table.values():
        assert low <= point <= high and low < high  # spread scores: a real interval around the estimate
    # identical runs: no spread to resample
    assert aggregates({"b": np.full((4, 1), 0.5)}, optimal=None, reps=200)["b"]["IQM"] == (0.5, 0.5, 0.5)


def test_intervals_are_the_same_each_time_and_leave_numpy_global_generator_alone() -> None:
    # rliable resamples with numpy's global generator whatever random_state it is given: the report seeds it for the
    # call. Three runs over 40 "tasks" (the curve matrix of the plots): the intervals depend on the resamples.
    scores = {"a": np.random.default_rng(3).random((3, 40))}
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = aggregates(scores, optimal=None, reps=100, seed=0)
    assert np.random.random() == expected_next  # the caller's draws go on as if the report had not run
    np.random.seed(7)  # another global state: the same report
    assert aggregates(scores, optimal=None, reps=100, seed=0) == first
    assert improvement(scores["a"][:, :1], scores["a"][:, 1:2], reps=100, seed=0) == improvement(
        scores["a"][:, :1], scores["a"][:, 1:2], reps=100, seed=0
    )
    assert aggregates(scores, optimal=None, reps=100, seed=1) != first  # the seed is what moves them


def test_probability_of_improvement_by_hand() -> None:
    # pairs (x, y) of x in {1, 2}, y in {0, 3}: x > y in 2 of 4, no ties
    point, low, high = improvement(np.array([[1.0], [2.0]]), np.array([[0.0], [3.0]]), reps=500)
    assert point == pytest.approx(0.5) and low <= 0.5 <= high
    # ties count half: all equal -> 0.5; all above -> 1
    assert improvement(np.ones((3, 1)), np.ones((3, 1)), reps=200)[0] == pytest.approx(0.5)
    assert improvement(np.full((3, 1), 2.0), np.ones((3, 1)), reps=200) == (1.0, 1.0, 1.0)


def write_run(path: Path, algo: str, seed: int, returns: list[float], lr: float = 1e-3) -> Path:
    path.mkdir(parents=True)
    config = {"algo": algo, "run": {"env": "Pendulum-v1", "seed": seed}, "algo_config": {"actor_lr": lr}}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    rows = ["time/env_steps,eval/mean_return,rollout/ep_rew_mean"]
    rows += [f"{100 * (i + 1)},{r},{r - 1}" for i, r in enumerate(returns)]
    (path / "progress.csv").write_text("\n".join(rows) + "\n")
    return path


def test_groups_scores_and_curves_of_hand_made_runs(tmp_path: Path) -> None:
    runs = [
        write_run(tmp_path / "a0", "sac", 0, [-900.0, -300.0]),
        write_run(tmp_path / "a1", "sac", 1, [-800.0, -200.0]),
        write_run(tmp_path / "b0", "sac", 0, [-1000.0, -700.0], lr=3e-4),
        write_run(tmp_path / "t0", "td3", 0, [-500.0, -100.0, -50.0]),
    ]
    labels = config_labels(runs)  # the runs of sac differ in actor_lr only (the seed does not count)
    assert labels[runs[0]] == labels[runs[1]] == "actor_lr=0.001" and labels[runs[2]] == "actor_lr=0.0003"
    assert labels[runs[3]] == ""
    groups, metric = read_groups(runs, None)
    assert metric == "eval/mean_return"
    by_name = {g.name: g for g in groups}
    assert by_name["sac [actor_lr=0.001]"].scores == [-300.0, -200.0]  # each run's last evaluation
    steps, iqm, low, high = curve_estimates(by_name["sac [actor_lr=0.001]"], reps=200, seed=0)
    np.testing.assert_array_equal(steps, [100.0, 200.0])
    np.testing.assert_allclose(iqm, [-850.0, -250.0])  # 2 runs: the IQM is their mean
    assert np.all(low <= iqm) and np.all(iqm <= high)

    result = make_report([tmp_path], tmp_path / "report", reps=200)  # a directory of runs stands for the runs
    assert set(result["groups"]) == {
        "sac [actor_lr=0.001] @ Pendulum-v1", "sac [actor_lr=0.0003] @ Pendulum-v1", "td3 @ Pendulum-v1"
    }  # fmt: skip
    assert result["groups"]["td3 @ Pendulum-v1"]["aggregates"]["IQM"] == (-50.0, -50.0, -50.0)
    assert "optimality gap" not in result["groups"]["td3 @ Pendulum-v1"]["aggregates"]  # no solved score for returns
    pairs = result["probability_of_improvement"]
    assert pairs["P(sac [actor_lr=0.0003] > sac [actor_lr=0.001]) @ Pendulum-v1"][0] == 0.0
    for name in ("report.md", "aggregates.png", "profiles.png", "curves.png"):
        assert (tmp_path / "report" / name).is_file()
    assert json.loads((tmp_path / "report" / "report.json").read_text())["metric"] == "eval/mean_return"


def test_a_field_an_older_run_does_not_record_counts_at_its_default(tmp_path: Path) -> None:
    """A run saved before `random_action_prob` existed trained at its default, 0: it groups with a newer run that
    records 0 and apart from one that records 0.3."""
    old = write_run(tmp_path / "old", "td3", 0, [-500.0])
    new_default, new_random = (write_run(tmp_path / n, "td3", 1, [-400.0]) for n in ("new0", "new3"))
    for run, prob in ((new_default, 0.0), (new_random, 0.3)):
        config = yaml.safe_load((run / "config.yaml").read_text())
        config["algo_config"]["random_action_prob"] = prob
        (run / "config.yaml").write_text(yaml.safe_dump(config))
    labels = config_labels([old, new_default, new_random])
    assert labels[old] == labels[new_default] == "random_action_prob=0.0"
    assert labels[new_random] == "random_action_prob=0.3"
    # a peer library's run dir (an algo hrlkit does not know) is read as written
    peer = tmp_path / "peer"
    peer.mkdir()
    (peer / "config.yaml").write_text(yaml.safe_dump({"algo": "sb3-td3-her", "run": {"env": "Pendulum-v1"}}))
    assert config_labels([peer, old])[peer] == ""


def test_plot_draws_the_groups_report_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`hrlkit plot` of two learning rates of SAC draws two curves, named as `hrlkit report` names its groups (it
    averaged both into one `sac` curve before)."""
    import hrlkit.plotting

    runs = [
        write_run(tmp_path / "a0", "sac", 0, [-900.0, -300.0]),
        write_run(tmp_path / "b0", "sac", 0, [-1000.0, -700.0], lr=3e-4),
        write_run(tmp_path / "t0", "td3", 0, [-500.0, -100.0]),
    ]
    names = treatment_names(runs)
    assert list(names.values()) == ["sac [actor_lr=0.001]", "sac [actor_lr=0.0003]", "td3"]
    assert sorted(names.values()) == sorted(g.name for g in read_groups(runs, None)[0])
    seen = {}
    real = hrlkit.plotting.plot_learning_curves

    def spy(run_dirs, out, metric=None, labels=None):
        seen.update(labels)
        return real(run_dirs, out, metric, labels)

    monkeypatch.setattr(hrlkit.plotting, "plot_learning_curves", spy)
    assert main(["plot", *map(str, runs), "--out", str(tmp_path / "curves.png")]) == 0
    assert seen == names and (tmp_path / "curves.png").is_file()


def test_value_at_by_hand() -> None:
    x, y = np.array([100.0, 200.0, 300.0]), np.array([1.0, 2.0, 3.0])
    assert value_at(x, y, 250) == 2.0  # the last evaluation at or before the step
    assert value_at(x, y, 300) == 3.0 and value_at(x, y, 100) == 1.0
    assert value_at(x, y, 301) is None  # the run has not reached 301
    assert value_at(x, y, 50) is None  # nothing evaluated yet


def test_table_at_steps_in_seed_order(tmp_path: Path) -> None:
    # seed 2 is written first and stops early: the table lists seeds 0, 2 and leaves seed 2's 300 empty
    write_run(tmp_path / "z", "sac", 2, [-900.0, -400.0])
    write_run(tmp_path / "a", "sac", 0, [-800.0, -200.0, -100.0])
    result = make_report([tmp_path], tmp_path / "report", reps=200, at=[300, 150, 200])
    table = result["at"]
    assert table["steps"] == [150, 200, 300]
    sac = table["groups"]["sac @ Pendulum-v1"]
    assert sac["seeds"] == [0, 2]
    assert sac["values"] == [[-800.0, -200.0, -100.0], [-900.0, -400.0, None]]
    assert sac["mean"] == [-850.0, -300.0, -100.0]  # 300: the one run that reached it
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| sac @ Pendulum-v1 | 0 / 2 | -850 (-800 / -900) | -300 (-200 / -400) | -100 (-100 / -) |" in md
    assert json.loads((tmp_path / "report" / "report.json").read_text())["at"]["groups"]["sac @ Pendulum-v1"] == sac
    # rates (every value within [-1, 1]) keep two decimals
    write_run(tmp_path / "rates" / "r", "td3", 0, [0.25, 0.5])
    make_report([tmp_path / "rates"], tmp_path / "rates_report", reps=200, at=[100, 200])
    assert "| td3 @ Pendulum-v1 | 0 | 0.25 | 0.50 |" in (tmp_path / "rates_report" / "report.md").read_text()


def test_report_cli_and_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path / "runs" / "r0", "sac", 0, [-900.0, -300.0])
    write_run(tmp_path / "runs" / "r1", "sac", 1, [-800.0, -200.0])
    out = tmp_path / "rep"
    assert main(["report", str(tmp_path / "runs"), "--out", str(out), "--reps", "200",
                 "--metric", "rollout/ep_rew_mean"]) == 0  # fmt: skip
    assert json.loads((out / "report.json").read_text())["groups"]["sac @ Pendulum-v1"]["scores"] == [-301.0, -201.0]
    for args, expected in (
        ([str(tmp_path / "nope")], "is not a directory"),
        ([str(tmp_path / "rep")], "holds no run"),
        ([str(tmp_path / "runs"), "--metric", "eval/success_rate"], "has no column 'eval/success_rate'"),
        ([str(tmp_path / "runs"), "--reps", "10"], "at least 100 resamples"),
        ([str(tmp_path / "runs"), "--at", "0", "100"], "distinct env step counts above 0"),
        ([str(tmp_path / "runs"), "--at", "1e5x"], "--at"),
    ):
        capsys.readouterr()
        assert main(["report", *args, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(HrlkitError, match="holds no run"):
        make_report([tmp_path / "rep"], tmp_path / "y")
