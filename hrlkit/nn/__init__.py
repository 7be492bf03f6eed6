"""Networks: mlp(), twin-critic ensembles evaluated in one batched matmul, actors, discrete Q-networks, encoders."""

from hrlkit.nn.actors import DeterministicActor, SquashedGaussianActor
from hrlkit.nn.critics import QEnsemble, QNetwork, dueling_combine
from hrlkit.nn.encoders import NatureCNN, make_encoder
from hrlkit.nn.mlp import EnsembleLinear, ObsFlattener, mlp

__all__ = [
    "DeterministicActor", "EnsembleLinear", "NatureCNN", "ObsFlattener", "QEnsemble", "QNetwork",
    "SquashedGaussianActor", "dueling_combine", "make_encoder", "mlp",
]  # fmt: skip
