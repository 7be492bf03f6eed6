"""What users of Stable-Baselines3 expect of the Python API: `load` keeps the step count, `learn(total_timesteps=)`,
and `evaluate(model, "EnvId")`."""

from __future__ import annotations

from pathlib import Path

import pytest

from hrlkit import SAC, evaluate
from hrlkit.errors import HrlkitError
from tests.smoke.helpers import TINY

SMALL = {**TINY, "eval_freq": 0, "checkpoint_freq": 0}


def test_load_keeps_the_step_count_and_evaluate_takes_an_env_id(tmp_path: Path) -> None:
    model = SAC("Pendulum-v1", verbose=0, **SMALL).learn(total_timesteps=150)
    assert model.env_steps == 150
    model.save(tmp_path / "m")
    loaded = SAC.load(tmp_path / "m")
    assert loaded.env_steps == 150
    result = evaluate(loaded, "Pendulum-v1", episodes=2)
    assert result["mean_length"] == 200 and set(result) >= {"mean_return", "std_return"}
    with pytest.raises(HrlkitError, match="episodes = 0"):
        evaluate(loaded, "Pendulum-v1", episodes=0)
    with pytest.raises(HrlkitError, match="not both"):
        loaded.learn(100, total_timesteps=200)
