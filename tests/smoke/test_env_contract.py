"""An env that breaks Gymnasium's contract is named in one line that says what it returned; a NaN that the agent
produced is blamed on the agent, not on the env."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import tests.broken_envs  # noqa: F401  (registers the envs)
from hrlkit import SAC
from hrlkit.errors import HrlkitError
from tests.broken_envs import BROKEN
from tests.smoke.helpers import TINY, run_cli

SMALL = {**TINY, "eval_freq": 0, "checkpoint_freq": 0}


@pytest.mark.parametrize("env_id", list(BROKEN))
def test_a_broken_env_is_named_with_what_it_returned(env_id: str) -> None:
    with pytest.raises(HrlkitError, match=rf"env {env_id}.*{BROKEN[env_id][1]}|{BROKEN[env_id][1]}.*{env_id}") as e:
        SAC(env_id, verbose=0, **SMALL).learn(150)
    assert env_id in str(e.value)


def test_a_broken_env_from_the_cli_is_one_line(tmp_path: Path) -> None:
    result = run_cli(
        ["train", "sac", "--env", "tests.broken_envs:RaisesInStep-v0", "--total-env-steps", "100", "--learning-starts", "50", "--no-progress",
         "--run-dir", str(tmp_path / "run")], tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.describe()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "raised ValueError in step(): the simulator lost its state" in lines[0], (
        result.describe()
    )


def test_a_non_finite_action_is_blamed_on_the_agent() -> None:
    model = SAC("PointForTests-v0", verbose=0, **{**SMALL, "learning_starts": 0})
    with torch.no_grad():
        for p in model.agent.learner.actor.parameters():
            p.fill_(float("nan"))
    with pytest.raises(
        HrlkitError, match="the agent produced a non-finite action at env step 0.*the env is not at fault"
    ):
        model.learn(50)


def test_losses_that_overflow_stop_training_with_the_loss_named() -> None:
    model = SAC("OverflowingReward-v0", verbose=0, **{**SMALL, "learning_starts": 50})
    with pytest.raises(HrlkitError, match=r"training diverged at env step \d+: train/\w*loss\w* is (inf|nan)"):
        model.learn(150)
