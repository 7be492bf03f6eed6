"""Typed run configuration: dataclasses with per-field help, YAML presets, and `--group.field VALUE` overrides.

A run is `TrainConfig(algo=NAME, run=RunConfig(...), algo_config=<the algorithm's dataclass>, replay=ReplayConfig(...)
or None)`. Values resolve in this
order, later winning: dataclass defaults < the env's preset file (`hrlkit/presets/<env>.yaml`, section `<algo>`) <
`--preset FILE` < command-line overrides. The resolved config is saved with every run as `config.yaml`.

Overrides name a field by its dotted path. `run.`, `replay.` and `algo.` may be left out when the name is unambiguous:
`--total-env-steps 5000` is `run.total_env_steps`, `--learning-starts 500` is `replay.learning_starts`, `--actor-lr
1e-4` is `algo.actor_lr`, and for a two-level agent `--high.actor-lr 1e-4` is `algo.high.actor_lr`. Dashes and
underscores are interchangeable. `run.<replay field>` (where those fields lived before the replay group) still works.

Field help is the string literal written right under each field (the attribute-docstring convention tyro reads too);
`field_docs` extracts it with `ast`, so the help text lives in one place, next to the field.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import textwrap
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hrlkit.errors import HrlkitError, close_matches

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class RunConfig:
    """What every training loop needs: env, budget, evaluation, logging, checkpoints, device.

    Replay-only settings live in `ReplayConfig`; an on-policy algorithm's rollout settings (`n_steps`, ...) in its
    own algorithm config, as in Stable-Baselines3."""

    env: str = "Pendulum-v1"
    """Gymnasium env id"""
    seed: int = 0
    """seed of every random generator in the run (networks, replay sampling, exploration, env resets)"""
    total_env_steps: int = 20_000
    """environment steps to train for, summed over parallel envs"""
    n_envs: int = 1
    """parallel envs in a SyncVectorEnv"""
    eval_freq: int = 5_000
    """env steps between deterministic evaluations on a separate env (0: never)"""
    eval_episodes: int = 10
    """episodes per evaluation"""
    eval_success_distances: tuple[float, ...] = ()
    """goal envs: also report eval/success_within_<d>, the share of evaluation episodes ending within d of the desired
    goal, for each d (e.g. a paper's threshold beside the env's own); eval/final_distance is always reported"""
    log_interval: int = 1_000
    """env steps between log dumps (CSV, TensorBoard, console)"""
    checkpoint_freq: int = 10_000
    """env steps between checkpoints (0: only the final one)"""
    keep_checkpoints: int = 3
    """checkpoints kept on disk; older ones are deleted"""
    device: str = "cpu"
    """torch device: cpu, cuda, cuda:1, ..."""
    torch_threads: int = 0
    """torch intra-op threads (0: torch's default, one per core); use 1 when several runs share the cores"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """keyword arguments passed to gymnasium.make"""
    eval_env_kwargs: dict[str, Any] | None = None
    """keyword arguments of the evaluation env (None: env_kwargs); HIRO's maze protocol trains on random goals and
    evaluates on a fixed one"""
    wrappers: tuple[str, ...] = ()
    """wrappers applied to the training and evaluation envs, by name: neg_distance (reward = -||achieved - desired||)"""


@dataclass
class HERConfig:
    """Hindsight Experience Replay (Andrychowicz et al. 2017) for goal envs; `--her true` turns it on."""

    enabled: bool = False
    """relabel sampled transitions with goals achieved later in the same episode (SAC, SAC-discrete, TD3, DDPG, DQN on goal envs)"""
    strategy: str = "future"
    """which achieved goal replaces the desired one: future (same step or later), final (the episode's last), episode
    (any step of the episode)"""
    n_sampled_goal: int = 4
    """k: relabelled samples per real one; a sampled transition is relabelled with probability 1 - 1/(k+1)"""


@dataclass
class ReplayConfig:
    """The off-policy loop's collection schedule and its replay buffer (absent for on-policy algorithms)."""

    learning_starts: int = 1_000
    """env steps of uniformly random actions before the first update"""
    train_freq: int = 1
    """update every this many vector-env steps"""
    gradient_steps: int = 1
    """gradient steps per update; with n_envs > 1 use n_envs to keep one update per env step"""
    buffer_size: int = 1_000_000
    """replay capacity in transitions"""
    prioritized_replay: bool = False
    """proportional prioritized replay (Schaul et al. 2016) for flat off-policy learners and HIRO's high level"""
    priority_exponent: float = 0.6
    """PER alpha: how strongly priorities shape sampling (0: uniform)"""
    is_weight_exponent: float = 0.4
    """PER beta at the start, annealed linearly to 1 over is_weight_anneal_env_steps"""
    is_weight_anneal_env_steps: int = 0
    """PER: env steps over which beta reaches 1 (0: total_env_steps, the paper's choice; set it explicitly when a run
    will be extended, since the schedule follows the budget)"""
    priority_epsilon: float = 1e-6
    """PER: added to |TD error| so that no transition has probability zero"""
    save_replay_buffer: bool = True
    """store the replay buffer with each checkpoint (needed for an exact resume)"""
    normalize_obs: bool = False
    """normalise observations by running mean and std (sac, td3, ddpg, dqn, sac-discrete): the buffer keeps raw ones;
    a goal env's desired and achieved goals share one set of statistics"""
    obs_clip: float = 5.0
    """clip normalised observations to [-obs_clip, obs_clip] (the HER paper's 5)"""
    her: HERConfig = field(default_factory=HERConfig)


REPLAY_FIELDS = frozenset(f.name for f in dataclasses.fields(ReplayConfig))


@dataclass
class TrainConfig:
    """Everything a run needs: the algorithm's name, the loop settings, the replay settings of an off-policy
    algorithm (None for on-policy ones) and the algorithm's own config.

    The groups are addressed as `run.`, `replay.` and `algo.` in overrides and presets.
    """

    algo: str
    run: RunConfig
    algo_config: Any
    replay: ReplayConfig | None = None

    def groups(self) -> dict[str, Any]:
        """Group name -> its dataclass, in the order help and saved configs list them."""
        out: dict[str, Any] = {"run": self.run}
        if self.replay is not None:
            out["replay"] = self.replay
        out["algo"] = self.algo_config
        return out


# ----------------------------------------------------------------------------------------------------- field help
@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the string literal under it in the class body (inherited fields included)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for stmt, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def describe(cfg: Any, prefix: str = "") -> list[tuple[str, str, str]]:
    """(flag, default, help) for every leaf field of a config, nested dataclasses flattened with dots. A choice
    field (a union of learner configs, e.g. HIRO's `high`) shows its `.algo` and the chosen config's fields."""
    rows = []
    docs = field_docs(type(cfg))
    hints = _resolved_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        name = f"{prefix}{f.name}"
        options = choice_options(hints[f.name])
        if options:
            names = " or ".join(o.algo for o in options)
            rows.append((f"--{name}.algo".replace("_", "-"), repr(value.algo), f"{docs.get(f.name, '')}: {names}"))
        if dataclasses.is_dataclass(value):
            rows += describe(value, name + ".")
        else:
            rows.append(("--" + name.replace("_", "-"), repr(value), docs.get(f.name, "")))
    return rows


def choice_options(hint: Any) -> tuple[type, ...] | None:
    """The configs of a *choice* field, a union of dataclasses that each name their learner in a class attribute
    `algo` (`high: TD3Config | SACConfig`): `--high.algo sac` picks one. None for any other field."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) > 1 and all(dataclasses.is_dataclass(a) and isinstance(getattr(a, "algo", None), str) for a in args):
        return tuple(args)
    return None


def switch_choice(current: Any, options: tuple[type, ...], name: Any, flag: str) -> Any:
    """The config of the learner `name` among `options`, keeping the values of the fields it shares with `current`
    (a level's settings stay when its learner changes); the others start at that config's defaults."""
    by_name = {o.algo: o for o in options}
    cls = by_name.get(str(name).lower())
    if cls is None:
        raise HrlkitError(f"{flag} = {name!r}: use {' or '.join(by_name)}")
    if type(current) is cls:
        return current
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{f.name: getattr(current, f.name) for f in dataclasses.fields(current) if f.name in names})


ALGORITHM_NAMES = (
    "sac", "td3", "ddpg", "dqn", "sac-discrete", "qlearning", "ppo", "trpo", "npg", "vpg", "hdqn", "hiro",
    "option-critic", "ppoc", "dac",
)  # fmt: skip
"""the algorithms `hrlkit train` knows, in the order help lists them (equal to `hrlkit.algorithms.ALGORITHMS`'s
keys, tested); here so that help and usage errors need not import torch"""


# ------------------------------------------------------------------------------------------------ value ranges
POSITIVE_INTS = {
    "batch_size", "n_critics", "policy_delay", "n_steps", "n_epochs", "buffer_size", "train_freq", "n_envs",
    "eval_episodes", "high_level_interval", "n_options", "meta_buffer_size",
}  # fmt: skip
"""integer fields that must be >= 1 wherever they appear"""
UNIT_INTERVAL = {
    "gamma", "gae_lambda", "exploration_initial", "exploration_final", "meta_exploration_initial",
    "meta_exploration_final", "controller_exploration_initial", "controller_exploration_final",
    "option_epsilon_start", "option_epsilon_end", "controller_success_threshold", "random_action_prob",
}  # fmt: skip
"""fields in [0, 1]: discounts, lambdas, and the probabilities of epsilon-greedy exploration"""


def check_values(tc: TrainConfig) -> None:
    """The ranges every config field must keep, in one place, before anything is built or written: a float is
    finite; learning rates and the initial entropy coefficient are > 0; gamma and lambda lie in [0, 1], tau in (0, 1];
    counts in `POSITIVE_INTS` are >= 1 and `gradient_steps` >= 0; hidden layers have >= 1 unit; the seed fits numpy's
    seeds (0 <= seed < 2^32). Each violation is one line naming the flag and the range."""
    for group, cfg in tc.groups().items():
        _check_fields(cfg, f"{group}.")
    algo_check = getattr(tc.algo_config, "check", None)  # an algorithm's own rules (Option-Critic, PPOC, DAC)
    if callable(algo_check):
        algo_check()
    batch = getattr(tc.algo_config, "batch_size", None)
    if tc.replay is not None and isinstance(batch, int) and batch > tc.replay.buffer_size * tc.run.n_envs:
        raise HrlkitError(
            f"--algo.batch-size = {batch}: it must be <= buffer_size x n_envs "
            f"({tc.replay.buffer_size * tc.run.n_envs}), the transitions the replay can hold"
        )


def _check_fields(cfg: Any, prefix: str) -> None:
    import math

    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        flag = "--" + (prefix + f.name).replace("_", "-")
        if dataclasses.is_dataclass(value):
            _check_fields(value, f"{prefix}{f.name}.")
            continue
        if isinstance(value, bool) or value is None:
            continue

        def refuse(rule: str, flag: str = flag, value: Any = value) -> None:
            raise HrlkitError(f"{flag} = {value!r}: it must be {rule}")

        name = f.name
        if isinstance(value, float) and not math.isfinite(value):
            refuse("a finite number")
        if isinstance(value, tuple | list) and any(isinstance(v, float) and not math.isfinite(v) for v in value):
            refuse("finite numbers")
        if name.endswith(("_distance", "obs_clip", "reward_clip")) and isinstance(value, int | float) and not value > 0:
            refuse("> 0")
        if name.endswith("_indices") and isinstance(value, tuple | list):
            if len(set(value)) != len(value) or any(not isinstance(i, int) or i < 0 for i in value):
                refuse("distinct indices >= 0")
        if isinstance(value, int | float):
            if (name == "lr" or name.endswith("_lr") or name == "learning_rate") and not value > 0:
                refuse("> 0")
            if name == "entropy_coef_init" and not value > 0:
                refuse("> 0 (the entropy coefficient is learned in log space)")
            if name in UNIT_INTERVAL and not 0 <= value <= 1:
                refuse("in [0, 1]")
            if name == "tau" and not 0 < value <= 1:
                refuse("in (0, 1]")
            if name in POSITIVE_INTS and not value >= 1:
                refuse("an integer >= 1")
            if name == "action_l2" and not value >= 0:
                refuse(">= 0")
            if name == "gradient_steps" and not value >= 0:
                refuse("an integer >= 0")
            if name == "target_update_interval" and not value >= (1 if getattr(cfg, "algo", None) == "sac" else 0):
                refuse(">= 1 for SAC (and >= 0 for DQN, where 0 means no target network)")
            if name == "seed" and not 0 <= value < 2**32:
                refuse("in 0 .. 2^32 - 1")
        if name == "hidden":
            sizes = value if isinstance(value, tuple | list) else (value,)
            if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in sizes):
                refuse("layer sizes >= 1, e.g. 256,256")


# ------------------------------------------------------------------------------------------------ value coercion
def _resolved_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce(value: Any, hint: Any, name: str) -> Any:
    """Convert a string (command line) or YAML value to the field's annotated type, or raise a one-line error."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, name)
            except HrlkitError as e:
                errors.append(str(e))
        raise HrlkitError(errors[0] if errors else f"{name}: cannot parse {value!r}")
    if hint is Any:
        return _yaml_scalar(value)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = _yaml_scalar(value if value.strip().startswith("[") else f"[{value}]")
        if not isinstance(value, (list, tuple)):
            value = [value]
        inner = args[0] if args else Any
        items = [coerce(v, inner, name) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if isinstance(value, str):
            value = _yaml_scalar(value)
        if not isinstance(value, dict):
            raise HrlkitError(f"{name} expects a mapping such as '{{key: value}}', got {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise HrlkitError(f"{name} expects true or false, got {value!r}")
    if hint is int:
        try:
            f = float(value) if isinstance(value, str) else value
            if isinstance(f, bool) or float(f) != int(float(f)):
                raise ValueError
            return int(float(f))
        except (TypeError, ValueError, OverflowError):
            raise HrlkitError(f"{name} expects an integer, got {value!r}") from None
    if hint is float:
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise HrlkitError(f"{name} expects a number, got {value!r}") from None
    if hint is str:
        return str(value)
    return value


def _yaml_scalar(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


# ------------------------------------------------------------------------------------------------- overrides
def _leaf_paths(cfg: Any, prefix: str = "") -> list[str]:
    out = []
    hints = _resolved_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        options = choice_options(hints[f.name])
        if options:  # `.algo`, then the fields of every learner it can name (a preset may set them in any order)
            paths = [f"{prefix}{f.name}.algo"]
            for option in (type(value), *options):
                paths += [p for p in _leaf_paths(option(), f"{prefix}{f.name}.") if p not in paths]
            out += paths
        elif dataclasses.is_dataclass(value):
            out += _leaf_paths(value, f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


def known_keys(tc: TrainConfig) -> list[str]:
    return [f"{name}.{p}" for name, group in tc.groups().items() for p in _leaf_paths(group)]


def resolve_key(tc: TrainConfig, key: str) -> str:
    """Full dotted path for a user-given key, or a one-line error with the closest known keys."""
    key = key.lstrip("-").replace("-", "_")
    known = known_keys(tc)
    group, _, rest = key.partition(".")
    if group == "run" and rest in REPLAY_FIELDS:
        key = f"replay.{rest}"  # before the replay group existed these lived in run: old presets and configs say so
    if key in known:
        return key
    candidates = [k for k in (f"{g}.{key}" for g in tc.groups()) if k in known]
    if len(candidates) == 1:
        return candidates[0]
    # Python keyword arguments cannot hold dots: `her_strategy=...` names `replay.her.strategy`, `high_actor_lr=...`
    # `algo.high.actor_lr` (a unique known key whose dotted path, dots read as underscores, ends with the name).
    if "." not in key:
        spelled = [k for k in known if k.count(".") > 1 and ("_" + k.replace(".", "_")).endswith("_" + key)]
        if len(spelled) == 1:
            return spelled[0]
    # A group with an on/off switch is named by itself: `--her true` is `replay.her.enabled`.
    switch = [k for k in (f"{g}.{key}.enabled" for g in ("", *tc.groups())) if k.lstrip(".") in known]
    if len(switch) == 1:
        return switch[0].lstrip(".")
    flag = "--" + key.replace("_", "-")
    if key.split(".")[-1] in REPLAY_FIELDS and tc.replay is None:
        raise HrlkitError(f"{flag} is a replay setting and {tc.algo} has no replay buffer: drop it")
    short = sorted({k.split(".", 1)[1] for k in known})
    hint = close_matches(key, short + known)
    raise HrlkitError(f"unknown config key {flag}{hint}; `hrlkit train {tc.algo} --help` lists every key")


def set_value(tc: TrainConfig, key: str, value: Any, lenient: bool = False) -> None:
    """Set one field by its (possibly abbreviated) dotted path, converting the value to the field's type.

    `<choice>.algo` switches a choice field's learner (`switch_choice`). A field of another learner of a choice is
    refused with one line, or skipped with `lenient` (saved configs of levels that listed every learner's fields)."""
    path = resolve_key(tc, key)
    flag = "--" + path.replace("_", "-")
    group, *parts = path.split(".")
    parent, obj = None, tc.groups()[group]
    for p in parts[:-1]:
        parent, obj = obj, getattr(obj, p)
    name = parts[-1]
    options = choice_options(_resolved_hints(type(parent))[parts[-2]]) if parent is not None else None
    if options and name == "algo":
        setattr(parent, parts[-2], switch_choice(obj, options, value, flag))
        return
    hints = _resolved_hints(type(obj))
    if name not in hints:  # a field of another learner of this choice
        if lenient:
            return
        owners = [o.algo for o in options or () if name in _resolved_hints(o)]
        raise HrlkitError(
            f"{flag} is a setting of {' and '.join(owners)}, and this level learns with {obj.algo}: set "
            f"--{'.'.join(parts[:-1]).replace('_', '-')}.algo {owners[0] if owners else '...'} before it"
        )
    setattr(obj, name, coerce(value, hints[name], flag))


def apply_mapping(tc: TrainConfig, mapping: dict[str, Any], source: str, lenient: bool = False) -> None:
    """Apply a preset's `{run: {...}, algo: {...}}` (nested or dotted keys) to a config. A level's `algo` is applied
    before its other keys, wherever it stands."""
    if not isinstance(mapping, dict):
        raise HrlkitError(f"{source}: expected a mapping of config keys, got {type(mapping).__name__}")

    def walk(prefix: str, m: dict[str, Any]) -> None:
        for k, v in sorted(m.items(), key=lambda kv: not str(kv[0]).endswith("algo")):
            path = f"{prefix}{k}"
            if isinstance(v, dict) and not _is_dict_field(tc, path):
                walk(path + ".", v)
            else:
                try:
                    set_value(tc, path, v, lenient)
                except HrlkitError as e:
                    raise HrlkitError(f"{source}: {e}") from None

    walk("", mapping)


def _is_dict_field(tc: TrainConfig, path: str) -> bool:
    try:
        full = resolve_key(tc, path)
    except HrlkitError:
        return False
    group, *parts = full.split(".")
    obj = tc.groups()[group]
    for p in parts[:-1]:
        obj = getattr(obj, p)
    hint = _resolved_hints(type(obj)).get(parts[-1])
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return any(o is dict or typing.get_origin(o) is dict for o in options)


def parse_overrides(tc: TrainConfig, argv: list[str]) -> None:
    """Apply `--key value` / `--key=value` pairs from the command line; a level's `.algo` before the others."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            after = f" (after {argv[i - 2]} {argv[i - 1]})" if i >= 2 and argv[i - 2].startswith("--") else ""
            raise HrlkitError(
                f"unexpected argument {arg!r}{after}: overrides take the form --group.field VALUE, and a list is one "
                "value: --goal-indices 0,1"
            )
        if "=" in arg:
            key, value = arg.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(argv):
                raise HrlkitError(f"{arg} needs a value: {arg} VALUE")
            key, value = arg, argv[i + 1]
            i += 2
        pairs.append((key, value))
    for key, value in sorted(pairs, key=lambda kv: not kv[0].rstrip().endswith(".algo")):
        set_value(tc, key, value)


# ------------------------------------------------------------------------------------------------------ presets
def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise HrlkitError(f"preset file {path} does not exist: give a path or a name from {PRESET_DIR}") from None
    except yaml.YAMLError as e:
        raise HrlkitError(f"preset file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HrlkitError(f"cannot read preset file {path}: {getattr(e, 'strerror', None) or e}") from None
    if data is not None and not isinstance(data, dict):
        raise HrlkitError(
            f"preset file {path} holds a {type(data).__name__}, not a mapping: a preset maps an algorithm to its "
            "settings (sac: {run: {...}, algo: {...}}) or holds run/replay/algo keys"
        )
    return data or {}


def preset_path(name: str) -> Path:
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    candidate = PRESET_DIR / f"{name}.yaml"
    if not candidate.exists():
        names = [q.stem for q in PRESET_DIR.glob("*.yaml")]
        raise HrlkitError(f"unknown preset {name!r}{close_matches(name, names)}; presets: {', '.join(sorted(names))}")
    return candidate


def apply_presets(tc: TrainConfig, file: str | Path | None = None, env_preset: bool = True) -> list[str]:
    """The env's bundled preset (`hrlkit/presets/<env>.yaml`, when `env_preset` and one exists), then `file` (a path
    or a bundled preset's name), applied to `tc` in that order. Returns a line per preset applied, for the user."""
    applied = []
    bundled = PRESET_DIR / f"{tc.run.env}.yaml"
    if env_preset and tc.run.env and bundled.exists() and (what := apply_preset(tc, load_yaml(bundled), str(bundled))):
        applied.append(f"{bundled.relative_to(PRESET_DIR.parent.parent)} ({what})")
    if file:
        path = preset_path(str(file))
        what = apply_preset(tc, load_yaml(path), str(path))
        if what is None:
            raise HrlkitError(
                f"preset {path} has no section for {tc.algo} and no run/replay/algo keys: nothing in it applies; "
                f"its sections: {', '.join(map(str, load_yaml(path))) or 'none'}"
            )
        applied.append(f"{path} ({what})")
    return applied


def apply_preset(tc: TrainConfig, data: dict[str, Any], source: str) -> str | None:
    """A preset file holds sections per algorithm (`sac: {run: ..., algo: ...}`) or one flat `{run:, algo:}`.
    A run's own `config.yaml` (`algo: sac`, `run`, `replay`, `algo_config`) is taken as the flat form of its algorithm.
    Returns what was applied ("section sac", "flat keys", "a saved config") or None when the file has nothing for this
    algorithm."""
    if isinstance(data.get("algo"), str) and "algo_config" in data:
        if data["algo"] != tc.algo:
            raise HrlkitError(
                f"{source} is the config of a {data['algo']} run: pass it to `hrlkit train {data['algo']} --preset`"
            )
        saved = {"run": data.get("run") or {}, "algo": data.get("algo_config") or {}}
        if tc.replay is not None and data.get("replay"):
            saved["replay"] = data["replay"]
        apply_mapping(tc, saved, source)
        return "a saved config"
    if tc.algo in data:
        data, what = data[tc.algo] or {}, f"section {tc.algo}"
    elif not ({"run", "replay", "algo"} & set(data)):
        return None  # an env preset without a section for this algorithm
    else:
        what = "flat keys"
    apply_mapping(tc, data, source)
    return what


def to_dict(tc: TrainConfig) -> dict[str, Any]:
    def plain(x: Any) -> Any:
        if isinstance(x, tuple):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, list):
            return [plain(v) for v in x]
        return x

    out: dict[str, Any] = {"algo": tc.algo, "run": plain(as_dict(tc.run))}
    if tc.replay is not None:
        out["replay"] = plain(as_dict(tc.replay))
    out["algo_config"] = plain(as_dict(tc.algo_config))
    return out


def as_dict(cfg: Any) -> dict[str, Any]:
    """`dataclasses.asdict`, with a choice field's learner name first (`high: {algo: sac, ...}`)."""
    out: dict[str, Any] = {}
    hints = _resolved_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            inner = as_dict(value)
            out[f.name] = {"algo": value.algo, **inner} if choice_options(hints[f.name]) else inner
        else:
            out[f.name] = value
    return out


def save_yaml(tc: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(tc), sort_keys=False))
