"""Networks: mlp(), twin-critic ensembles evaluated in one batched matmul, actors, discrete Q-networks, encoders,
the on-policy actor-critic."""

from hrlkit.nn.actors import DeterministicActor, SquashedGaussianActor
from hrlkit.nn.critics import QEnsemble, QNetwork, dueling_combine
from hrlkit.nn.encoders import NatureCNN, make_encoder
from hrlkit.nn.mlp import EnsembleLinear, ObsFlattener, mlp
from hrlkit.nn.policies import ActorCritic, PolicyParams

__all__ = [
    "ActorCritic", "DeterministicActor", "EnsembleLinear", "NatureCNN", "ObsFlattener", "QEnsemble", "QNetwork",
    "PolicyParams", "SquashedGaussianActor", "dueling_combine", "make_encoder", "mlp",
]  # fmt: skip
