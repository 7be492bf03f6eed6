"""The off-policy update as an explicit pipeline: sample -> batch transforms -> learner update -> priorities.

    batch = buffer.sample(batch_size, rng)              uniform, or prioritized with importance weights
    batch = transform(batch) for each transform         HER's hindsight goals, HIRO's off-policy correction, ...
    result = learner.update(to_learner(batch))          stats and per-sample |TD errors|
    buffer.update_priorities(batch.indices, result.td_errors)     (a no-op for uniform replay)

Flat agents run one pipeline; HIRO runs one per level (the high level's transforms relabel its segments' goals, then
`to_learner` turns segments into the high learner's transitions). Transforms are pure functions of the batch, the
buffer's episode bookkeeping and an explicit generator that the agent saves in its checkpoints; each returns the new
batch and the stats it wants logged (under their own keys, e.g. `hiro/relabel_kept_original`, `her/relabeled`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from hrlkit.learners.base import Learner
from hrlkit.types import ReplayBatch

B = TypeVar("B")


class Transform(Protocol[B]):
    """batch -> (new batch, stats to log)."""

    def __call__(self, batch: B) -> tuple[B, dict[str, float]]: ...


class SampledBuffer(Protocol[B]):
    def sample(self, batch_size: int, rng: np.random.Generator) -> B: ...

    def update_priorities(self, indices: Any, td_errors: Any) -> None: ...


class UpdatePipeline(Generic[B]):
    """One learner's update from one buffer: the module docstring's four steps.

    Args:
        buffer: anything with `sample(batch_size, rng)` and `update_priorities(indices, td_errors)`.
        learner: the `Learner[ReplayBatch]` to update.
        batch_size: samples per gradient step.
        transforms: applied in order to each sampled batch.
        to_learner: turns the (transformed) sampled batch into the learner's `ReplayBatch` (identity when the buffer
            samples `ReplayBatch`es already).
        prefix: put before the learner's stat names (`train/`, `low/train/`, `high/train/`).
    """

    def __init__(
        self,
        buffer: SampledBuffer[B],
        learner: Learner[ReplayBatch],
        batch_size: int,
        transforms: Sequence[Transform[B]] = (),
        to_learner: Callable[[B], ReplayBatch] | None = None,
        prefix: str = "train/",
    ) -> None:
        self.buffer, self.learner, self.batch_size = buffer, learner, batch_size
        self.transforms, self.to_learner, self.prefix = list(transforms), to_learner, prefix

    def step(self, rng: np.random.Generator) -> dict[str, float]:
        """One gradient step: sample, transform, update, write priorities back. Returns the stats."""
        batch = self.buffer.sample(self.batch_size, rng)
        stats: dict[str, float] = {}
        for transform in self.transforms:
            batch, info = transform(batch)
            stats.update(info)
        learner_batch: Any = batch if self.to_learner is None else self.to_learner(batch)
        result = self.learner.update(learner_batch)
        if result.td_errors is not None:
            self.buffer.update_priorities(learner_batch.indices, result.td_errors)
        stats.update({self.prefix + k: v for k, v in result.stats.items()})
        return stats

    def run(self, gradient_steps: int, rng: np.random.Generator) -> dict[str, float]:
        """`gradient_steps` steps; each stat is the mean over the steps that reported it (TD3's actor loss comes every
        `policy_delay` steps)."""
        return mean_stats(self.step(rng) for _ in range(gradient_steps))


def mean_stats(stats: Any) -> dict[str, float]:
    """Key-wise mean of an iterable of stat dicts, each key over the dicts that have it."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for s in stats:
        for k, v in s.items():
            sums[k] = sums.get(k, 0.0) + float(v)
            counts[k] = counts.get(k, 0) + 1
    return {k: sums[k] / counts[k] for k in sums}
