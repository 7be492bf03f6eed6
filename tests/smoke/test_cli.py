"""`hrlkit train | eval | plot` run as a user runs them: in a subprocess, from a scratch directory.

Every bad input ends with exit code 2 and exactly one line on stderr, `hrlkit: error: ...`, that names the problem
(and a close match where there is one), never a traceback. The happy path leaves the files DESIGN.md promises.
"""

from __future__ import annotations

import importlib.util
import json
import math
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.nan_env import NAN_AFTER
from tests.smoke.helpers import CliResult, cli_env, run_cli, run_cli_many, tiny_flags

HAS_PYGAME = importlib.util.find_spec("pygame") is not None
FLAGS = tiny_flags(eval_freq=100)
TRAIN = ["train", "sac", "--env", "Pendulum-v1", "--total-env-steps", "300", "--no-progress", *FLAGS]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def sac_run(work: Path) -> tuple[Path, CliResult]:
    """`hrlkit train sac --env Pendulum-v1 --total-env-steps 300 <tiny> --run-dir run --no-progress`, run once."""
    result = run_cli([*TRAIN, "--run-dir", "run"], work)
    assert result.returncode == 0, result.describe()
    return work / "run", result


# ------------------------------------------------------------------------------------------------- bad inputs
# name -> (arguments, what the error line must contain). RUN is the trained run dir; CORRUPT a copy with its latest
# agent.safetensors truncated; PICKLE a pickled dict.
BAD_INPUTS: dict[str, tuple[list[str], list[str]]] = {
    "unknown_command": (["trian", "sac"], ["unknown command 'trian'", "train"]),
    "unknown_env": (["train", "sac", "--env", "Pendulm-v1"], ["unknown env id 'Pendulm-v1'", "Pendulum-v1"]),
    "unknown_algo": (["train", "sca"], ["unknown algorithm 'sca'", "sac"]),
    "algo_after_flags": (["train", "--env", "Pendulum-v1", "sac"], ["ALGO comes first", "hrlkit train sac"]),
    "unknown_key": (["train", "sac", "--actor-l", "1e-3"], ["unknown config key --actor-l", "actor_lr"]),
    "bad_value": (["train", "sac", "--total-env-steps", "abc"], ["total-env-steps", "integer", "'abc'"]),
    "discrete_actions": (["train", "sac", "--env", "CartPole-v1"], ["Box action space", "Discrete(2)"]),
    "non_finite": (
        ["train", "sac", "--env", "tests.nan_env:NanEnv-v0", *tiny_flags(learning_starts=50), "--run-dir", "nan"],
        ["NanEnv-v0", "non-finite observation"],
    ),
    "run_dir_taken": ([*TRAIN, "--run-dir", "RUN"], ["not empty", "--resume"]),
    "eval_missing": (["eval", "no_such_run"], ["no_such_run", "does not exist"]),
    "eval_no_such_step": (["eval", "RUN", "--checkpoint", "12345"], ["no checkpoint at step 12345", "[100, 200, 300]"]),
    "eval_corrupt": (["eval", "CORRUPT"], ["corrupt", "agent"]),
    "eval_pickle": (["eval", "PICKLE"], ["refusing to load", "pickle"]),
    "resume_corrupt": (["train", "sac", "--resume", "CORRUPT", "--total-env-steps", "600"], ["corrupt", "agent"]),
    "resume_other_algo": (["train", "td3", "--resume", "RUN"], ["is a sac run, not td3", "hrlkit train sac --resume"]),
    "resume_other_env": (
        ["train", "sac", "--resume", "RUN", "--env", "MountainCarContinuous-v0"],
        ["trained on Pendulum-v1, not MountainCarContinuous-v0"],
    ),
    "resume_other_seed": (
        ["train", "sac", "--resume", "RUN", "--seed", "7", "--total-env-steps", "600"],
        ["seed 0", "keeps its seed"],
    ),
    "resume_unknown_key": (
        ["train", "sac", "--resume", "RUN", "--actor-l", "1", "--total-env-steps", "600"],
        ["unknown config key --actor-l"],
    ),
    "preset_for_another_algo": (
        ["train", "sac", "--preset", "PPO_ONLY", "--run-dir", "never"],
        ["has no section for sac", "sections: ppo"],
    ),
}
if not HAS_PYGAME:  # Pendulum renders with pygame: without it, a video is a one-line error too
    BAD_INPUTS["eval_video_no_pygame"] = (["eval", "RUN", "--episodes", "1", "--video"], ["Pendulum-v1", "pygame"])


def test_algo_is_the_first_word_never_a_field_flags_value() -> None:
    """`hrlkit train --resume RUN --torch-threads 1`: argparse's optional ALGO took the "1" (the run was then "not a
    1 run"); the value stays with its flag."""
    from hrlkit.cli import _train_args

    args, rest = _train_args(["--resume", "RUN", "--torch-threads", "1", "--total-env-steps", "600"])
    assert args.algo is None and args.resume == "RUN" and args.total_env_steps == "600"
    assert rest == ["--torch-threads", "1"]
    args, rest = _train_args(["td3", "--resume", "RUN", "--algo.gamma", "sac"])  # a value that names an algorithm
    assert args.algo == "td3" and rest == ["--algo.gamma", "sac"]


@pytest.fixture(scope="module")
def bad_results(work: Path, sac_run: tuple[Path, CliResult]) -> dict[str, CliResult]:
    run_dir, _ = sac_run
    corrupt = work / "corrupt"
    shutil.copytree(run_dir, corrupt)
    agent_file = corrupt / "checkpoints" / "300" / "agent.safetensors"
    agent_file.write_bytes(agent_file.read_bytes()[:100])
    (work / "model.pkl").write_bytes(pickle.dumps({"actor": [1.0, 2.0]}))
    (work / "ppo_only.yaml").write_text("ppo:\n  run: {seed: 1}\n")
    names = {"RUN": str(run_dir), "CORRUPT": str(corrupt), "PICKLE": "model.pkl", "PPO_ONLY": "ppo_only.yaml"}
    commands = {name: [names.get(a, a) for a in args] for name, (args, _) in BAD_INPUTS.items()}
    return run_cli_many(commands, work)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_error(bad_results: dict[str, CliResult], case: str) -> None:
    result = bad_results[case]
    assert result.returncode == 2, result.describe()
    assert "Traceback" not in result.output, result.describe()
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hrlkit: error: "), result.describe()
    for text in BAD_INPUTS[case][1]:
        assert text in lines[0], f"{text!r} not in the error line: {lines[0]}"


def test_non_finite_env_keeps_what_was_learned(work: Path, bad_results: dict[str, CliResult]) -> None:
    """The run stops at the first NaN (after NAN_AFTER env steps); the checkpoint and log rows before it stay."""
    assert bad_results["non_finite"].returncode == 2
    run_dir = work / "nan"
    assert NAN_AFTER > 100
    assert (run_dir / "checkpoints" / "100" / "meta.json").is_file()
    assert (run_dir / "checkpoints" / "100" / "agent.safetensors").is_file()
    assert not any(p.name.startswith(".tmp") for p in (run_dir / "checkpoints").iterdir())
    assert (run_dir / "progress.csv").read_text().splitlines()[1].startswith("100.0,")
    assert (run_dir / "config.yaml").is_file()


# ------------------------------------------------------------------------------------------------- happy paths
def test_train_leaves_run_files(sac_run: tuple[Path, CliResult]) -> None:
    run_dir, result = sac_run
    assert "Traceback" not in result.output and result.stderr == "", result.describe()
    assert f"run dir: {run_dir.name}" in result.stdout and "done: 300 env steps" in result.stdout
    assert "preset: hrlkit/presets/Pendulum-v1.yaml (section sac)" in result.stdout  # a preset never acts unseen
    config = (run_dir / "config.yaml").read_text()
    assert "total_env_steps: 300" in config and "batch_size: 32" in config
    rows = (run_dir / "progress.csv").read_text().splitlines()
    assert rows[0].startswith("time/env_steps,") and "eval/mean_return" in rows[0] and "train/critic_loss" in rows[0]
    assert [r.split(",")[0] for r in rows[1:]] == ["100.0", "200.0", "300.0"]
    assert list(run_dir.glob("events.out.tfevents.*")), "no TensorBoard events file"
    checkpoints = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir())
    assert checkpoints == [100, 200, 300]
    latest = run_dir / "checkpoints" / "300"
    meta = json.loads((latest / "meta.json").read_text())
    assert meta["algo"] == "sac" and meta["env"] == "Pendulum-v1" and meta["env_steps"] == 300
    assert {"hrlkit", "torch", "gymnasium"} <= set(meta["versions"])
    assert (latest / "agent.safetensors").is_file() and (latest / "loop.safetensors").is_file()
    assert (run_dir / "eval" / "learning_curve.png").read_bytes().startswith(PNG)


@pytest.fixture(scope="module")
def happy_results(work: Path, sac_run: tuple[Path, CliResult]) -> dict[str, CliResult]:
    commands = {
        "eval": ["eval", "run", "--episodes", "2"],
        "plot": ["plot", "run", "--out", "x.png"],
        "help": ["train", "sac", "--help"],
        "list": ["list"],
        "version": ["--version"],
    }
    if HAS_PYGAME:
        commands["gif"] = ["eval", "run", "--episodes", "1", "--video", "--gif"]
    return run_cli_many(commands, work)


def test_list_and_version(happy_results: dict[str, CliResult]) -> None:
    """`hrlkit list` names every algorithm, each preset with its sections, and the bundled envs; `--version`."""
    import hrlkit
    from hrlkit.algorithms import ALGORITHMS

    listed = happy_results["list"]
    assert listed.returncode == 0 and listed.stderr == "", listed.describe()
    assert listed.stdout.splitlines()[0] == "algorithms: " + ", ".join(ALGORITHMS)
    assert "  PointMaze_UMaze-v3: hiro, sac, td3" in listed.stdout.splitlines()
    assert "hrlkit/PointUMaze-v0" in listed.stdout.splitlines()[-1]
    assert happy_results["version"].stdout.strip() == f"hrlkit {hrlkit.__version__}"


def test_eval_prints_json(work: Path, happy_results: dict[str, CliResult]) -> None:
    result = happy_results["eval"]
    assert result.returncode == 0, result.describe()
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["episodes"] == 2 and summary["checkpoint_env_steps"] == 300
    assert math.isfinite(summary["mean_return"]) and summary["mean_length"] == 200
    # Also saved (the GIF run below writes the same file name, so only its shape is checked).
    assert "mean_return" in json.loads((work / "run" / "eval" / "results_300.json").read_text())


@pytest.mark.skipif(
    not HAS_PYGAME, reason="pygame is not installed: Pendulum-v1 cannot render (gymnasium[classic-control])"
)
def test_eval_gif_pendulum(work: Path, happy_results: dict[str, CliResult]) -> None:
    result = happy_results["gif"]
    assert result.returncode == 0, result.describe()
    gif = work / "run" / "eval" / "300.gif"
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")


def test_eval_gif(tmp_path: Path) -> None:
    """`--video --gif` end to end on an env that renders with numpy (no pygame): a saved, untrained model will do."""
    from PIL import Image

    from hrlkit import SAC

    model = SAC("tests.envs_for_tests:PointForTests-v0", verbose=0, hidden=(32, 32), eval_freq=0)
    model.save(tmp_path / "model")
    model.close()
    env = ["--env", "tests.envs_for_tests:PointForTests-v0"]  # a user env: eval imports its module only when told
    result = run_cli(["eval", "model", "--episodes", "1", "--video", "--gif", *env], tmp_path)
    assert result.returncode == 0, result.describe()
    gif = tmp_path / "model" / "eval" / "0.gif"
    assert f"video: {gif.relative_to(tmp_path)}" in result.stderr
    assert json.loads(result.stdout)["video"] == str(gif.relative_to(tmp_path))  # stdout: the JSON alone
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.size == (32, 32) and image.n_frames == 50  # one 50-step episode


def test_plot_writes_png(work: Path, happy_results: dict[str, CliResult]) -> None:
    result = happy_results["plot"]
    assert result.returncode == 0, result.describe()
    assert (work / "x.png").read_bytes().startswith(PNG)


def test_train_help_lists_fields(happy_results: dict[str, CliResult]) -> None:
    result = happy_results["help"]
    assert result.returncode == 0, result.describe()
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    usage = [line for line in lines if "[--group.field VALUE ...]" in line or "[--init-from" in line]
    assert len(usage) == 2, "the train usage lost a line"
    for flag, text in [
        ("--run.total-env-steps", "environment steps to train for"),
        ("--replay.learning-starts", "random actions"),
        ("--algo.actor-lr", ""),
        ("--algo.hidden", ""),
    ]:
        line = next((ln for ln in lines if ln.strip().startswith(flag + " ")), None)
        assert line is not None, f"{flag} missing from --help"
        assert text in line
        assert len(line.split(None, 2)) == 3, f"{flag} has no help text: {line!r}"
    assert "sac" in result.stdout and "td3" in result.stdout and "ddpg" in result.stdout


def test_overwrite_starts_a_run_over_and_never_deletes_other_files(tmp_path: Path, capsys) -> None:
    """A run dir holding an earlier run (here one that died before its first checkpoint: only config.yaml and a
    progress row) is started over with --overwrite; a run dir holding anything hrlkit did not write is refused, and
    that file stays."""
    from hrlkit.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("algo: sac\n")
    (run / "progress.csv").write_text("time/env_steps\n5.0\n")
    args = [*TRAIN, "--total-env-steps", "200", "--run-dir", str(run), "--no-progress"]
    assert main(args) == 2 and "--overwrite to start it over" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert (run / "checkpoints" / "200" / "meta.json").is_file()
    assert (run / "progress.csv").read_text().splitlines()[1].startswith("100.0,")
    (run / "notes.txt").write_text("mine")
    assert main([*args, "--overwrite"]) == 2
    assert "also holds ['notes.txt']" in capsys.readouterr().err
    assert (run / "notes.txt").read_text() == "mine" and (run / "checkpoints" / "200" / "meta.json").is_file()


def test_eval_of_a_read_only_run_writes_to_out(work: Path, sac_run: tuple[Path, CliResult], tmp_path: Path) -> None:
    """A run dir without write permission: `eval` says so in one line before evaluating; with --out it writes
    there and leaves the run untouched."""
    import os
    import shutil
    import stat

    from hrlkit.cli import main

    run_dir, _ = sac_run
    ro = tmp_path / "ro"
    shutil.copytree(run_dir, ro)
    shutil.rmtree(ro / "eval", ignore_errors=True)
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.geteuid() != 0:  # root writes anywhere: only the --out half can be checked then
            assert main(["eval", str(ro), "--episodes", "1"]) == 2
        out = tmp_path / "results"
        assert main(["eval", str(ro), "--episodes", "1", "--out", str(out)]) == 0
        assert (out / "results_300.json").is_file() and (out / "trajectories_300.npz").is_file()
        assert not (ro / "eval").exists()
    finally:
        ro.chmod(stat.S_IRWXU)


def test_a_user_env_in_the_working_directory_trains_evaluates_and_plots(tmp_path: Path) -> None:
    """The recipe of docs/guide.md: a module in the working directory registers the env; `--env module:EnvId` finds it
    with no PYTHONPATH, for train, eval (naming the env again) and plot."""
    (tmp_path / "my_envs.py").write_text(
        "import gymnasium as gym\n"
        "from gymnasium.envs.classic_control.pendulum import PendulumEnv\n"
        "gym.register('MyPendulum-v0', entry_point=PendulumEnv, max_episode_steps=50)\n"
    )
    env = dict(cli_env())
    env.pop("PYTHONPATH", None)  # the working directory alone must do
    script = Path(sys.executable).parent / "hrlkit"  # the console script: its sys.path lacks the working directory
    if not script.exists():
        pytest.skip("the hrlkit console script is not installed beside this Python")
    hrlkit = [str(script)]
    flags = ["--total-env-steps", "100", "--learning-starts", "50", "--no-progress", "--run-dir", "run"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*hrlkit, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    trained = run("train", "sac", "--env", "my_envs:MyPendulum-v0", *flags)
    assert trained.returncode == 0, trained.stderr
    evaluated = run("eval", "run", "--episodes", "1", "--env", "my_envs:MyPendulum-v0")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["mean_length"] == 50
    plotted = run("plot", "run", "--out", "curve.png", "--metric", "rollout/ep_rew_mean")
    assert plotted.returncode == 0, plotted.stderr


def test_eval_with_env_kwargs_sees_four_rooms_after_the_goal_moved(tmp_path: Path) -> None:
    """`hrlkit eval RUN --env-kwargs '{goal_moved: true}'`: the moved goal from the CLI (it took the Python API)."""
    from hrlkit import OptionCritic
    from hrlkit.envs.toy.four_rooms import FourRoomsEnv
    from hrlkit.training.evaluate import load_trajectories

    model = OptionCritic("hrlkit/FourRooms-v0", verbose=0, tensorboard=False, run_dir=tmp_path / "run",
                         torch_threads=1, learning_starts=50, checkpoint_freq=100).learn(100)  # fmt: skip
    model.close()
    moved = FourRoomsEnv().moved_goal  # goal_seed 0, the preset's
    result = run_cli(["eval", "run", "--episodes", "2", "--env-kwargs", "{goal_moved: true}"], tmp_path)
    assert result.returncode == 0, result.describe()
    summary = json.loads(result.stdout)
    assert summary["env_kwargs"]["goal_moved"] is True and summary["episodes"] == 2
    trajectories, meta = load_trajectories(tmp_path / summary["trajectories"])
    assert meta["env_kwargs"]["goal_moved"] is True
    assert [int(np.ravel(t.goal)[0]) for t in trajectories] == [moved, moved]  # each episode's goal: the moved one
    for bad in ("[1, 2]", "{unclosed"):
        refused = run_cli(["eval", "run", "--env-kwargs", bad], tmp_path)
        assert refused.returncode == 2 and "give a YAML mapping" in refused.stderr, refused.describe()
        assert len(refused.stderr.strip().splitlines()) == 1
