"""Reliability fixes (issue: nothing lost, nothing executed): a checkpoint never imports a module it names, `save`
never deletes what is at its path, `keep_checkpoints` below 1 is refused. Each test fails without its fix."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from hrlkit import SAC, Algorithm, QLearning
from hrlkit.errors import HrlkitError
from hrlkit.training.callbacks import Callback
from tests.smoke.helpers import TINY, read_progress, run_cli


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SAC run dir (300 env steps) and a copy whose checkpoint names an env in a module that leaves a marker."""
    root = tmp_path_factory.mktemp("hardening")
    model = SAC("Pendulum-v1", run_dir=root / "run", verbose=0, **{**TINY, "eval_freq": 0})
    model.learn(300).close()
    return root


def plant_module_env(root: Path, run: str, module: str) -> Path:
    """Copy of the run whose meta.json (and config) say env = '<module>:Evil-v0'; <module>.py writes a marker file."""
    import shutil

    target = root / run
    shutil.copytree(root / "run", target)
    (root / f"{module}.py").write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        Path({str(root / (module + ".marker"))!r}).write_text("imported")
        """)
    )
    for meta_path in (target / "checkpoints").glob("*/meta.json"):
        meta = json.loads(meta_path.read_text())
        meta["env"] = meta["config"]["run"]["env"] = f"{module}:Evil-v0"
        meta_path.write_text(json.dumps(meta))
    return target


def test_loading_never_imports_a_module_the_checkpoint_names(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = plant_module_env(saved, "evil_api", "evil_mod_api")
    monkeypatch.syspath_prepend(str(saved))
    for load in (lambda: Algorithm.load(run), lambda: SAC.load(run), lambda: Algorithm.resume(run, verbose=0)):
        with pytest.raises(HrlkitError, match="a checkpoint is never trusted to name code to run"):
            load()
    assert not (saved / "evil_mod_api.marker").exists()


def test_cli_eval_and_resume_refuse_a_module_env_without_import(saved: Path) -> None:
    run = plant_module_env(saved, "evil_cli", "evil_mod_cli")
    for args in (
        ["eval", str(run)],
        ["train", "sac", "--resume", str(run), "--total-env-steps", "600"],
        ["plot", str(run), "--trajectories"],
    ):
        result = run_cli(args, saved)  # cwd = saved: evil_mod_cli.py is importable from there
        assert result.returncode == 2, result.describe()
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "never trusted to name code" in lines[0], result.describe()
    assert not (saved / "evil_mod_cli.marker").exists()
    zen = run_cli(["eval", str(plant_module_env(saved, "zen", "this"))], saved)
    assert zen.returncode == 2 and "Zen of Python" not in zen.stdout + zen.stderr, zen.describe()


def test_save_never_deletes_what_is_at_its_path(saved: Path, tmp_path: Path) -> None:
    model = SAC.load(saved / "run")
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "code.py").write_text("print('keep me')")
    (tmp_path / "notes.txt").write_text("keep me too")
    for target in (project, tmp_path / "notes.txt", saved / "run"):  # a project, a file, a run dir (no meta.json)
        with pytest.raises(HrlkitError, match="save to"):
            model.save(target)
    assert (project / "src" / "code.py").read_text() == "print('keep me')"
    assert (tmp_path / "notes.txt").read_text() == "keep me too"
    first = model.save(tmp_path / "ckpt")  # a new directory; an earlier checkpoint there is replaced
    assert model.save(first) == first and (first / "meta.json").is_file()


@pytest.mark.parametrize("keep", [0, -1])
def test_keep_checkpoints_below_one_is_refused(keep: int) -> None:
    with pytest.raises(HrlkitError, match=r"--keep-checkpoints = -?\d: it must be >= 1 \(0 would delete the final"):
        SAC("Pendulum-v1", verbose=0, keep_checkpoints=keep)


@pytest.mark.parametrize(
    ("distances", "message"),
    [((0.0,), "each must be a number > 0"), ((2.5, -1.0), "each must be a number > 0"), ((float("nan"),), "finite")],
)
def test_eval_success_distances_must_be_positive(distances: tuple[float, ...], message: str) -> None:
    with pytest.raises(HrlkitError, match=rf"eval-success-distances .*{message}"):
        SAC("Pendulum-v1", verbose=0, eval_success_distances=distances)


def test_a_failed_checkpoint_write_leaves_no_partial_copy(saved: Path, tmp_path: Path, monkeypatch) -> None:
    """A write that fails (here: the disk is full while the loop state is written) removes its `.tmp-*` copy."""
    import hrlkit.training.checkpoint as checkpoint

    model = SAC.load(saved / "run")
    real = checkpoint.save_tree

    def full_disk(tree, directory, name):
        if name == "loop":
            raise OSError(28, "No space left on device")
        return real(tree, directory, name)

    monkeypatch.setattr(checkpoint, "save_tree", full_disk)
    with pytest.raises(OSError, match="No space left"):
        model.save(tmp_path / "ckpt")
    assert list(tmp_path.iterdir()) == []


def test_resume_removes_what_a_killed_writer_left(saved: Path, tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    run = tmp_path / "run"
    shutil.copytree(saved / "run", run)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = run / "checkpoints" / f".tmp-400-{int(dead.stdout)}"  # a writer that no longer runs
    live = run / "checkpoints" / f".tmp-500-{os.getpid()}"  # one that does (this process): kept
    for d in (stale, live):
        d.mkdir()
        (d / "agent.safetensors").write_bytes(b"x" * 1000)
    Algorithm.resume(run, verbose=0).close()
    assert not stale.exists() and live.exists()


class RecordEvaluations(Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def on_eval(self, env_steps: int, result: dict[str, float]) -> None:
        self.seen.append((env_steps, result["mean_length"]))


def test_every_evaluation_reaches_progress_csv_at_its_own_step(tmp_path: Path) -> None:
    """eval_freq 500 with log_interval 1000 (issue: the CSV kept the last evaluation per dump, at the dump's step)."""
    model = QLearning("FrozenLake-v1", run_dir=tmp_path / "run", verbose=0, eval_freq=500, eval_episodes=5,
                      log_interval=1000, checkpoint_freq=0)  # fmt: skip
    record = RecordEvaluations()
    model.learn(2000, callback=record)
    model.close()
    rows = [r for r in read_progress(tmp_path / "run") if r.get("eval/mean_length")]
    assert [(int(float(r["time/env_steps"])), float(r["eval/mean_length"])) for r in rows] == record.seen
    assert [step for step, _ in record.seen] == [500, 1000, 1500, 2000]


def test_a_run_that_never_learns_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """total_env_steps <= learning_starts: only random warm-up actions; the run warns (one line on stderr)."""
    SAC("Pendulum-v1", verbose=1, tensorboard=False, total_env_steps=50, learning_starts=100, eval_freq=0).learn()
    err = capsys.readouterr().err
    assert "warning: total_env_steps 50 <= learning_starts 100" in err and "never learns" in err
    SAC("Pendulum-v1", verbose=1, tensorboard=False, total_env_steps=150, learning_starts=100, eval_freq=0).learn()
    assert "warning" not in capsys.readouterr().err


def test_a_second_writer_of_a_run_dir_is_refused_before_it_writes(saved: Path, tmp_path: Path) -> None:
    """While one process holds a run (here: a child that took the lock and sleeps), `resume` in another refuses with
    one line naming the holder's pid, and changes nothing in the run dir; once the holder is gone, it resumes."""
    import shutil
    import subprocess
    import sys

    from hrlkit import Algorithm

    run = tmp_path / "run"
    shutil.copytree(saved / "run", run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from hrlkit.training.lock import RunDirLock; "
         f"RunDirLock.acquire({str(run)!r}); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(HrlkitError, match=rf"run dir .* is in use by another hrlkit process \(pid {holder.pid}\)"):
            Algorithm.resume(run, verbose=0)
        after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
        assert after == before
    finally:
        holder.kill()
        holder.wait()
    model = Algorithm.resume(run, verbose=0)  # the lock died with its process
    model.close()
    model = Algorithm.resume(run, verbose=0)  # and close() gave it back
    model.close()


@pytest.mark.parametrize("link", ["config.yaml", "progress.csv", "eval", "checkpoints/100"])
def test_links_in_a_run_dir_are_never_written_through(saved: Path, tmp_path: Path, link: str) -> None:
    """A run dir entry that is a symbolic link (to a file or directory outside) stops `resume` with one line before
    anything is written; the link's target is untouched. `eval` refuses an eval/ link the same way, and a linked
    checkpoint directory is never listed (so rotation never deletes through it)."""
    import shutil

    from hrlkit import Algorithm
    from hrlkit.cli import _eval_dir
    from hrlkit.training.checkpoint import list_checkpoints

    run = tmp_path / "run"
    shutil.copytree(saved / "run", run)
    outside = tmp_path / "outside"
    source = run / link
    if source.is_dir():
        shutil.copytree(source, outside)
        shutil.rmtree(source)
    else:
        source.parent.mkdir(parents=True, exist_ok=True)
        outside.write_bytes(source.read_bytes() if source.exists() else b"keep me")
        source.unlink(missing_ok=True)
    source.symlink_to(outside, target_is_directory=outside.is_dir())
    snapshot = (
        {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} if outside.is_dir() else outside.read_bytes()
    )
    with pytest.raises(HrlkitError, match="is a symbolic link: hrlkit never writes"):
        Algorithm.resume(run, verbose=0)
    after = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} if outside.is_dir() else outside.read_bytes()
    assert after == snapshot
    if link == "eval":
        with pytest.raises(HrlkitError, match="never writes evaluation results through links"):
            _eval_dir(run, run / "checkpoints" / "300")
    if link == "checkpoints/100":
        assert list_checkpoints(run / "checkpoints") == [200, 300]


def test_evaluation_of_an_env_without_a_time_limit_ends(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    """An env that never terminates and has no TimeLimit: episodes are cut at the cap (with a warning), or at the
    given max_episode_steps; an env with a TimeLimit keeps its own limit, without a warning."""
    import gymnasium as gym
    import numpy as np

    import hrlkit.training.evaluate as ev

    class Endless(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

        def reset(self, *, seed=None, options=None):
            return np.zeros(1, np.float32), {}

        def step(self, action):
            return np.zeros(1, np.float32), 0.0, False, False, {}

    class Still:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            return np.zeros(1, np.float32), None

    monkeypatch.setattr(ev, "EVAL_STEP_CAP", 40)
    assert ev.evaluate(Still(), Endless(), 2)["mean_length"] == 40
    assert "no time limit: its episodes are cut at 40 steps" in capsys.readouterr().err
    assert ev.evaluate(Still(), Endless(), 1, max_episode_steps=7)["mean_length"] == 7
    assert ev.evaluate(Still(), gym.wrappers.TimeLimit(Endless(), 12), 1)["mean_length"] == 12
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_checkpoint_file_that_is_no_regular_file_is_refused_unread(
    saved: Path, tmp_path: Path, kind: str, monkeypatch
) -> None:
    """meta.json as a FIFO (a read would hang), as a link to /dev/zero (a read would never end) or larger than a
    checkpoint's JSON can be: one line, nothing read."""
    import os
    import shutil

    import hrlkit.training.checkpoint as checkpoint
    from hrlkit import Algorithm

    run = tmp_path / "run"
    shutil.copytree(saved / "run", run)
    meta = run / "checkpoints" / "300" / "meta.json"
    meta.unlink()
    if kind == "fifo":
        os.mkfifo(meta)
        match = "not a regular file"
    elif kind == "device":
        meta.symlink_to("/dev/zero")
        match = "not a regular file"
    else:
        meta.write_text("{}" + " " * 100)
        monkeypatch.setattr(checkpoint, "JSON_LIMIT", 50)
        match = "more than a checkpoint's 50"
    with pytest.raises(HrlkitError, match=match):
        Algorithm.load(run / "checkpoints" / "300")


@pytest.mark.parametrize(
    ("algo", "flag", "value", "message"),
    [
        ("sac", "actor_lr", -0.1, r"--algo.actor-lr = -0.1: it must be > 0"),
        ("sac", "actor_lr", float("nan"), "it must be a finite number"),
        ("sac", "gamma", 1.5, r"--algo.gamma = 1.5: it must be in \[0, 1\]"),
        ("sac", "tau", 2.0, r"in \(0, 1\]"),
        ("sac", "entropy_coef_init", 0.0, "> 0"),
        ("sac", "batch_size", 0, "an integer >= 1"),
        ("sac", "hidden", (0, 5), "layer sizes >= 1"),
        ("sac", "n_critics", 0, "an integer >= 1"),
        ("sac", "seed", -1, r"--run.seed = -1: it must be in 0 .. 2\^32 - 1"),
        ("sac", "seed", 10**30, r"2\^32"),
        ("sac", "gradient_steps", -1, r"--replay.gradient-steps = -1: it must be an integer >= 0"),
        ("sac", "train_freq", 0, r"--replay.train-freq = 0"),
        ("td3", "policy_delay", 0, "an integer >= 1"),
        ("td3", "random_action_prob", 1.5, r"--algo.random-action-prob = 1.5: it must be in \[0, 1\]"),
        ("ddpg", "action_l2", -1.0, r"--algo.action-l2 = -1.0: it must be >= 0"),
        ("sac", "target_update_interval", 0, ">= 1 for SAC"),
        ("dqn", "target_update_interval", -1, ">= 0 for DQN"),
        ("dqn", "lr", -1.0, r"--algo.lr = -1.0: it must be > 0"),
        ("hiro", "high.gamma", 2.0, r"--algo.high.gamma = 2.0: it must be in \[0, 1\]"),
        ("hiro", "low.tau", float("inf"), "a finite number"),
        ("hiro", "low_reward_scale", float("nan"), "a finite number"),
    ],
)  # fmt: skip
def test_config_values_out_of_range_are_one_line(tmp_path: Path, algo: str, flag: str, value, message: str) -> None:
    """Each refused before anything is built or written (the run dir stays absent)."""
    from hrlkit.algorithms import algorithm_class

    cls = algorithm_class(algo)
    env = {"dqn": "CartPole-v1", "hiro": "hrlkit/PointUMaze-v0"}.get(algo, "Pendulum-v1")
    with pytest.raises(HrlkitError, match=message):
        cls(env, run_dir=tmp_path / "run", verbose=0, **{flag: value})
    assert not (tmp_path / "run").exists()


def test_a_resume_trains_at_the_learning_rate_it_records(saved: Path, tmp_path: Path) -> None:
    """`--resume RUN --actor-lr 5e-4` wrote 5e-4 into config.yaml while the optimizer kept the checkpoint's rate."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(saved / "run", run)
    model = Algorithm.resume(run, {"algo.actor_lr": 5e-4, "run.total_env_steps": 400}, verbose=0)
    try:
        assert model.config.algo_config.actor_lr == 5e-4
        assert [g["lr"] for g in model.agent.learner.optimizers["actor"].param_groups] == [5e-4]
        critic_lr = model.config.algo_config.critic_lr
        assert [g["lr"] for g in model.agent.learner.optimizers["critic"].param_groups] == [critic_lr]
    finally:
        model.close()
