"""NaN and infinity from the agent's side, told apart from the env's (whose checks live in `hrlkit.envs.make`)."""

from __future__ import annotations

import numpy as np

from hrlkit.errors import HrlkitError


def check_actions(actions: np.ndarray, where: str) -> None:
    """A NaN or infinite action comes from the agent (weights or losses that diverged), not from the env: say so
    before the env sees it (an env would fail on it, or return NaN that would then be blamed on the env)."""
    actions = np.asarray(actions)
    if actions.dtype.kind == "f" and not np.all(np.isfinite(actions)):
        raise HrlkitError(
            f"the agent produced a non-finite action {where} (its weights or losses diverged): lower "
            "the learning rates, or scale the rewards down; the env is not at fault"
        )


def check_losses(stats: dict[str, float], env_steps: int) -> None:
    """A NaN or infinite loss after an update: training diverged; stop with the loss's name rather than go on."""
    bad = [k for k, v in stats.items() if "loss" in k and not np.isfinite(v)]
    if bad:
        raise HrlkitError(
            f"training diverged at env step {env_steps}: {bad[0]} is {stats[bad[0]]} (the agent's side, not the env's): "
            "lower the learning rates or scale the rewards down, and start again"
        )
