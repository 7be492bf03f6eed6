"""The resume guarantee: a run stopped and resumed logs and learns exactly what an uninterrupted run does.

Run A trains 600 env steps in one go. Run B stops part-way (its budget ends, or Ctrl-C), then resumes from its latest
checkpoint to 600. Every progress.csv column but the wall-clock `time/fps` must match A's bit for bit, row by row, and so
must the final weights, optimizer moments, replay buffer and TensorBoard scalars.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hrlkit import DQN, SAC, TD3, SACDiscrete
from hrlkit.algorithms import Algorithm
from hrlkit.training.checkpoint import list_checkpoints
from tests.smoke.helpers import TINY, assert_same_progress, cli_popen, read_progress, run_cli_many, tiny_flags

TOTAL = 600
# name -> (class, env, extra settings): prioritized replay's priorities and beta schedule must resume exactly too
# (beta's schedule is pinned: by default it follows total_env_steps, which runs A and B set differently)
ALGORITHMS: dict[str, tuple[type[Algorithm], str, dict[str, Any]]] = {
    "sac": (SAC, "Pendulum-v1", {}),
    "td3": (TD3, "Pendulum-v1", {}),
    "sac_per": (SAC, "Pendulum-v1", {"prioritized_replay": True, "is_weight_anneal_env_steps": 600}),
    "sac_discrete": (SACDiscrete, "CartPole-v1", {}),
    "dqn_per": (
        DQN,
        "CartPole-v1",
        {"prioritized_replay": True, "is_weight_anneal_env_steps": 600, "exploration_env_steps": 400, "double": True},
    ),
}
CONFIG = {**TINY, "seed": 3}  # checkpoint_freq = log_interval = 100, eval_freq 200


def make(algo: str, **kwargs: Any) -> Algorithm:
    cls, env, extra = ALGORITHMS[algo]
    return cls(env, verbose=0, **{**CONFIG, **extra, **kwargs})


@pytest.fixture(autouse=True)
def sigint_reaches_python():
    """Under a background runner SIGINT may be ignored (and hrlkit then leaves it so): install Python's handler."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def full_state(model: Algorithm) -> dict[str, Any]:
    """Weights (online and target), optimizer moments, the replay buffer and the agent's generator, as named tensors
    plus the JSON-able rest (RNG state, step counts) under the key "json"."""
    from hrlkit.training.serialization import split_tree

    skeleton, tensors = split_tree({"agent": model.agent.state_tree(), "replay": model.agent.replay_state()})
    return {**tensors, "json": skeleton}


def assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not (torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k])]
    assert not different, f"differs after resume: {different[:8]}"


def tensorboard_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """What TensorBoard shows (purged events hidden), wall-clock tags left out, each tag's points in step order.

    Sorted because a resumed run's two event files are named by the second they were opened in: two opened within one
    second (short test runs on a busy machine) are read in either order, and the same points come back shuffled."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    tags = [t for t in acc.Tags()["scalars"] if not t.startswith("time/fps")]
    return {t: sorted((e.step, e.value) for e in acc.Scalars(t)) for t in tags}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory):
    """(algo, n_envs) -> run A: TOTAL env steps in one `learn`, trained once per module."""
    cache: dict[tuple[str, int], Algorithm] = {}

    def get(algo: str, n_envs: int) -> Algorithm:
        if (algo, n_envs) not in cache:
            run_dir = tmp_path_factory.mktemp(f"A_{algo}_{n_envs}")
            model = make(algo, run_dir=run_dir, n_envs=n_envs)
            model.learn(TOTAL).close()
            cache[algo, n_envs] = model
        return cache[algo, n_envs]

    return get


def check_same_as(a: Algorithm, b: Algorithm) -> None:
    assert b.env_steps == a.env_steps == TOTAL
    assert_same_progress(a.run_dir, b.run_dir)
    assert_same_state(full_state(a), full_state(b))
    assert tensorboard_scalars(a.run_dir) == tensorboard_scalars(b.run_dir)
    assert (a.run_dir / "config.yaml").read_text() == (b.run_dir / "config.yaml").read_text()


@pytest.mark.parametrize(
    ("algo", "n_envs"), [("sac", 1), ("sac", 2), ("td3", 1), ("sac_per", 1), ("dqn_per", 2), ("sac_discrete", 2)]
)
def test_resume_after_budget_ends(uninterrupted, tmp_path: Path, algo: str, n_envs: int) -> None:
    a = uninterrupted(algo, n_envs)
    b_dir = tmp_path / "B"
    make(algo, run_dir=b_dir, n_envs=n_envs, total_env_steps=300).learn().close()
    assert list_checkpoints(b_dir / "checkpoints")[-1] == 300

    b = Algorithm.resume(b_dir, {"run.total_env_steps": TOTAL}, verbose=0)
    assert type(b) is ALGORITHMS[algo][0] and b.env_steps == 300
    b.learn().close()
    check_same_as(a, b)


def test_resume_after_ctrl_c(uninterrupted, tmp_path: Path) -> None:
    """SIGINT in the middle of an update: the loop finishes that env step, checkpoints (between log dumps) and stops."""
    a = uninterrupted("sac", 1)
    b = SAC("Pendulum-v1", run_dir=tmp_path / "B", verbose=0, total_env_steps=TOTAL, **CONFIG)
    update, calls = b.agent.update, []

    def update_then_ctrl_c(gradient_steps: int) -> dict[str, float]:
        calls.append(1)
        if len(calls) == 150:  # the update at env step 250
            signal.raise_signal(signal.SIGINT)
        return update(gradient_steps)

    b.agent.update = update_then_ctrl_c
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        b.learn()
    b.close()
    assert signal.getsignal(signal.SIGINT) is handler  # the loop's handler is gone again
    assert b.env_steps == 250 and b.state.n_updates == 150  # the interrupted step was completed, update included
    assert list_checkpoints(b.run_dir / "checkpoints")[-1] == 250

    resumed = Algorithm.resume(b.run_dir, verbose=0)
    assert resumed.env_steps == 250
    resumed.learn().close()
    check_same_as(a, resumed)


def test_second_ctrl_c_stops_at_once(tmp_path: Path) -> None:
    """Two SIGINTs: KeyboardInterrupt right away, and no checkpoint of a half-done step (the last periodic one stays)."""
    model = SAC("Pendulum-v1", run_dir=tmp_path / "run", verbose=0, total_env_steps=TOTAL, **CONFIG)
    update, calls = model.agent.update, []

    def update_with_two_ctrl_c(gradient_steps: int) -> dict[str, float]:
        calls.append(1)
        if len(calls) == 50:  # the update at env step 150
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
        return update(gradient_steps)

    model.agent.update = update_with_two_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        model.learn()
    model.close()
    assert model.env_steps == 150 and model.state.n_updates == 49  # stopped inside the update
    assert list_checkpoints(model.run_dir / "checkpoints") == [100]


def test_resume_after_a_budget_inside_a_log_period(uninterrupted, tmp_path: Path) -> None:
    """A run that ends at 350 writes a provisional last row (and resets nothing): continuing it drops that row and
    averages the 301-400 period over all its updates, in a resume and in a second `learn` call alike."""
    a = uninterrupted("sac", 1)
    b = SAC("Pendulum-v1", run_dir=tmp_path / "B", verbose=0, total_env_steps=350, **CONFIG).learn()
    b.close()
    steps = [row["time/env_steps"] for row in read_progress(b.run_dir)]
    assert steps == ["100.0", "200.0", "300.0", "350.0"]  # the end of a run is always logged
    resumed = Algorithm.resume(b.run_dir, {"run.total_env_steps": TOTAL}, verbose=0)
    resumed.learn().close()
    check_same_as(a, resumed)

    c = SAC("Pendulum-v1", run_dir=tmp_path / "C", verbose=0, **CONFIG)
    c.learn(350)
    c.learn(TOTAL)
    c.close()
    check_same_as(a, c)


# ---------------------------------------------------------------------------------------------------- the CLI
def checkpoint_tensors(run_dir: Path, step: int) -> dict[str, torch.Tensor]:
    ckpt = run_dir / "checkpoints" / str(step)
    tensors = load_file(str(ckpt / "agent.safetensors"))
    with np.load(ckpt / "replay.npz", allow_pickle=False) as replay:
        tensors.update({f"replay.{k}": torch.from_numpy(replay[k]) for k in replay.files})
    return tensors


def test_cli_resume(tmp_path: Path) -> None:
    """`hrlkit train sac --resume DIR --total-env-steps 600` continues a 300-step run into what a 600-step run logs;
    and a run stopped with Ctrl-C (exit 130, one line on stderr), SIGTERM (exit 143) or SIGKILL (while it writes a
    checkpoint, when the poll catches one) resumes the same way, leaving no partial checkpoint behind."""
    flags = ["--env", "Pendulum-v1", "--seed", "3", *tiny_flags(), "--no-progress", "--verbose", "0"]
    a = cli_popen(["train", "sac", "--run-dir", "A", "--total-env-steps", str(TOTAL), *flags], tmp_path)
    b = cli_popen(["train", "sac", "--run-dir", "B", "--total-env-steps", "300", *flags], tmp_path)
    c = cli_popen(["train", "sac", "--run-dir", "C", "--total-env-steps", "100000", *flags], tmp_path)
    d = cli_popen(["train", "sac", "--run-dir", "D", "--total-env-steps", "100000", *flags], tmp_path)
    e = cli_popen(["train", "sac", "--run-dir", "E", "--total-env-steps", "100000", *flags], tmp_path)
    deadline = time.monotonic() + 120
    for run, proc, signum in (("C", c, signal.SIGINT), ("D", d, signal.SIGTERM), ("E", e, signal.SIGKILL)):
        while not (tmp_path / run / "checkpoints" / "200" / "meta.json").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, f"run {run} made no checkpoint at 200 env steps in 120 s"
            time.sleep(0.02)
        if signum == signal.SIGKILL:  # E dies while it writes a checkpoint, if the poll catches one in flight
            while proc.poll() is None and time.monotonic() < deadline:
                if any(p.name.startswith(".tmp-") for p in (tmp_path / run / "checkpoints").iterdir()):
                    break
                if (tmp_path / run / "checkpoints" / "400").exists():
                    break
                time.sleep(0.001)
        proc.send_signal(signum)
    (_, a_err), (_, b_err), (c_out, c_err), (d_out, d_err), _ = (p.communicate(timeout=120) for p in (a, b, c, d, e))
    assert e.returncode == -signal.SIGKILL
    assert a.returncode == 0, a_err
    assert b.returncode == 0, b_err
    assert c.returncode == 130, c_out + c_err
    assert c_err.splitlines() == ["hrlkit: interrupted"]
    assert d.returncode == 143, d_out + d_err
    assert d_err.splitlines() == ["hrlkit: terminated (SIGTERM)"]
    stopped = {run: list_checkpoints(tmp_path / run / "checkpoints")[-1] for run in "CDE"}
    assert f"interrupted at {stopped['C']} env steps" in c_out and f"interrupted at {stopped['D']} env steps" in d_out
    if max(stopped.values()) >= TOTAL:
        pytest.skip(f"runs were only stopped at {stopped} env steps (a very busy machine): cannot compare with A")

    resume = {
        run: ["train", "sac", "--resume", run, "--total-env-steps", str(TOTAL), "--no-progress"] for run in "BCDE"
    }
    for run, result in run_cli_many(resume, tmp_path).items():
        assert result.returncode == 0, result.describe()
        assert f"resuming {run} at {300 if run == 'B' else stopped[run]} env steps" in result.stdout
        assert_same_progress(tmp_path / "A", tmp_path / run)
        assert (tmp_path / "A" / "config.yaml").read_text() == (tmp_path / run / "config.yaml").read_text()
        a_final, b_final = checkpoint_tensors(tmp_path / "A", TOTAL), checkpoint_tensors(tmp_path / run, TOTAL)
        assert_same_state(a_final, b_final)
        assert not [p for p in (tmp_path / run / "checkpoints").iterdir() if p.name.startswith(".tmp-")]


def test_resume_from_a_checkpoint_inside_a_log_period(uninterrupted, tmp_path: Path) -> None:
    """Checkpoints every 150 env steps, logs every 100: the one at 450 falls inside a log period, and a resume from it
    (after the run's later checkpoint is lost) still logs what the uninterrupted run logged."""
    import shutil

    a = uninterrupted("sac", 1)
    b_dir = tmp_path / "B"
    SAC("Pendulum-v1", run_dir=b_dir, verbose=0, **{**CONFIG, "checkpoint_freq": 150, "keep_checkpoints": 10}).learn(
        TOTAL
    ).close()
    assert list_checkpoints(b_dir / "checkpoints") == [150, 300, 450, 600]
    shutil.rmtree(b_dir / "checkpoints" / "600")  # as if the run had died between 450 and 600

    b = Algorithm.resume(b_dir, verbose=0)
    assert b.env_steps == 450
    b.learn().close()
    assert_same_progress(a.run_dir, b.run_dir)
    assert_same_state(full_state(a), full_state(b))
    assert tensorboard_scalars(a.run_dir) == tensorboard_scalars(b.run_dir)


def test_resume_keeps_an_env_whose_task_changes_with_its_episode_count(tmp_path: Path) -> None:
    """Four Rooms moves its goal after `goal_change_episodes` resets; a resumed env must be told how many it has run."""
    kwargs = {
        **CONFIG, "hidden": (16,), "batch_size": 8, "learning_starts": 50, "eval_freq": 0, "exploration_env_steps": 100,
        "torch_threads": 1, "env_kwargs": {"goal_change_episodes": 3, "max_episode_steps": 50},
    }  # fmt: skip
    a = DQN("hrlkit/FourRooms-v0", run_dir=tmp_path / "A", verbose=0, **kwargs)
    a.learn(600).close()
    DQN("hrlkit/FourRooms-v0", run_dir=tmp_path / "B", verbose=0, **kwargs).learn(300).close()
    b = Algorithm.resume(tmp_path / "B", {"run.total_env_steps": 600}, verbose=0)
    env = b.envs.envs[0].unwrapped
    assert b.state.env_episodes[0] >= 3 and env.goal == env.goal_for_episode(3) != env.goal_for_episode(0)
    b.learn().close()
    assert_same_progress(a.run_dir, b.run_dir)
    assert_same_state(full_state(a), full_state(b))
