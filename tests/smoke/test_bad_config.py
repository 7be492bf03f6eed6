"""Bad values on the command line: each gives one `hrlkit: error:` line naming the flag and what it must be, exit 2,
no traceback, and no run dir made. Runs each command in a forked child (`tests.hostile.run_command`), so the corpus
costs a fraction of a second per case."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from tests.hostile import run_command
from tests.smoke.helpers import read_progress

SAC = ["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "10"]
HIRO = ["train", "hiro", "--env", "hrlkit/PointUMaze-v0", "--total-env-steps", "10"]
OC = ["train", "option-critic", "--env", "CartPole-v1", "--total-env-steps", "10"]

CASES = {
    "total inf": (["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "inf"], "expects an integer, got 'inf'"),
    "total negative": (["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "-100"], "must be >= 1"),
    "total zero": (["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "0"], "must be >= 1"),
    "buffer beyond memory": ([*SAC, "--buffer-size", "1e12"], "GiB, more than this machine's"),
    "batch beyond buffer": ([*SAC, "--batch-size", "1e12"], r"must be <= buffer_size x n_envs"),
    "hidden zero": ([*SAC, "--hidden", "0"], "layer sizes >= 1"),
    "hidden beyond memory": ([*SAC, "--hidden", "1e12"], "not enough memory to build the model"),
    "device foo": ([*SAC, "--device", "foo"], "--device = 'foo': use cpu, cuda"),
    "seed negative": ([*SAC, "--seed", "-1"], r"0 \.\. 2\^32 - 1"),
    "env empty": (["train", "sac", "--env", "", "--total-env-steps", "10"], "--env is empty"),
    "env unknown": (["train", "sac", "--env", "NoSuchEnv-v0", "--total-env-steps", "10"], "NoSuchEnv-v0"),
    "env kwargs unknown": ([*SAC, "--env-kwargs", '{"zzz": 1}'], "unexpected keyword argument 'zzz'"),
    "hiro interval beyond memory": ([*HIRO, "--high-level-interval", "1e9"], "segment buffer .* GiB"),
    "hiro goal-low nan": ([*HIRO, "--goal-low", "nan"], "must be finite numbers"),
    "hiro goal-indices repeated": ([*HIRO, "--goal-indices", "0,0"], "distinct indices"),
    "hiro goal-reached negative": ([*HIRO, "--goal-reached-distance", "-1"], "must be > 0"),
    "hiro high batch zero": ([*HIRO, "--high.batch-size", "0"], "integer >= 1"),
    "option-critic termination nan": ([*OC, "--termination-reg", "nan"], "a finite number"),
    "option-critic entropy inf": ([*OC, "--entropy-coef", "inf"], "a finite number"),
    "eval episodes zero": ([*SAC, "--eval-episodes", "0"], "integer >= 1"),
    "log interval negative": ([*SAC, "--log-interval", "-5"], ">= 0"),
    "torch threads negative": ([*SAC, "--torch-threads", "-1"], ">= 0"),
    "train freq negative": ([*SAC, "--train-freq", "-1"], "integer >= 1"),
    "gradient steps negative": ([*SAC, "--gradient-steps", "-1"], "integer >= 0"),
    "keep checkpoints zero": ([*SAC, "--keep-checkpoints", "0"], "would delete the final checkpoint"),
    "unknown flag": ([*SAC, "--max-episode-steps", "-1"], "unknown config key"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_value_is_one_line_and_makes_no_run_dir(tmp_path: Path, case: str) -> None:
    args, message = CASES[case]
    run = tmp_path / "run"
    outcome, stderr = run_command([*args, "--run-dir", str(run), "--no-progress"])
    assert outcome == "error", stderr
    assert re.search(message, stderr), stderr
    assert not run.exists() or not any(p.name != ".lock" for p in run.iterdir()), sorted(run.iterdir())


def test_preset_file_that_is_no_mapping(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("42\n")
    outcome, stderr = run_command([*SAC, "--preset", str(tmp_path / "p.yaml"), "--run-dir", str(tmp_path / "run")])
    assert outcome == "error" and "holds a int, not a mapping" in stderr, stderr


def test_run_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    outcome, stderr = run_command([*SAC, "--run-dir", str(tmp_path / "file")])
    assert outcome == "error" and "is a file, not a directory" in stderr, stderr
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize(("flag", "value", "message"), [("--episodes", "0", ">= 1"), ("--seed", "-5", "2^32")])
def test_eval_values(tmp_path: Path, flag: str, value: str, message: str) -> None:
    from hrlkit import SAC as SACModel
    from tests.smoke.helpers import TINY

    run = tmp_path / "run"
    SACModel("Pendulum-v1", run_dir=run, verbose=0, **{**TINY, "eval_freq": 0}).learn(100).close()
    outcome, stderr = run_command(["eval", str(run), flag, value, "--out", str(tmp_path / "out")])
    assert outcome == "error" and message in stderr, stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hrlkit import SAC as SACModel
    from tests.smoke.helpers import TINY

    run = tmp_path_factory.mktemp("resume") / "run"
    SACModel("Pendulum-v1", run_dir=run, verbose=0, **{**TINY, "eval_freq": 0}).learn(200).close()
    return run


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "is at 200 env steps already"),
        (["--total-env-steps", "150"], "is at 200 env steps already"),
        (["--total-env-steps", "inf"], "expects an integer"),
        (["--preset", "Pendulum-v1"], "--preset does not apply to a resume"),
        (["--run-dir", "elsewhere"], "--run-dir does not apply to a resume"),
        (["--overwrite"], "--overwrite does not apply to a resume"),
    ],
)
def test_a_resume_refuses_what_it_would_ignore_and_changes_nothing(
    finished_run: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    from tests.hostile import snapshot

    before = snapshot(finished_run)
    outcome, stderr = run_command(["train", "sac", "--resume", str(finished_run), "--no-progress", *extra])
    assert outcome == "error" and message in stderr, stderr
    assert snapshot(finished_run) == before


def test_init_from_starts_a_new_run_with_the_old_weights(finished_run: Path, tmp_path: Path) -> None:
    """B starts from A's agent and never updates (learning_starts above its budget): its weights stay A's, its own
    counters and logs start at zero. Another network size is refused in one line, before B holds anything."""
    from safetensors.torch import load_file

    from tests.smoke.helpers import tiny_flags

    b = tmp_path / "B"
    flags = tiny_flags(eval_freq=0, learning_starts=500)
    args = ["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "100", "--no-progress", *flags]
    outcome, stderr = run_command([*args, "--init-from", str(finished_run), "--run-dir", str(b)])
    assert outcome == "ok", stderr
    a_weights = load_file(str(finished_run / "checkpoints" / "200" / "agent.safetensors"))
    b_weights = load_file(str(b / "checkpoints" / "100" / "agent.safetensors"))
    learner = [k for k in a_weights if k.startswith("learner.")]
    assert learner and all(torch.equal(a_weights[k], b_weights[k]) for k in learner)
    assert [r["time/env_steps"] for r in read_progress(b)][0] == "100.0"

    c = tmp_path / "C"
    outcome, stderr = run_command([*args, "--hidden", "16,16", "--init-from", str(finished_run), "--run-dir", str(c)])
    assert outcome == "error" and "do not fit this model" in stderr, stderr
    assert not c.exists() or [p.name for p in c.iterdir()] == [".lock"]
    outcome, stderr = run_command(["train", "td3", "--env", "Pendulum-v1", "--init-from", str(finished_run)])
    assert outcome == "error" and "holds a sac agent, not td3" in stderr, stderr


def test_a_disk_that_fills_gives_one_line_and_keeps_earlier_checkpoints(tmp_path: Path) -> None:
    """Files may not grow past 30 KB (RLIMIT_FSIZE): the replay of the first checkpoints fits, a later one does not.
    The run ends in one line naming the file; the checkpoints before it are complete and no partial copy is left."""
    from tests.smoke.helpers import tiny_flags

    run = tmp_path / "run"
    args = ["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "1000", "--no-progress", "--run-dir", str(run)]
    flags = tiny_flags(eval_freq=0, checkpoint_freq=200, buffer_size=5000, hidden=(16, 16))
    outcome, stderr = run_command([*args, *flags], file_size_limit=30_000)
    assert outcome == "error" and "cannot write" in stderr and "the disk is full" in stderr, stderr
    steps = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdecimal())
    assert steps and steps[-1] < 1000
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    outcome, stderr = run_command(["train", "sac", "--resume", str(run), "--no-progress"])
    assert outcome == "ok", stderr  # the newest complete checkpoint resumes


def test_plot_trajectories_of_a_run_that_is_no_maze_is_refused(finished_run: Path, tmp_path: Path) -> None:
    outcome, stderr = run_command(["plot", str(finished_run), "--trajectories", "--out", str(tmp_path / "t.png")])
    assert outcome == "error" and "Pendulum-v1, which is no maze" in stderr, stderr
    assert not (tmp_path / "t.png").exists()


def test_dry_run_prints_each_value_with_its_source_and_writes_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.smoke.helpers import cli_env

    args = ["train", "sac", "--env", "PointMaze_UMaze-v3", "--critic-lr", "5e-4", "--dry-run", "--run-dir", "never"]
    result = subprocess.run([sys.executable, "-m", "hrlkit.cli", *args], cwd=tmp_path, env=cli_env(),
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert '  env: "PointMaze_UMaze-v3"  # flag' in lines
    assert "  learning_starts: 2000  # preset" in lines  # the U-maze preset's warm-up
    assert "  critic_lr: 0.0005  # flag" in lines
    assert "  gamma: 0.99  # default" in lines
    assert not (tmp_path / "never").exists()
    helped = subprocess.run([sys.executable, "-m", "hrlkit.cli", "train", "td3", "--env", "Hopper-v5", "--help"],
                            cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "include hrlkit/presets/Hopper-v5.yaml (section td3)" in helped.stdout
    assert any(line.split()[:2] == ["--replay.learning-starts", "10000"] for line in helped.stdout.splitlines())


def test_a_runs_own_config_yaml_is_a_preset(finished_run: Path, tmp_path: Path) -> None:
    """`--preset RUN/config.yaml` starts a run with that run's settings (it was refused: 'unknown config key --algo')."""
    import subprocess
    import sys

    from tests.smoke.helpers import cli_env

    preset = str(finished_run / "config.yaml")
    dry = [sys.executable, "-m", "hrlkit.cli", "train", "sac", "--preset", preset, "--dry-run"]
    result = subprocess.run(dry, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "  hidden: [32, 32]  # preset" in result.stdout.splitlines()
    outcome, stderr = run_command(["train", "td3", "--preset", preset, "--dry-run"])
    assert outcome == "error" and "the config of a sac run" in stderr, stderr
