"""Environment construction: ids, vector envs with explicit auto-reset, seeding, input checks."""

from hrlkit.envs.make import check_env_id, make_env, make_vec_env
from hrlkit.envs.spaces import ActionScaler

__all__ = ["ActionScaler", "check_env_id", "make_env", "make_vec_env"]
