"""The h-DQN paper's first result (Kulkarni et al. 2016, arXiv:1604.06057, section 4.1): on the six-state
chain, h-DQN earns clearly more extrinsic reward per episode than flat Q-learning (paper: about 0.13 vs 0.01).

Both train 4000 env steps from the chain's preset (hrlkit/presets/hrlkit/HDQNChain-v0.yaml: epsilon 1 -> 0.1 over the
first 3000 env steps for both levels and for Q-learning), seed 0. The measure is the paper's: the average extrinsic
reward per training episode (exploration included), over the episodes that end in the last 1000 env steps (about 300
episodes); the greedy policies are also evaluated on 300 episodes.

Measured with this code, seeds 0-4 (1 torch thread, 2 busy cores): h-DQN 0.106-0.193 per training episode and
0.208-0.218 greedy (heading for s6 and then back earns about 0.2); Q-learning 0.010-0.021 and 0.010 (straight left).
Thresholds, with margin: h-DQN >= 0.07 in training and >= 0.15 greedy; Q-learning <= 0.04 and <= 0.02; h-DQN at least
4 times Q-learning in training. About 30 s in all (h-DQN 20-26 s, Q-learning 3-4 s).
"""

from __future__ import annotations

import time

import numpy as np

from hrlkit.agents.base import Transition
from hrlkit.algorithms import ALGORITHMS, Algorithm, default_config
from hrlkit.config import PRESET_DIR, apply_preset, load_yaml
from hrlkit.envs.make import make_env
from hrlkit.training.evaluate import evaluate

CHAIN = "hrlkit/HDQNChain-v0"
TOTAL = 4000
LAST = 1000  # the window of env steps whose finished episodes are averaged


def train_on_chain(algo: str, seed: int = 0, total: int = TOTAL) -> tuple[Algorithm, list[tuple[int, float]]]:
    """A model trained with the chain's preset; (env steps at the end, return) of every training episode."""
    tc = default_config(algo)
    tc.run.env = CHAIN
    preset = PRESET_DIR / f"{CHAIN}.yaml"
    apply_preset(tc, load_yaml(preset), str(preset))
    tc.run.seed, tc.run.total_env_steps, tc.run.eval_freq, tc.run.torch_threads = seed, total, 0, 1
    model = ALGORITHMS[algo](config=tc.algo_config, run=tc.run, replay=tc.replay, verbose=0, tensorboard=False)
    episodes: list[tuple[int, float]] = []
    running = np.zeros(tc.run.n_envs)
    observe = model.agent.observe

    def observe_and_count(transition: Transition) -> None:
        running[:] += transition.rewards
        done = transition.terminated | transition.truncated
        episodes.extend((model.env_steps + tc.run.n_envs, float(r)) for r in running[done])
        running[done] = 0.0
        observe(transition)

    model.agent.observe = observe_and_count
    model.learn()
    model.close()
    return model, episodes


def reward_per_episode(episodes: list[tuple[int, float]], total: int = TOTAL, last: int = LAST) -> float:
    return float(np.mean([r for step, r in episodes if step > total - last]))


def greedy_reward(model: Algorithm, episodes: int = 300) -> float:
    env = make_env(CHAIN)
    result = evaluate(model, env, episodes, seed=1_000_000)
    env.close()
    return result["mean_return"]


def test_hdqn_beats_flat_q_learning_on_the_chain() -> None:
    t0 = time.perf_counter()
    hdqn, hdqn_episodes = train_on_chain("hdqn")
    flat, flat_episodes = train_on_chain("qlearning")
    hdqn_train, flat_train = reward_per_episode(hdqn_episodes), reward_per_episode(flat_episodes)
    hdqn_greedy, flat_greedy = greedy_reward(hdqn), greedy_reward(flat)
    seconds = time.perf_counter() - t0
    summary = (
        f"h-DQN {hdqn_train:.3f} per training episode, {hdqn_greedy:.3f} greedy; "
        f"Q-learning {flat_train:.3f}, {flat_greedy:.3f} ({seconds:.0f} s)"
    )
    print(summary)
    assert hdqn_train >= 0.07 and hdqn_greedy >= 0.15, summary
    assert flat_train <= 0.04 and flat_greedy <= 0.02, summary
    assert hdqn_train >= 4 * flat_train, summary
