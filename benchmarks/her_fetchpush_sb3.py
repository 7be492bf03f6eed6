"""Stable-Baselines3 SAC+HER or TD3+HER on FetchPush-v4 at an hrlkit run's settings, logged as an hrlkit run dir, so
that `hrlkit report` and `hrlkit plot` put it beside the hrlkit run (docs/her.md).

The settings are read from an hrlkit run's config.yaml (`--config`; default: hrlkit's preset,
`hrlkit/presets/FetchPush-v4.yaml`, section sac): the algorithm (SAC or TD3), network sizes, batch, replay size,
warm-up, update frequency and gradient steps, gamma, tau, learning rates (SB3 has one for actor, critics and entropy
coefficient; the config must set them alike), SAC's initial entropy coefficient (SB3's `ent_coef="auto_<init>"`) and
target entropy, TD3's exploration noise, policy delay and target smoothing, HER's strategy and k, the evaluation and
checkpoint schedules; one env on both sides (checked). hrlkit's observation normalisation (`replay.normalize_obs`:
clip 5, (x - mean) / sqrt(var + 1e-4)) is SB3's `VecNormalize` (norm_obs, clip_obs 5, epsilon 1e-4, no reward
normalisation): SB3's replay keeps raw observations and normalises sampled batches with the statistics of the moment,
as hrlkit does. Differences that remain: VecNormalize keeps separate statistics for the achieved and the desired goal
(hrlkit: one set for both), and SB3's HER draws only from finished episodes (hrlkit also from the steps so far of
running ones).

Evaluation: hrlkit's `evaluate` (20 deterministic episodes on a separate env, episode k seeded 1_000_000 + seed + k,
the seeds an hrlkit run's evaluation uses), the observations normalised with the statistics of the moment.

Long runs stop and continue: every `--checkpoint-freq` env steps (default: the preset's) the model, its replay buffer and the VecNormalize
statistics are saved in RUN_DIR/checkpoint (SB3's own zip and pickle files, written and read by this script only),
and a rerun with the same RUN_DIR continues from the last one. SB3 restores the weights, optimizers and buffer but not its random
generators' states, so a continued run is not the same as one that never stopped. `time/fps` is hrlkit's: env steps
over wall-clock seconds since the process started, evaluations and checkpoints included.

    python benchmarks/her_fetchpush_sb3.py --run-dir runs/fetchpush/sb3_s0 --seed 0         # the preset's SAC
    python benchmarks/her_fetchpush_sb3.py --run-dir runs/fetchpush/sb3_td3_s0 --config runs/fetchpush/td3_s0/config.yaml
    python benchmarks/her_fetchpush_sb3.py --run-dir /tmp/sb3 --steps 2000 --eval-freq 1000  # smoke check
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

ENV_ID = "FetchPush-v4"
EVAL_SEED = 1_000_000
COLUMNS = ["time/env_steps", "eval/mean_return", "eval/success_rate", "time/train_seconds", "time/fps"]


def hrlkit_settings(config: str | None) -> dict[str, Any]:
    """The values both libraries share, from an hrlkit run's config.yaml (`config`), else from the preset (hrlkit's
    config after applying it)."""
    from hrlkit.algorithms import config_from_dict, default_config
    from hrlkit.config import apply_presets, load_yaml

    if config:
        tc = config_from_dict(load_yaml(Path(config)))
    else:
        tc = default_config("sac")
        tc.run.env = ENV_ID
        apply_presets(tc)
    run, replay, algo = tc.run, tc.replay, tc.algo_config
    if tc.algo not in ("sac", "td3") or run.env != ENV_ID:
        raise SystemExit(f"{config}: this script runs SB3's SAC or TD3 on {ENV_ID}, not {tc.algo} on {run.env}")
    if replay is None or not replay.her.enabled or not replay.normalize_obs or replay.prioritized_replay:
        raise SystemExit(f"{config}: expected HER and observation normalisation on, prioritized replay off")
    if run.n_envs != 1:
        raise SystemExit(f"{config}: the SB3 side runs one env (n_envs {run.n_envs})")
    if algo.actor_lr != algo.critic_lr or algo.actor_lr != getattr(algo, "entropy_lr", algo.actor_lr):
        raise SystemExit(f"{config}: SB3 has one learning rate for actor, critics and entropy coefficient")
    s = {
        "algo": tc.algo, "hidden": list(algo.hidden), "batch_size": algo.batch_size,
        "buffer_size": replay.buffer_size, "learning_starts": replay.learning_starts, "train_freq": replay.train_freq,
        "gradient_steps": replay.gradient_steps, "gamma": algo.gamma, "tau": algo.tau, "lr": algo.actor_lr,
        "strategy": replay.her.strategy, "n_sampled_goal": replay.her.n_sampled_goal, "obs_clip": replay.obs_clip,
        "steps": run.total_env_steps, "eval_freq": run.eval_freq, "eval_episodes": run.eval_episodes,
        "checkpoint_freq": run.checkpoint_freq,
    }  # fmt: skip
    if tc.algo == "sac":
        if not algo.learn_entropy_coef or algo.target_update_interval != 1 or algo.n_critics != 2:
            raise SystemExit(f"{config}: the SB3 side learns the entropy coefficient with 2 critics updated each step")
        s |= {"entropy_coef_init": algo.entropy_coef_init, "target_entropy": algo.target_entropy}
    else:
        if algo.n_critics != 2:
            raise SystemExit(f"{config}: SB3's TD3 has 2 critics (n_critics {algo.n_critics})")
        if algo.random_action_prob or algo.action_l2:
            raise SystemExit(
                f"{config}: SB3's TD3 has no random actions or action penalty (random_action_prob "
                f"{algo.random_action_prob}, action_l2 {algo.action_l2}): give a config with both at 0"
            )
        s |= {
            "exploration_noise": algo.exploration_noise, "policy_delay": algo.policy_delay,
            "target_noise": algo.target_noise, "target_noise_clip": algo.target_noise_clip,
        }  # fmt: skip
    return s


class Normalised:
    """An SB3 model seen through its VecNormalize: `predict` normalises raw observations first (for `evaluate`)."""

    def __init__(self, model: Any, vecnorm: Any) -> None:
        self.model, self.vecnorm = model, vecnorm

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        return self.model.predict(self.vecnorm.normalize_obs(obs), state, episode_start, deterministic)


def build(s: dict[str, Any], seed: int, run_dir: Path, resume: bool):
    import gymnasium as gym
    import numpy as np
    from stable_baselines3 import SAC, TD3, HerReplayBuffer
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    cls = SAC if s["algo"] == "sac" else TD3
    venv = DummyVecEnv([lambda: gym.make(ENV_ID)])
    venv.seed(seed)
    if resume:
        ckpt = run_dir / "checkpoint"
        env = VecNormalize.load(str(ckpt / "vecnormalize.pkl"), venv)
        model = cls.load(str(ckpt / "model.zip"), env=env, device="cpu")
        model.load_replay_buffer(str(ckpt / "replay.pkl"))
        return model, env
    env = VecNormalize(venv, norm_obs=True, norm_reward=False, clip_obs=s["obs_clip"], gamma=s["gamma"], epsilon=1e-4)
    common = dict(
        learning_rate=s["lr"], buffer_size=s["buffer_size"], learning_starts=s["learning_starts"],
        batch_size=s["batch_size"], tau=s["tau"], gamma=s["gamma"], train_freq=s["train_freq"],
        gradient_steps=s["gradient_steps"], replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": s["n_sampled_goal"], "goal_selection_strategy": s["strategy"]},
        policy_kwargs={"net_arch": s["hidden"]}, seed=seed, device="cpu", verbose=0,
    )  # fmt: skip
    if s["algo"] == "sac":
        target = "auto" if s["target_entropy"] is None else s["target_entropy"]
        model = SAC("MultiInputPolicy", env, ent_coef=f"auto_{s['entropy_coef_init']}", target_entropy=target, **common)
    else:  # Fetch's actions lie in [-1, 1], so SB3's noise in action units is hrlkit's in normalised units
        n = env.action_space.shape[0]
        noise = NormalActionNoise(np.zeros(n), np.full(n, s["exploration_noise"]))
        model = TD3(
            "MultiInputPolicy", env, action_noise=noise, policy_delay=s["policy_delay"],
            target_policy_noise=s["target_noise"], target_noise_clip=s["target_noise_clip"], **common,
        )  # fmt: skip
    return model, env


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", help="an hrlkit run's config.yaml to match (SAC or TD3; default: the preset's SAC)")
    p.add_argument("--steps", type=int, default=None, help="env steps in all (default: the preset's)")
    p.add_argument("--eval-freq", type=int, default=None, help="default: the preset's")
    p.add_argument("--checkpoint-freq", type=int, default=None, help="default: the preset's")
    p.add_argument("--torch-threads", type=int, default=1)
    args = p.parse_args()

    import gymnasium as gym
    import gymnasium_robotics  # noqa: F401  (registers the Fetch envs)
    import torch

    import hrlkit

    torch.set_num_threads(args.torch_threads)
    s = hrlkit_settings(args.config)
    steps = args.steps or s["steps"]
    eval_freq = args.eval_freq or s["eval_freq"]
    checkpoint_freq = args.checkpoint_freq or s["checkpoint_freq"]
    if checkpoint_freq % eval_freq:
        raise SystemExit(f"--checkpoint-freq {checkpoint_freq} must be a multiple of the eval freq {eval_freq}")
    run_dir = Path(args.run_dir)
    progress = run_dir / "progress.csv"
    recover_checkpoint(run_dir)
    resume = (run_dir / "checkpoint" / "model.zip").is_file()
    if not resume and progress.exists():
        raise SystemExit(f"{run_dir} holds a progress.csv without a checkpoint: give another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    model, env = build(s, args.seed, run_dir, resume)
    done = model.num_timesteps
    if resume:  # drop evaluations logged after the checkpoint (the run stopped between the two)
        rows = [r for r in csv.DictReader(progress.open()) if int(float(r["time/env_steps"])) <= done]
        with progress.open("w", newline="") as f:
            w = csv.DictWriter(f, COLUMNS)
            w.writeheader()
            w.writerows(rows)
        print(f"continuing {run_dir} from {done} env steps")
    else:
        (run_dir / "settings.json").write_text(json.dumps({**s, "seed": args.seed, "library": "sb3"}, indent=1) + "\n")
        # what `hrlkit report` and `hrlkit plot` read to name the run (algorithm, env, seed)
        config = {"algo": f"sb3-{s['algo']}-her", "run": {"env": ENV_ID, "seed": args.seed}}
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
        with progress.open("w", newline="") as f:
            csv.DictWriter(f, COLUMNS).writeheader()
    eval_env = gym.make(ENV_ID)
    start, t0 = done, time.perf_counter()
    while done < steps:
        chunk = min(eval_freq, steps - done)
        t = time.perf_counter()
        model.learn(chunk, reset_num_timesteps=False)
        seconds = time.perf_counter() - t
        done = model.num_timesteps
        result = hrlkit.evaluate(Normalised(model, env), eval_env, s["eval_episodes"], seed=EVAL_SEED + args.seed)
        with progress.open("a", newline="") as f:
            csv.DictWriter(f, COLUMNS).writerow({
                "time/env_steps": done, "eval/mean_return": result["mean_return"],
                "eval/success_rate": result["success_rate"], "time/train_seconds": seconds,
                "time/fps": (done - start) / (time.perf_counter() - t0),
            })  # fmt: skip
        print(f"{done} env steps: success {result['success_rate']:.2f}, {chunk / seconds:.1f} env steps/s", flush=True)
        if done % checkpoint_freq == 0 or done >= steps:
            save_checkpoint(model, env, run_dir)
    eval_env.close()
    env.close()


def recover_checkpoint(run_dir: Path) -> None:
    """A run stopped between the two renames of `save_checkpoint` has no checkpoint/ but a whole checkpoint.old (or a
    whole checkpoint.tmp): put it back."""
    ckpt = run_dir / "checkpoint"
    if ckpt.exists():
        return
    for candidate in (run_dir / "checkpoint.tmp", run_dir / "checkpoint.old"):
        if all((candidate / n).is_file() for n in ("model.zip", "replay.pkl", "vecnormalize.pkl")):
            candidate.rename(ckpt)
            return


def save_checkpoint(model: Any, env: Any, run_dir: Path) -> None:
    """RUN_DIR/checkpoint, swapped in whole: written to checkpoint.tmp, then renamed over the old one."""
    tmp, ckpt, old = run_dir / "checkpoint.tmp", run_dir / "checkpoint", run_dir / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.save(str(tmp / "model.zip"))
    model.save_replay_buffer(str(tmp / "replay.pkl"))
    env.save(str(tmp / "vecnormalize.pkl"))
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    main()
