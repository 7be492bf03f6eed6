"""Every damaged checkpoint of `tests/hostile.py` against `hrlkit eval` and `hrlkit train --resume`: one `hrlkit:
error:` line and exit 2 (or, where the command never reads the damage, a normal run), never a traceback, crash or hang,
and no file of the run dir changed by a refused command. The same corpus runs on more algorithms in
`benchmarks/hostile_checkpoints.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile import CASES, damaged_copy, expected, run_command, snapshot

STEPS = 300


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SAC run with three checkpoints (100, 200, 300) and its replay buffer."""
    from hrlkit import SAC
    from tests.smoke.helpers import TINY

    run = tmp_path_factory.mktemp("hostile") / "run"
    SAC("Pendulum-v1", run_dir=run, verbose=0, **{**TINY, "eval_freq": 0}).learn(STEPS).close()
    return run


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_checkpoint_gives_one_line_and_changes_nothing(base_run: Path, tmp_path: Path, case: str) -> None:
    for command in ("eval", "resume"):
        run = damaged_copy(base_run, tmp_path / command, case)
        before = snapshot(run)
        if command == "eval":
            args = ["eval", str(run), "--episodes", "1", "--out", str(tmp_path / "eval_out")]
        else:
            args = ["train", "sac", "--resume", str(run), "--total-env-steps", str(STEPS + 50), "--no-progress"]
        outcome, stderr = run_command(args)
        assert outcome in expected(case, command), f"{command}: {outcome}\n{stderr}"
        if outcome == "error":
            assert snapshot(run) == before, f"{command} refused the checkpoint but changed the run dir"
