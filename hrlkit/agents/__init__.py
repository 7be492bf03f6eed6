"""Agents: act, observe, update. A flat agent is one learner and one buffer; hierarchical agents compose several."""

from hrlkit.agents.flat import FlatAgent, obs_to_tensor

__all__ = ["FlatAgent", "obs_to_tensor"]
