"""HIRO's off-policy correction on the ant's dimensions, the low actor called whole against its first layer split.

The AntMaze preset's shapes: states of 107 dims (x-y hidden from the low level), x-y goals, 8 actions, 300-300 TD3
networks, high-level batches of 100 segments of c = 10 steps, 10 candidates. Both versions score the same candidates
(`hrlkit.goals.relabel.hiro_relabel_goals`) with the same HIRO agent: `agent.low_policy` (the actor on [s, g] for every
candidate) and `agent.factored_low_policy()` (W_s s + b once per segment and step, broadcast over the candidates).
One torch thread; the two alternate for `--repeats` rounds and the medians of the rounds after the first two are
printed, with their ratio; the choices must agree.

    python benchmarks/hiro_correction_split.py [--repeats 12]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch

from hrlkit.agents.hiro import HIROAgent, HIROConfig
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.goals.relabel import hiro_relabel_goals
from hrlkit.learners import TD3Config

STATE, GOAL, ACTIONS, BATCH, C = 107, 2, 8, 100, 10


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=12)
    args = p.parse_args()
    torch.set_num_threads(1)
    obs = gym.spaces.Box(-np.inf, np.inf, (STATE,), np.float32)
    act = gym.spaces.Box(-1.0, 1.0, (ACTIONS,), np.float32)
    cfg = HIROConfig(
        high=TD3Config(hidden=(300, 300)), low=TD3Config(hidden=(300, 300)), high_level_interval=C,
        goal_indices=(0, 1), goal_low=(-4.0,), goal_high=(4.0,), low_hidden_indices=(0, 1),
    )  # fmt: skip
    agent = HIROAgent(obs, act, cfg, 1, RunConfig(seed=0, torch_threads=1), ReplayConfig(buffer_size=1000))
    g = torch.Generator().manual_seed(0)
    states = torch.cumsum(0.3 * torch.randn(BATCH, C + 1, STATE, generator=g), 1)
    actions = 2 * torch.rand(BATCH, C, ACTIONS, generator=g) - 1
    batch = (torch.zeros(BATCH, GOAL), states, states[..., :GOAL], actions, torch.full((BATCH,), C))
    bounds = (torch.full((GOAL,), -4.0), torch.full((GOAL,), 4.0))
    policies = {"whole": agent.low_policy, "split": agent.factored_low_policy()}
    times: dict[str, list[float]] = {k: [] for k in policies}
    for r in range(args.repeats):
        choices = []
        for name, policy in policies.items():
            t = time.perf_counter()
            out = hiro_relabel_goals(*batch, policy, *bounds, 8, torch.Generator().manual_seed(r))
            times[name].append(time.perf_counter() - t)
            choices.append(out.choice)
        assert torch.equal(choices[0], choices[1]), "the two versions chose different candidates"
    med = {k: statistics.median(v[2:]) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k}: {1000 * v:.1f} ms per correction of {BATCH} segments")
    print(f"ratio whole / split: {med['whole'] / med['split']:.2f}")


if __name__ == "__main__":
    main()
