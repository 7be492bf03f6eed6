"""Goal spaces and pure goal functions: HIRO's goal transition and intrinsic reward, and its off-policy correction."""

from hrlkit.goals.functions import goal_transition, intrinsic_reward

__all__ = ["goal_transition", "hiro_relabel_goals", "intrinsic_reward"]


def __getattr__(name: str):  # noqa: ANN202 - PEP 562: the correction needs torch, which the pure functions do not
    if name == "hiro_relabel_goals":
        from hrlkit.goals.relabel import hiro_relabel_goals

        return hiro_relabel_goals
    raise AttributeError(f"module 'hrlkit.goals' has no attribute {name!r}")
