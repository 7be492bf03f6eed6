"""Networks: mlp(), twin-critic ensembles evaluated in one batched matmul, and actors."""

from hrlkit.nn.actors import DeterministicActor, SquashedGaussianActor
from hrlkit.nn.critics import QEnsemble
from hrlkit.nn.mlp import EnsembleLinear, ObsFlattener, mlp

__all__ = ["DeterministicActor", "EnsembleLinear", "ObsFlattener", "QEnsemble", "SquashedGaussianActor", "mlp"]
