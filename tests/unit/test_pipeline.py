"""The update pipeline: sample -> transforms (in order) -> learner update -> priorities from the update's TD errors;
stats are means over the gradient steps of one update."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from hrlkit.agents.pipeline import UpdatePipeline, mean_stats
from hrlkit.buffers import ReplayBuffer
from hrlkit.buffers.prioritized import PrioritizedSampler
from hrlkit.learners.base import Learner
from hrlkit.types import ReplayBatch, UpdateResult

OBS = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
ACT = gym.spaces.Discrete(2)


class ScriptedLearner(Learner[ReplayBatch]):
    """Records what it was given; returns stat `step` = call number and TD errors = 10 x the batch's rewards."""

    def __init__(self) -> None:
        super().__init__(OBS, ACT)
        self.seen: list[ReplayBatch] = []

    def update(self, batch: ReplayBatch) -> UpdateResult:
        self.seen.append(batch)
        self.n_updates += 1
        stats = {"step": float(self.n_updates)}
        if self.n_updates % 2 == 0:
            stats["every_other"] = 100.0 * self.n_updates
        return UpdateResult(stats, 10.0 * batch.rewards)


def filled_buffer(sampler: PrioritizedSampler | None = None) -> ReplayBuffer:
    buf = ReplayBuffer(4, OBS, ACT, sampler=sampler)
    for i in range(4):
        buf.add(
            np.full((1, 1), i, np.float32), np.array([0]), np.array([float(i)]), np.zeros((1, 1)), np.array([False])
        )
    return buf


def test_transforms_run_in_order_before_the_update_and_stats_are_means_over_steps() -> None:
    calls: list[str] = []

    def add_one(batch: ReplayBatch) -> tuple[ReplayBatch, dict[str, float]]:
        calls.append("add_one")
        return batch._replace(rewards=batch.rewards + 1.0), {"t/add": 1.0}

    def double(batch: ReplayBatch) -> tuple[ReplayBatch, dict[str, float]]:
        calls.append("double")
        return batch._replace(rewards=batch.rewards * 2.0), {"t/double": 2.0}

    learner = ScriptedLearner()
    pipeline = UpdatePipeline(filled_buffer(), learner, 3, [add_one, double], prefix="x/")
    stats = pipeline.run(4, np.random.default_rng(0))
    assert calls == ["add_one", "double"] * 4
    # (r + 1) * 2, not r * 2 + 1: the learner saw the transforms applied in order
    for batch in learner.seen:
        torch.testing.assert_close(batch.rewards, (batch.obs[:, 0] + 1.0) * 2.0)
    # steps 1..4: mean 2.5; every_other only at steps 2 and 4: mean of 200 and 400 (not of the last step alone)
    assert stats == {"t/add": 1.0, "t/double": 2.0, "x/step": 2.5, "x/every_other": 300.0}


def test_priorities_come_from_the_update_result_of_the_transformed_batch() -> None:
    sampler = PrioritizedSampler(4, priority_exponent=1.0, priority_epsilon=1e-6)
    learner = ScriptedLearner()
    buf = filled_buffer(sampler)
    pipeline = UpdatePipeline(buf, learner, 2, [lambda b: (b._replace(rewards=b.rewards + 0.5), {})])
    pipeline.step(np.random.default_rng(1))
    batch = learner.seen[0]
    leaves = sampler.sum_tree[batch.indices.numpy()]
    # priority = |10 x (r + 0.5)| + eps for each sampled entry
    np.testing.assert_allclose(leaves, np.abs(10.0 * batch.rewards.numpy()) + 1e-6, rtol=1e-6)


def test_mean_stats_counts_each_key_over_the_dicts_that_have_it() -> None:
    assert mean_stats([{"a": 1.0}, {"a": 3.0, "b": 5.0}, {}]) == {"a": 2.0, "b": 5.0}
