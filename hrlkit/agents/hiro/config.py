"""HIRO's configuration. Defaults follow the reference implementation (tensorflow/models research/efficient-hrl)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hrlkit.errors import HrlkitError
from hrlkit.learners import SACConfig, TD3Config


def reference_level() -> TD3Config:
    """A level's learner as in the reference implementation (tensorflow/models research/efficient-hrl): TD3 with
    300-300 networks, actor lr 1e-4, critic lr 1e-3, batch 100; TD3's other defaults (target noise 0.2 clipped at 0.5,
    actor and targets every 2 critic updates, tau 0.005, gamma 0.99) are the reference's too."""
    return TD3Config(hidden=(300, 300), actor_lr=1e-4, critic_lr=1e-3, batch_size=100)


@dataclass
class HindsightConfig:
    """Hindsight at the high level of goal-conditioned HIRO (`hrlkit.agents.hiro.hindsight`)."""

    enabled: bool = False
    """replay segments with a task goal reached at the end of a segment of the same episode (needs goal_conditioned)"""
    strategy: str = "future"
    """which segment's end gives the new goal: future (this segment or a later one), final (the episode's last),
    episode (any segment of the episode)"""
    n_sampled_goal: int = 4
    """k: relabelled segments per real one; a sampled segment is relabelled with probability 1 - 1/(k+1)"""


@dataclass
class AdjacencyConfig:
    """HRAC's adjacency constraint on subgoals (Zhang et al. 2020; `hrlkit.goals.adjacency`); defaults are HRAC's."""

    enabled: bool = False
    """keep the high level's subgoals within c-step reach: a learned adjacency network and a penalty on its actor"""
    cell_size: float = 1.0
    """goal-space cell edge for the adjacency graph, in goal units (HRAC rounds to whole units)"""
    max_cells: int = 1500
    """explored cells kept in the graph (its matrix is max_cells^2 bytes)"""
    hidden: int = 128
    """width of the adjacency network's three hidden layers"""
    embedding: int = 32
    """size of the adjacency embedding"""
    lr: float = 2e-4
    """adjacency network learning rate (Adam)"""
    margin_pos: float = 1.0
    """contrastive loss: adjacent cells are pulled within this embedding distance"""
    margin_neg: float = 1.2
    """contrastive loss: other cells are pushed beyond this embedding distance"""
    penalty_coef: float = 20.0
    """eta: weight of the adjacency penalty in the high level's actor loss"""
    train_freq: int = 50_000
    """env steps between training rounds of the adjacency network (HRAC: a 50k-step trajectory buffer)"""
    epochs: int = 25
    """passes per training round over the explored pairs (up to 20,000 pairs a pass)"""
    batch_size: int = 64
    """pairs per gradient step of the adjacency network"""


@dataclass
class HIROConfig:
    """HIRO (Nachum et al. 2018, arXiv:1805.08296)."""

    high: TD3Config | SACConfig = field(default_factory=reference_level)
    """the high-level learner (acts every c steps, action = a goal; batch_size counts segments; gamma is per
    decision)"""
    low: TD3Config | SACConfig = field(default_factory=reference_level)
    """the low-level learner (acts every step, input = state and goal)"""
    high_level_interval: int = 10
    """c: env steps per high-level decision"""
    goal_indices: tuple[int, ...] = (0, 1)
    """state dimensions the goals live in (HIRO on Ant: the first 15 of qpos; mazes: x-y)"""
    goal_low: tuple[float, ...] = ()
    """lower goal bound per goal dimension (one value: the same for all); empty: -(high - low) of the goal dims where
    the observation space bounds them, else -10 with a warning"""
    goal_high: tuple[float, ...] = ()
    """upper goal bound per goal dimension (one value: the same for all); empty: +(high - low) of the goal dims where
    the observation space bounds them, else +10 with a warning"""
    state_keys: tuple[str, ...] = ("observation", "desired_goal")
    """for Dict observations: keys concatenated, in this order, into the state HIRO works on"""
    goal_conditioned: bool = False
    """on goal envs: the high level sees the task's desired_goal beside the state (state_keys then leave it out) and
    segments keep the env's achieved goals, which hindsight needs"""
    hindsight: HindsightConfig = field(default_factory=HindsightConfig)
    """hindsight at the high level (goal_conditioned only)"""
    adjacency: AdjacencyConfig = field(default_factory=AdjacencyConfig)
    """reachable subgoals: HRAC's adjacency constraint"""
    low_hidden_indices: tuple[int, ...] = ()
    """state dimensions the low level does not see (the reference hides x-y from it, ZERO_OBS), so that its policy
    depends on the relative goal and the body, not on where in the world the agent is; the high level sees them all"""
    high_reward_scale: float = 0.1
    """high-level reward = this x the sum of env rewards over the segment"""
    low_reward_scale: float = 1.0
    """low-level reward = this x -||s + g - s'||"""
    relabel: bool = True
    """off-policy correction of high-level goals at every sampling (false: the ablation)"""
    relabel_samples: int = 8
    """Gaussian candidates besides the original goal and s_{t+c} - s_t"""
    high_buffer_size: int = 200_000
    """high-level replay capacity in segments"""
    high_gradient_steps: int = 1
    """high-level gradient steps per c env steps collected (one decision's worth; the reference: 1), scheduled by env steps whatever train_freq is; each samples and relabels its own batch"""
    high_learning_starts: int = 0
    """segments stored before the high level starts learning (besides the loop's learning_starts)"""
    low_pretrain_env_steps: int = 0
    """env steps at the start during which goals are drawn at random (the low level learns to reach them)"""
    pretrain_goal_low: tuple[float, ...] = ()
    """during pretraining, goal magnitudes are drawn in [pretrain_goal_low, pretrain_goal_high] with a random sign;
    empty: uniform over the goal range"""
    pretrain_goal_high: tuple[float, ...] = ()
    """upper magnitude of pretraining goals (see pretrain_goal_low)"""
    goal_reached_distance: float = 0.5
    """a segment counts as reaching its goal when ||s + g - s'|| at its end is below this (logged as hiro/goal_reached)"""

    def resolve_goal_range(self, state_low: Any, state_high: Any) -> str | None:
        """Fill an empty goal range from the state's bounds (each (S,)): a goal is a change of the goal dims, so
        +-(high - low) lets one decision ask for any move the space allows. Where a goal dim is unbounded, +-10 (the
        paper's Ant range). Returns a warning in that case, else None; a range already given is left as it is."""
        import numpy as np

        if self.goal_low and self.goal_high:
            return None
        if bool(self.goal_low) != bool(self.goal_high):
            raise HrlkitError(
                f"goal_low {self.goal_low} / goal_high {self.goal_high}: give both bounds, or neither (then they come "
                "from the observation space)"
            )
        idx = np.asarray(self.goal_indices, np.int64)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(state_low):
            return None  # the agent names the bad goal_indices
        span = (np.asarray(state_high, np.float64) - np.asarray(state_low, np.float64))[idx]
        bounded = bool(np.all(np.isfinite(span)) and np.all(span > 0) and np.all(span < 1e6))
        span = span if bounded else np.full(len(idx), 10.0)
        self.goal_low = tuple(float(-v) for v in span)
        self.goal_high = tuple(float(v) for v in span)
        if bounded:
            return None
        return (
            f"warning: the observation space does not bound the goal dims {list(self.goal_indices)}, so HIRO's goal "
            "range is +-10 per dim; set --goal-low/--goal-high to how far one subgoal should reach in "
            f"{self.high_level_interval} steps (docs/hiro.md, 'HIRO on your own env')"
        )

    def goal_bounds(self) -> tuple[Any, Any]:
        import numpy as np

        g = len(self.goal_indices)
        if not self.goal_low and not self.goal_high:
            raise HrlkitError("the goal range is empty: call resolve_goal_range with the state's bounds first")
        try:
            low, high = (
                np.broadcast_to(np.asarray(b, np.float32), (g,)).copy() for b in (self.goal_low, self.goal_high)
            )
        except ValueError:
            low = high = np.zeros(0)
        if low.shape != (g,) or high.shape != (g,) or np.any(low >= high):
            raise HrlkitError(
                f"goal_low {self.goal_low} / goal_high {self.goal_high} must give one bound per goal dimension "
                f"({g}) with low < high"
            )
        return low, high

    def pretrain_bands(self) -> tuple[Any, Any] | None:
        """Per-dimension [low, high] magnitudes of pretraining goals, or None for uniform goals over the goal range."""
        import numpy as np

        if not self.pretrain_goal_high:
            if self.pretrain_goal_low:
                raise HrlkitError("pretrain_goal_low is set without pretrain_goal_high: give both, or neither")
            return None
        g = len(self.goal_indices)
        try:
            lo = np.broadcast_to(np.asarray(self.pretrain_goal_low or (0.0,), np.float32), (g,)).copy()
            hi = np.broadcast_to(np.asarray(self.pretrain_goal_high, np.float32), (g,)).copy()
        except ValueError:
            raise HrlkitError(
                f"pretrain_goal_low {self.pretrain_goal_low} / pretrain_goal_high {self.pretrain_goal_high} must give "
                f"one value, or one per goal dimension ({g})"
            ) from None
        goal_low, goal_high = self.goal_bounds()
        reach = np.minimum(-goal_low, goal_high)  # the largest magnitude a goal of either sign can take
        if np.any(lo < 0) or np.any(lo > hi) or np.any(hi > reach):
            raise HrlkitError(
                f"pretraining goal magnitudes [{self.pretrain_goal_low}, {self.pretrain_goal_high}] need "
                f"0 <= low <= high <= {reach.tolist()} (the goal range, for either sign)"
            )
        return lo, hi
