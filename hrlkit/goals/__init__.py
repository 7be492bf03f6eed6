"""Goal spaces and pure goal functions: HIRO's goal transition and intrinsic reward, and its off-policy correction."""

from hrlkit.goals.functions import goal_transition, intrinsic_reward
from hrlkit.goals.relabel import hiro_relabel_goals

__all__ = ["goal_transition", "hiro_relabel_goals", "intrinsic_reward"]
