"""HIRO (Nachum et al. 2018): data-efficient hierarchical RL with off-policy correction."""

from hrlkit.agents.hiro.agent import HIROAgent
from hrlkit.agents.hiro.config import HIROConfig, reference_level

__all__ = ["HIROAgent", "HIROConfig", "reference_level"]
