"""`hrlkit sweep` on a real Ray cluster of two nodes on this machine (`ray start --head --num-cpus 1` and a second node
joined with `ray start --address`), shared by the module's tests: trials land on both nodes, their run dirs, Tune's
metrics and the report agree with the runs' progress.csv, ASHA ends a trial early, and a trial whose worker is killed
is restarted and logs what an uninterrupted `hrlkit train` logs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smoke.helpers import assert_same_progress, cli_popen, read_progress, run_cli

# Ray is not imported here: a module imported at collection stays in the pytest process, and other tests fork
# children from it (tests/hostile.py), which Ray's threads would leave hanging.
if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray Tune is not installed: pip install 'hrlkit[sweep]'", allow_module_level=True)

RAY = str(Path(sys.executable).parent / "ray")
# Every trial: tiny SAC on Pendulum, evaluated (1 episode) and logged every 200 env steps.
TRIAL = [
    "--env", "Pendulum-v1", "--learning-starts", "100", "--eval-freq", "200", "--eval-episodes", "1",
    "--log-interval", "200", "--checkpoint-freq", "200", "--hidden", "32,32", "--batch-size", "32",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_env() -> dict[str, str]:
    # `ray start --head` turns token authentication on; the other processes must send the token (~/.ray/auth_token)
    return {**os.environ, "RAY_AUTH_MODE": "token"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a two-node cluster (1 CPU each); `--block` keeps each node's processes under its Popen, so the
    teardown stops these nodes and nothing else on the machine."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("ray")
    common = ["--num-cpus", "1", "--block", "--disable-usage-stats"]
    nodes = [
        subprocess.Popen(
            [RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common],
            stdout=(logs / "head.log").open("w"), stderr=subprocess.STDOUT, env=_ray_env(),
        )
    ]  # fmt: skip
    try:
        _wait_for_nodes(address, 1)
        nodes.append(
            subprocess.Popen(
                [RAY, "start", "--address", address, *common],
                stdout=(logs / "worker.log").open("w"), stderr=subprocess.STDOUT, env=_ray_env(),
            )
        )  # fmt: skip
        _wait_for_nodes(address, 2)
        yield address
    finally:
        for node in reversed(nodes):
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(60)
            except subprocess.TimeoutExpired:
                node.kill()


def _wait_for_nodes(address: str, n: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = subprocess.run(
            [RAY, "status", "--address", address], capture_output=True, text=True, env=_ray_env(), timeout=60
        )
        if status.returncode == 0 and status.stdout.count(" node_") >= n:
            return
        time.sleep(1.0)
    raise AssertionError(f"the Ray cluster at {address} did not reach {n} nodes in {timeout} s")


def sweep(args: list[str], cwd: Path, address: str, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "hrlkit.cli", "sweep", *args, "--address", address], cwd=cwd, env=_ray_env(),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def tune_results(out: Path) -> dict[str, list[dict]]:
    """Trial name -> the results it reported to Tune, in order."""
    return {
        d.name: [json.loads(line) for line in (d / "result.json").read_text().splitlines() if line.strip()]
        for d in sorted((out / "tune").iterdir())
        if (d / "result.json").is_file()
    }


def test_a_grid_of_seeds_and_values_on_two_nodes(cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    sweep(["sac", *TRIAL, "--total-env-steps", "400", "--seeds", "2", "--grid", "algo.actor_lr=1e-3,3e-4",
           "--out", str(out)], tmp_path, cluster)  # fmt: skip
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 4
    labels = sorted(
        (json.loads((r / "sweep.json").read_text())["label"], json.loads((r / "sweep.json").read_text())["seed"])
        for r in runs
    )
    assert labels == [("actor_lr=1e-3", 0), ("actor_lr=1e-3", 1), ("actor_lr=3e-4", 0), ("actor_lr=3e-4", 1)]
    results = tune_results(out)
    assert sorted(results) == sorted(r.name for r in runs)  # a run dir per trial, named as Tune's trial
    nodes = set()
    report = json.loads((out / "report" / "report.json").read_text())
    scores = {}
    for run in runs:
        rows = [r for r in read_progress(run) if r.get("eval/mean_return")]
        tune_rows = results[run.name]
        # Tune saw what the run logged: each evaluation, at its env step
        assert [(int(float(r["time/env_steps"])), float(r["eval/mean_return"])) for r in rows] == [
            (t["env_steps"], t["eval/mean_return"]) for t in tune_rows
        ]
        assert [t["env_steps"] for t in tune_rows] == [200, 400]
        nodes |= {t["node_id"] for t in tune_rows}
        scores[str(run)] = float(rows[-1]["eval/mean_return"])
    assert len(nodes) == 2, "the trials ran on one node only"
    assert set(report["groups"]) == {"sac [actor_lr=1e-3] @ Pendulum-v1", "sac [actor_lr=3e-4] @ Pendulum-v1"}
    for group in report["groups"].values():  # the report's scores are the runs' last evaluations
        assert group["scores"] == [scores[r] for r in group["runs"]]
        point, low, high = group["aggregates"]["mean"]
        assert point == pytest.approx(sum(group["scores"]) / 2) and low <= point <= high
    assert (out / "report" / "report.md").is_file() and (out / "report" / "curves.png").is_file()
    # a trial's run dir is an ordinary one: it resumes
    more = run_cli(["train", "sac", "--resume", str(runs[0]), "--total-env-steps", "600", "--no-progress"], tmp_path)
    assert more.returncode == 0, more.describe()


def test_asha_ends_trailing_trials_early(cluster: str, tmp_path: Path) -> None:
    # One trial at a time, in the grid's order: ASHA compares each with those before it at the same rung, so which
    # trials it stops is fixed (the runs are seeded). Two at once made it depend on which reported first: trials that
    # arrive at a rung in rising order of return all continue, and the test failed about once in two runs.
    out = tmp_path / "asha"
    sweep(["sac", *TRIAL, "--total-env-steps", "600", "--grid", "algo.actor_lr=1e-2,1e-3,3e-4,1e-4",
           "--scheduler", "asha", "--grace-period", "200", "--max-concurrent", "1", "--out", str(out)],
          tmp_path, cluster)  # fmt: skip
    last = {name: rows[-1]["env_steps"] for name, rows in tune_results(out).items()}
    assert max(last.values()) == 600, last
    stopped = [name for name, steps in last.items() if steps < 600]
    assert stopped, f"ASHA let every trial run to the end: {last}"
    for name in stopped:  # a stopped trial's run dir ends where Tune last heard of it, with its checkpoint
        rows = read_progress(out / "runs" / name)
        assert int(float(rows[-1]["time/env_steps"])) == last[name]
        assert (out / "runs" / name / "checkpoints" / str(last[name])).is_dir()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What an uninterrupted `hrlkit train` of the trials below logs (seed 3, 2000 env steps, one thread as a trial)."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    args = ["train", "sac", *TRIAL, "--total-env-steps", "2000", "--seed", "3", "--torch-threads", "1",
            "--run-dir", str(run_dir), "--no-progress"]  # fmt: skip
    result = run_cli(args, run_dir.parent)
    assert result.returncode == 0, result.describe()
    return run_dir


def start_sweep(out: Path, cluster: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "hrlkit.cli", "sweep", "sac", *TRIAL, "--total-env-steps", "2000", "--seed", "3",
            "--address", cluster, "--out", str(out)]  # fmt: skip
    return subprocess.Popen(
        args, cwd=out.parent, env=_ray_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_mid_run(out: Path, proc: subprocess.Popen) -> Path:
    """The trial's run dir, once it holds the checkpoint of 600 env steps and not yet the last one (2000)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        runs = list((out / "runs").glob("*")) if (out / "runs").is_dir() else []
        if runs and (runs[0] / "checkpoints" / "600").is_dir() and not (runs[0] / "checkpoints" / "2000").exists():
            return runs[0]
        time.sleep(0.05)
    raise AssertionError(f"the trial was never caught mid-run: {proc.communicate()}")


def test_a_killed_trial_is_restarted_and_matches_an_uninterrupted_run(
    cluster: str, tmp_path: Path, reference: Path
) -> None:
    out = tmp_path / "killed"
    proc = start_sweep(out, cluster)
    run = wait_mid_run(out, proc)
    os.kill(int((run / ".lock").read_text()), signal.SIGKILL)  # the trial's worker process, mid-run
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert_same_progress(run, reference)  # Tune restarted it; it resumed from its checkpoint, exactly
    assert tune_results(out)[run.name][-1]["env_steps"] == 2000


def test_a_trial_anneals_over_its_whole_budget_as_train_does(cluster: str, tmp_path: Path) -> None:
    # PPO's learning rate falls linearly to 0 over the run. A trial that trained in chunks ending at each evaluation
    # (learn(128), learn(256), ...) annealed toward each chunk's end instead: the same seed logged other losses.
    trial = ["--env", "CartPole-v1", "--n-envs", "1", "--algo.n-steps", "64", "--algo.batch-size", "32",
             "--algo.n-epochs", "2", "--algo.anneal-lr", "true", "--algo.learning-rate", "1e-3", "--eval-freq", "128",
             "--eval-episodes", "1", "--log-interval", "128", "--checkpoint-freq", "128", "--total-env-steps", "512",
             "--seed", "3"]  # fmt: skip
    reference = tmp_path / "train"
    result = run_cli(["train", "ppo", *trial, "--torch-threads", "1", "--run-dir", str(reference), "--no-progress"],
                     tmp_path)  # fmt: skip
    assert result.returncode == 0, result.describe()
    out = tmp_path / "sweep"
    sweep(["ppo", *trial, "--out", str(out)], tmp_path, cluster)
    (run,) = (out / "runs").iterdir()
    rates = [float(r["train/learning_rate"]) for r in read_progress(run) if r.get("train/learning_rate")]
    # an update every 64 env steps at 1e-3 x (1 - k/8), k = 1..8; each log row the mean of its two updates (chunks
    # ending at each evaluation gave 2.5e-4, 1.25e-4, 8.3e-5, 6.25e-5: 1/2 and 0 of the chunk, 3/4 and 1/2, ...)
    assert rates == pytest.approx([13 / 16 * 1e-3, 9 / 16 * 1e-3, 5 / 16 * 1e-3, 1 / 16 * 1e-3]), rates
    assert_same_progress(run, reference)


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")],
    ids=["ctrl-c", "sigterm"],
)
def test_an_interrupted_sweep_resumes(
    cluster: str, tmp_path: Path, reference: Path, signum: int, code: int, said: str
) -> None:
    out = tmp_path / "interrupted"
    proc = start_sweep(out, cluster)
    run = wait_mid_run(out, proc)
    proc.send_signal(signum)  # Ctrl-C, or SIGTERM as a scheduler sends it: Tune saves its state and stops the trial
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == code, err[-3000:]
    assert f"hrlkit: {said} with 1 trials unfinished" in err and f"hrlkit sweep --resume {out}" in err
    assert "SIGTERM received" not in err  # Ray's own handler (a stack dump) no longer ends the driver
    assert not (run / "checkpoints" / "2000").exists()
    resumed = sweep(["--resume", str(out)], tmp_path, cluster)
    assert "IQM" in resumed.stderr
    assert_same_progress(run, reference)


def test_bad_sweeps_end_in_one_line_before_ray_starts(tmp_path: Path) -> None:
    cases = [
        (["sac", "--grid", "algo.no_such_field=1,2", "--out", "a"], "unknown config key --algo.no-such-field"),
        (["sac", "--grid", "actor_lr"], "write FIELD=V1,V2"),
        (["sac", "--search", "optuna", "--seeds", "2", "--range", "actor_lr=1e-4..1e-2:log"], "--seeds > 1"),
        (["sac", "--search", "optuna", "--range", "actor_lr=1e-2..1e-4"], "LOW < HIGH"),
        (["sac", "--scheduler", "hyperband"], "asha"),
        (["--resume", str(tmp_path)], "holds no sweep"),
    ]
    for args, expected in cases:
        proc = cli_popen(["sweep", *args], tmp_path)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and expected in err and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "a").exists()
