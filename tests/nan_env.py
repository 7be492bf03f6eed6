"""`NanEnv-v0`: registers on import; its observations turn NaN after 150 steps of one env instance.

For the CLI's non-finite check: `hrlkit train sac --env tests.nan_env:NanEnv-v0` must stop with one clear line, and
keep the checkpoints it made before (at 100 env steps with `--checkpoint-freq 100`).
"""

from __future__ import annotations

import gymnasium as gym

from tests.envs_for_tests import PointEnv

NAN_AFTER = 150

gym.register("NanEnv-v0", entry_point=PointEnv, max_episode_steps=50, kwargs={"nan_after": NAN_AFTER})
