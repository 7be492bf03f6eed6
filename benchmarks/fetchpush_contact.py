"""How often an hrlkit FetchPush run's collected episodes touch the block, from a checkpoint's replay (docs/her.md).

HER learns FetchPush only from episodes in which the block moves: in every other episode all achieved goals are the
block's start, so each relabelled goal is met whatever the gripper does. This prints, per slice of the stored episodes
(oldest first), the share whose block ended more than 1 cm and 5 cm from its start, and the share whose gripper came
within 5 cm of the block. A policy that learns to push raises them; one that learns to keep away lowers them.

    python benchmarks/fetchpush_contact.py runs/fetchpush/td3_s0/checkpoints/300000 --slices 6

Reads `replay.npz` (numpy arrays, no pickles) of a run with one env and a replay not yet full; the observation layout
is gymnasium-robotics' Fetch one (the gripper's position first).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

EPISODE = 50  # FetchPush-v4's time limit


def contact_table(replay: Path, slices: int) -> list[dict[str, float]]:
    with np.load(replay, allow_pickle=False) as z:
        if z["obs.observation"].shape[1] != 1 or bool(z["full"]):
            raise SystemExit(f"{replay}: expected one env and a replay that has not wrapped around")
        n = int(z["pos"]) // EPISODE * EPISODE  # whole episodes only
        if not (z["ep_start"][:n, 0].reshape(-1, EPISODE) == np.arange(0, n, EPISODE)[:, None]).all():
            raise SystemExit(f"{replay}: the stored episodes are not back-to-back {EPISODE}-step ones")
        start = z["obs.achieved_goal"][:n, 0].reshape(-1, EPISODE, 3)  # block position before each step
        end = z["next_obs.achieved_goal"][:n, 0].reshape(-1, EPISODE, 3)
        gripper = z["obs.observation"][:n, 0, :3].reshape(-1, EPISODE, 3)
    moved = np.linalg.norm(end[:, -1] - start[:, 0], axis=-1)  # (episodes,)
    closest = np.linalg.norm(gripper - start, axis=-1).min(1)  # (episodes,)
    rows = []
    for part in np.array_split(np.arange(len(moved)), slices):
        rows.append({
            "first": int(part[0]), "last": int(part[-1]), "moved_1cm": float(np.mean(moved[part] > 0.01)),
            "moved_5cm": float(np.mean(moved[part] > 0.05)), "gripper_5cm": float(np.mean(closest[part] < 0.05)),
        })  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="a checkpoint dir of an hrlkit FetchPush run (holds replay.npz)")
    p.add_argument("--slices", type=int, default=6)
    args = p.parse_args()
    replay = Path(args.checkpoint) / "replay.npz"
    if not replay.is_file():
        raise SystemExit(f"{replay} not found: give a checkpoint dir of a run saved with its replay buffer")
    print("| episodes | block moved > 1 cm | block moved > 5 cm | gripper within 5 cm of the block |")
    print("|---|---|---|---|")
    for r in contact_table(replay, args.slices):
        print(f"| {r['first']}-{r['last']} | {r['moved_1cm']:.3f} | {r['moved_5cm']:.3f} | {r['gripper_5cm']:.3f} |")


if __name__ == "__main__":
    main()
