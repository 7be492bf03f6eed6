"""HRAC's adjacency constraint by hand: which cells become adjacent, the contrastive loss, the penalty on the high
level's actor, the per-step window against whole trajectories, and the agent's round trip."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from hrlkit.agents.base import Transition
from hrlkit.agents.hiro import HIROAgent, HIROConfig
from hrlkit.agents.hiro.config import AdjacencyConfig
from hrlkit.agents.hiro.reachability import AdjacencyConstraint
from hrlkit.config import ReplayConfig, RunConfig
from hrlkit.envs.spaces import ActionScaler
from hrlkit.errors import HrlkitError
from hrlkit.goals.adjacency import AdjacencyGraph, adjacency_penalty, contrastive_loss
from hrlkit.learners import TD3Config
from hrlkit.training.checkpoint import load_checkpoint, save_checkpoint

HIRO_META = {
    "algo": "hiro",
    "env": "hrlkit/PointUMaze-v0",
    "env_steps": 0,
    "config": {"algo": "hiro", "run": {}, "algo_config": {}},
}
"""the least meta.json a checkpoint must hold (`hrlkit.training.checkpoint.META_SCHEMA`)"""


def test_cells_within_k_minus_one_steps_are_adjacent() -> None:
    """Cells of 1 unit, k = 3: a walk through cells 0, 0, 1, 2, 3 (x = 0.2, 0.7, 1.5, 2.5, 3.5) pairs each point with
    the next two: 0-1, 0-2, 1-2, 1-3, 2-3 are adjacent; 0-3 (three steps apart) is not."""
    graph = AdjacencyGraph(2, cell_size=1.0)
    graph.add_trajectory(np.array([[0.2, 0.1], [0.7, 0.4], [1.5, 0.5], [2.5, 0.5], [3.5, 0.5]]), k=3)
    assert graph.n_cells == 4
    np.testing.assert_array_equal(graph.cells, [[0, 0], [1, 0], [2, 0], [3, 0]])
    expected = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1]], np.uint8)
    np.testing.assert_array_equal(graph.adjacent[:4, :4], expected)
    np.testing.assert_allclose(graph.centres(graph.cells[:2]), [[0.5, 0.5], [1.5, 0.5]])
    # Pairs are drawn among distinct explored cells, with their labels.
    x, y, label = graph.sample_pairs(500, np.random.default_rng(0))
    assert not np.any(np.all(x == y, axis=1))
    far = (np.abs(x[:, 0] - y[:, 0]) == 3.0).astype(np.float32)
    np.testing.assert_array_equal(label, 1.0 - far)


def test_a_full_graph_ignores_new_cells() -> None:
    graph = AdjacencyGraph(1, cell_size=1.0, max_cells=2)
    graph.add_trajectory(np.array([[0.5], [1.5], [2.5]]), k=3)
    assert graph.n_cells == 2 and graph.adjacent[0, 1] == 1


def test_contrastive_loss_by_hand() -> None:
    """Embeddings 5 apart: adjacent -> 5 - 1 = 4; not adjacent -> max(1.2 - 5, 0) = 0; embeddings 0.5 apart: adjacent
    -> 0, not adjacent -> 0.7. Each half is a mean over the whole batch."""
    ex = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    ey = torch.tensor([[3.0, 4.0], [3.0, 4.0], [0.3, 0.4], [0.3, 0.4]])
    adjacent = torch.tensor([1.0, 0.0, 1.0, 0.0])
    loss = contrastive_loss(ex, ey, adjacent, margin_pos=1.0, margin_neg=1.2)
    assert loss.item() == pytest.approx((4 + 0) / 4 + (0 + 0.7) / 4, rel=1e-5)


def test_adjacency_penalty_by_hand() -> None:
    """With psi the identity, the penalty is max(||s - (s + g)|| - margin, 0) = max(||g|| - margin, 0)."""
    s = torch.zeros(3, 2)
    g = torch.tensor([[3.0, 4.0], [0.6, 0.8], [0.0, 2.0]])
    np.testing.assert_allclose(adjacency_penalty(nn.Identity(), s, s + g, 1.1).numpy(), [3.9, 0.0, 0.9], rtol=1e-5)


def cfg(**changes) -> AdjacencyConfig:
    return replace(
        AdjacencyConfig(enabled=True, cell_size=0.5, train_freq=20, epochs=2, hidden=16, embedding=4), **changes
    )


def test_the_per_step_window_marks_the_pairs_of_whole_trajectories() -> None:
    """Two envs, episodes of different lengths (the last one still running): feeding the steps one at a time marks
    exactly the pairs `add_trajectory` marks from each episode's whole trajectory."""
    rng = np.random.default_rng(0)
    k, T = 4, 40
    lengths = {0: [12, 13, 20], 1: [30, 15]}  # steps per episode; the last ones run past T
    episodes = {env: [np.cumsum(0.3 * rng.standard_normal((n + 1, 2)), 0) + rng.uniform(-3, 3, 2) for n in ns]
                for env, ns in lengths.items()}  # fmt: skip
    scaler = ActionScaler(gym.spaces.Box(-1.0, 1.0, (2,), np.float32))
    online = AdjacencyConstraint(cfg(), np.array([0, 1]), k, scaler, 2, seed=0, device=torch.device("cpu"))
    position = {0: [0, 0], 1: [0, 0]}  # env -> [episode, step]
    for _ in range(T):
        points, nxt, done = np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2, bool)
        for env in (0, 1):
            e, i = position[env]
            points[env], nxt[env] = episodes[env][e][i], episodes[env][e][i + 1]
            done[env] = i + 1 == lengths[env][e]
            position[env] = [e + 1, 0] if done[env] else [e, i + 1]
        online.observe(points, nxt, done)
    reference = AdjacencyGraph(2, 0.5)
    for env in (0, 1):
        e_last, i_last = position[env]
        for e in range(e_last + 1):
            n = lengths[env][e] if e < e_last else i_last
            if n > 0:
                reference.add_trajectory(episodes[env][e][: n + 1], k)
    assert {tuple(c) for c in online.graph.cells.tolist()} == {tuple(c) for c in reference.cells.tolist()}
    order = [reference._index[tuple(c)] for c in online.graph.cells.tolist()]
    n = online.graph.n_cells
    np.testing.assert_array_equal(online.graph.adjacent[:n, :n], reference.adjacent[np.ix_(order, order)])


def test_penalty_reaches_the_high_actor_loss_after_the_first_round() -> None:
    agent = make_agent()
    assert agent.high.actor_penalty == agent.adjacency.penalty
    obs = torch.zeros(4, agent.high.flatten.dim)
    actions = torch.zeros(4, 2, requires_grad=True)
    assert agent.adjacency.penalty(obs, actions).abs().sum().item() == 0.0  # no round yet: no penalty
    walk_agent(agent, 30)
    assert agent.adjacency.rounds == 1 and agent.adjacency.graph.n_cells >= 2
    obs = torch.randn(4, agent.high.flatten.dim)
    actions = torch.rand(4, 2) * 2 - 1
    # By hand: goals in units (range [-2, 2]), penalty = 20 max(||psi(s) - psi(s + g)|| - 1.1, 0).
    goals = -2.0 + (actions + 1.0) * 2.0
    s = obs[:, [0, 1]]
    with torch.no_grad():
        d = torch.sqrt((agent.adjacency.net(s) - agent.adjacency.net(s + goals)).pow(2).sum(-1) + 1e-12)
    expected = 20.0 * (d - 1.1).clamp(min=0)
    np.testing.assert_allclose(agent.adjacency.penalty(obs, actions).detach().numpy(), expected.numpy(), rtol=1e-5)
    loss, stats = agent.high.actor_loss(obs)
    assert "actor_penalty" in stats
    # The penalty moves the actor only: psi gets no gradient from the actor's loss.
    agent.adjacency.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    assert all(p.grad is None for p in agent.adjacency.net.parameters())


def test_round_trip_of_the_adjacency_state(tmp_path) -> None:
    """Through a checkpoint on disk: the network, its optimizer, the graph, the windows, the counters and the pair
    draws; both agents then learn the same from the same steps."""
    a, b = make_agent(), make_agent(seed=5)
    walk_agent(a, 30)
    save_checkpoint(tmp_path / "ckpt", HIRO_META, a.state_tree(), {}, a.replay_state())
    _, agent_state, _, _ = load_checkpoint(tmp_path / "ckpt")
    b.load_state_tree(agent_state)
    for (name, pa), pb in zip(a.adjacency.net.state_dict().items(), b.adjacency.net.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    np.testing.assert_array_equal(a.adjacency.graph.cells, b.adjacency.graph.cells)
    np.testing.assert_array_equal(a.adjacency.window, b.adjacency.window)
    assert (a.adjacency.rounds, a.adjacency.last_train) == (b.adjacency.rounds, b.adjacency.last_train)
    walk_agent(a, 25, seed=3)
    walk_agent(b, 25, seed=3)
    np.testing.assert_array_equal(a.adjacency.graph.adjacent, b.adjacency.graph.adjacent)
    for pa, pb in zip(a.adjacency.net.parameters(), b.adjacency.net.parameters(), strict=True):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"train_freq": 0}, "train_freq"), ({"cell_size": 0.0}, "cell_size"), ({"margin_neg": 0.5}, "margin_neg")],
)
def test_bad_adjacency_settings_are_refused(changes, message) -> None:
    with pytest.raises(HrlkitError, match=message):
        make_agent(adjacency=cfg(**changes))


# ------------------------------------------------------------------------------------------------- helpers
OBS = gym.spaces.Box(-10.0, 10.0, (4,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def make_agent(seed: int = 0, **changes) -> HIROAgent:
    level = TD3Config(hidden=(8,), batch_size=4)
    config = HIROConfig(
        high=level, low=replace(level), high_level_interval=3, goal_low=(-2.0,), goal_high=(2.0,),
        high_buffer_size=32, adjacency=cfg(),
    )  # fmt: skip
    for k, v in changes.items():
        setattr(config, k, v)
    torch.manual_seed(seed)
    return HIROAgent(OBS, ACT, config, 1, RunConfig(seed=seed, torch_threads=1), ReplayConfig(buffer_size=64))


def walk_agent(agent: HIROAgent, steps: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    s = rng.uniform(-1, 1, (1, 4)).astype(np.float32)
    for t in range(steps):
        a = agent.act(s)
        s2 = (s + 0.4 * rng.standard_normal((1, 4))).astype(np.float32)
        done = np.array([t % 11 == 10])
        agent.observe(Transition(s, a, np.array([-1.0]), s2, np.array([False]), done, [{}]))
        agent.update(1)
        s = rng.uniform(-1, 1, (1, 4)).astype(np.float32) if done[0] else s2
