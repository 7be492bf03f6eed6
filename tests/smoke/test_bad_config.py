"""Bad values on the command line: each gives one `hrlkit: error:` line naming the flag and what it must be, exit 2,
no traceback, and no run dir made. Runs each command in a forked child (`tests.hostile.run_command`), so the corpus
costs a fraction of a second per case."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.hostile import run_command

SAC = ["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "10"]
HIRO = ["train", "hiro", "--env", "hrlkit/PointUMaze-v0", "--total-env-steps", "10"]
OC = ["train", "option-critic", "--env", "CartPole-v1", "--total-env-steps", "10"]

CASES = {
    "total inf": (["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "inf"], "expects an integer, got 'inf'"),
    "total negative": (["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "-100"], "must be >= 1"),
    "total zero": (["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "0"], "must be >= 1"),
    "buffer beyond memory": ([*SAC, "--buffer-size", "1e12"], "GiB, more than this machine's"),
    "batch beyond buffer": ([*SAC, "--batch-size", "1e12"], r"must be <= buffer_size x n_envs"),
    "hidden empty": ([*SAC, "--hidden", ""], "one or more layer sizes"),
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
