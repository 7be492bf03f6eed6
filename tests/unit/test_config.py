"""Config: abbreviated keys, type coercion, one-line errors with close matches, presets, field help, round trips."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from hrlkit.algorithms import config_from_dict, default_config
from hrlkit.config import (
    HERConfig,
    ReplayConfig,
    RunConfig,
    TrainConfig,
    apply_preset,
    describe,
    field_docs,
    load_yaml,
    parse_overrides,
    preset_path,
    resolve_key,
    set_value,
    to_dict,
)
from hrlkit.errors import HrlkitError
from hrlkit.learners import DDPGConfig, SACConfig, TD3Config


@pytest.fixture
def sac() -> TrainConfig:
    return TrainConfig("sac", RunConfig(), SACConfig(), ReplayConfig())


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------------------------- keys
@pytest.mark.parametrize("key", ["total-env-steps", "--total-env-steps", "total_env_steps", "run.total-env-steps"])
def test_abbreviated_run_key(sac, key):
    set_value(sac, key, "5000")
    assert sac.run.total_env_steps == 5000


@pytest.mark.parametrize("key", ["actor-lr", "--actor_lr", "algo.actor-lr", "--algo.actor-lr"])
def test_abbreviated_algo_key(sac, key):
    set_value(sac, key, "1e-4")
    assert sac.algo_config.actor_lr == 1e-4
    assert sac.run == RunConfig()  # nothing else moved


def test_parse_overrides_both_forms(sac):
    parse_overrides(sac, ["--seed", "3", "--critic-lr=2e-3", "--hidden", "32,32"])
    assert sac.run.seed == 3 and sac.algo_config.critic_lr == 2e-3 and sac.algo_config.hidden == (32, 32)
    with pytest.raises(HrlkitError, match="needs a value"):
        parse_overrides(sac, ["--seed"])
    with pytest.raises(HrlkitError, match="unexpected argument 'seed'"):
        parse_overrides(sac, ["seed", "3"])
    with pytest.raises(HrlkitError, match=r"unexpected argument '64' \(after --hidden 32\).* --goal-indices 0,1"):
        parse_overrides(sac, ["--hidden", "32", "64"])  # a list written with spaces


def test_mistyped_key_suggests_close_matches(sac):
    with pytest.raises(HrlkitError) as excinfo:
        set_value(sac, "--actor-l", "1e-3")
    message = one_line_error(excinfo)
    assert message.startswith("unknown config key --actor-l (did you mean: ")
    assert "actor_lr" in message
    assert "hrlkit train sac --help" in message
    with pytest.raises(HrlkitError, match="total_env_steps"):
        set_value(sac, "total-env-step", "10")


# --------------------------------------------------------------------------------------------------- coercion
@pytest.mark.parametrize(("text", "expected"), [("5e3", 5000), ("5000", 5000), ("2.0", 2), (7, 7), (7.0, 7)])
def test_int_coercion(sac, text, expected):
    set_value(sac, "total-env-steps", text)
    assert sac.run.total_env_steps == expected and type(sac.run.total_env_steps) is int


@pytest.mark.parametrize("text", ["5.5", "abc", "", True])
def test_int_coercion_refuses_non_integers(sac, text):
    with pytest.raises(HrlkitError) as excinfo:
        set_value(sac, "total-env-steps", text)
    assert one_line_error(excinfo).startswith("--run.total-env-steps expects an integer")
    assert sac.run.total_env_steps == RunConfig().total_env_steps


@pytest.mark.parametrize(
    ("text", "expected"),
    [("64,64", (64, 64)), ("[64, 64]", (64, 64)), ("32", (32,)), ([8, 16], (8, 16)), ("1e2,4", (100, 4))],
)
def test_tuple_coercion(sac, text, expected):
    set_value(sac, "hidden", text)
    assert sac.algo_config.hidden == expected and type(sac.algo_config.hidden) is tuple
    assert all(type(h) is int for h in sac.algo_config.hidden)


def test_tuple_of_wrong_items_is_refused(sac):
    with pytest.raises(HrlkitError, match="--algo.hidden expects an integer"):
        set_value(sac, "hidden", "64,big")


@pytest.mark.parametrize(
    ("text", "expected"), [("false", False), ("no", False), ("0", False), ("True", True), ("on", True), (True, True)]
)
def test_bool_coercion(sac, text, expected):
    set_value(sac, "learn-entropy-coef", text)
    assert sac.algo_config.learn_entropy_coef is expected


def test_bool_refuses_other_words(sac):
    with pytest.raises(HrlkitError) as excinfo:
        set_value(sac, "save-replay-buffer", "maybe")
    assert one_line_error(excinfo) == "--replay.save-replay-buffer expects true or false, got 'maybe'"


@pytest.mark.parametrize(
    ("text", "expected"), [("none", None), ("None", None), ("null", None), (None, None), ("-2", -2.0), ("-0.5", -0.5)]
)
def test_optional_coercion(sac, text, expected):
    sac.algo_config.target_entropy = 1.0
    set_value(sac, "target-entropy", text)
    assert sac.algo_config.target_entropy == expected
    if expected is not None:
        assert type(sac.algo_config.target_entropy) is float


def test_wrong_type_for_float_and_optional_float(sac):
    with pytest.raises(HrlkitError) as excinfo:
        set_value(sac, "actor-lr", "fast")
    assert one_line_error(excinfo) == "--algo.actor-lr expects a number, got 'fast'"
    with pytest.raises(HrlkitError, match="--algo.target-entropy expects a number"):
        set_value(sac, "target-entropy", "high")


def test_dict_field(sac):
    set_value(sac, "env-kwargs", "{g: 9.81}")
    assert sac.run.env_kwargs == {"g": 9.81}
    with pytest.raises(HrlkitError, match="expects a mapping"):
        set_value(sac, "env-kwargs", "9.81")


# ---------------------------------------------------------------------------------------------------- presets
def test_packaged_preset_sets_its_algorithm_section():
    data = load_yaml(preset_path("Pendulum-v1"))
    sac = default_config("sac")
    apply_preset(sac, data, "Pendulum-v1.yaml")
    assert (sac.run.total_env_steps, sac.run.eval_freq, sac.replay.learning_starts) == (20000, 2000, 1000)
    assert sac.algo_config.actor_lr == sac.algo_config.critic_lr == sac.algo_config.entropy_lr == 0.001
    td3 = default_config("td3")
    apply_preset(td3, data, "Pendulum-v1.yaml")
    assert td3.algo_config.exploration_noise == 0.1 and td3.run.eval_freq == 2000


def test_preset_forms(sac, tmp_path):
    # a flat {run:, algo:} preset, with dotted and nested keys
    apply_preset(sac, {"run": {"seed": 4}, "algo": {"hidden": [32]}, "algo.gamma": 0.9}, "flat")
    assert (sac.run.seed, sac.algo_config.hidden, sac.algo_config.gamma) == (4, (32,), 0.9)
    # a preset with sections for other algorithms only leaves this one alone
    before = dataclasses.replace(sac.algo_config)
    apply_preset(sac, {"td3": {"algo": {"actor_lr": 0.5}}}, "other")
    assert sac.algo_config == before
    # a bad key names the file it came from
    with pytest.raises(HrlkitError, match=r"^bad.yaml: unknown config key --algo\.actor-l "):
        apply_preset(sac, {"sac": {"algo": {"actor_l": 0.1}}}, "bad.yaml")
    path = tmp_path / "mine.yaml"
    path.write_text("sac:\n  run: {seed: 11}\n")
    apply_preset(sac, load_yaml(preset_path(str(path))), str(path))
    assert sac.run.seed == 11


def test_preset_errors(tmp_path):
    with pytest.raises(HrlkitError, match="unknown preset 'Pendulum-v2' \\(did you mean: Pendulum-v1\\?\\)"):
        preset_path("Pendulum-v2")
    with pytest.raises(HrlkitError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("sac: [unclosed\n")
    with pytest.raises(HrlkitError, match="not valid YAML"):
        load_yaml(tmp_path / "broken.yaml")


# ------------------------------------------------------------------------------------------------- field help
def test_field_docs_of_sac_config():
    docs = field_docs(SACConfig)
    assert docs["actor_lr"] == "actor learning rate (Adam)"
    assert docs["gamma"] == "discount factor"
    assert docs["target_entropy"] == "entropy target; None means -dim(actions)"
    assert set(docs) == {f.name for f in dataclasses.fields(SACConfig)}  # every field documented


def test_field_docs_follow_inheritance():
    docs = field_docs(DDPGConfig)
    assert docs["n_critics"] == "critics in the ensemble (DDPG: one)"  # the subclass's help wins
    assert docs["actor_lr"] == field_docs(TD3Config)["actor_lr"] == "actor learning rate (Adam)"


def test_help_rows_name_flags_that_set_value_accepts(sac):
    # `hrlkit train ALGO --help` prints describe(group, "<name>.") for each group: run, replay, algo
    rows = [row for name, group in sac.groups().items() for row in describe(group, name + ".")]
    by_flag = {flag: (default, help_) for flag, default, help_ in rows}
    assert by_flag["--run.total-env-steps"] == ("20000", "environment steps to train for, summed over parallel envs")
    assert by_flag["--algo.hidden"] == ("(256, 256)", "hidden layer sizes of the actor and of each critic")
    assert by_flag["--replay.learning-starts"] == (
        "1000",
        "env steps of uniformly random actions before the first update",
    )
    assert by_flag["--replay.her.n-sampled-goal"][0] == "4"  # nested groups are flattened with dots
    n_fields = sum(len(dataclasses.fields(c)) for c in (RunConfig, ReplayConfig, HERConfig, SACConfig)) - 1
    assert len(rows) == n_fields  # (replay.her itself is a group, not a row)
    for flag, _, help_ in rows:
        assert help_, f"{flag} has no help"
        assert resolve_key(sac, flag) == flag[2:].replace("-", "_")


# ------------------------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("algo", ["sac", "td3", "ddpg"])
def test_config_from_dict_inverts_to_dict(algo):
    tc = default_config(algo)
    set_value(tc, "hidden", "64,32")
    set_value(tc, "total-env-steps", "5e3")
    set_value(tc, "env-kwargs", "{g: 9.81, render_mode: null}")
    set_value(tc, "gamma", "0.95")
    if algo == "sac":
        set_value(tc, "target-entropy", "-3")
    back = config_from_dict(to_dict(tc))
    assert back == tc
    assert type(back.algo_config) is type(tc.algo_config)
    # and through YAML, as config.yaml and meta.json store it
    assert config_from_dict(yaml.safe_load(yaml.safe_dump(to_dict(tc)))) == tc


def test_ddpg_defaults_survive_a_round_trip():
    back = config_from_dict(to_dict(default_config("ddpg")))
    assert isinstance(back.algo_config, DDPGConfig)
    assert (back.algo_config.n_critics, back.algo_config.policy_delay, back.algo_config.target_noise) == (1, 1, 0.0)


def test_config_from_dict_refuses_unknown_algorithm():
    with pytest.raises(HrlkitError, match="unknown algorithm 'sak' \\(did you mean: sac"):
        config_from_dict({"algo": "sak", "run": {}, "algo_config": {}})


# ------------------------------------------------------------------------------------------- the replay group
def test_replay_fields_keep_their_short_flags_and_old_run_paths(sac):
    """The replay settings moved from `run` to `replay`: `--learning-starts` and `run.learning_starts` (old presets,
    old saved configs) still reach them."""
    set_value(sac, "--learning-starts", "500")
    set_value(sac, "run.buffer-size", "1e4")
    assert sac.replay.learning_starts == 500 and sac.replay.buffer_size == 10_000
    assert not hasattr(sac.run, "learning_starts")


def test_replay_flag_on_an_algorithm_without_replay_names_the_problem():
    tc = default_config("qlearning")
    assert tc.replay is None
    with pytest.raises(HrlkitError) as excinfo:
        set_value(tc, "--learning-starts", "10")
    assert (
        one_line_error(excinfo) == "--learning-starts is a replay setting and qlearning has no replay buffer: drop it"
    )


def test_config_saved_before_the_replay_group_loads():
    """A config.yaml of an earlier version (replay fields under run) loads: they move to replay, or are dropped for
    an algorithm without one."""
    old = to_dict(default_config("sac"))
    old["run"].update(old.pop("replay"), learning_starts=123)
    tc = config_from_dict(old)
    assert tc.replay.learning_starts == 123
    old_q = to_dict(default_config("qlearning"))
    old_q["run"].update(learning_starts=0, buffer_size=1, train_freq=1)
    assert config_from_dict(old_q).replay is None


def test_her_switch_and_its_fields() -> None:
    """`--her true` is `replay.her.enabled`; `--her.strategy` and `--her.n-sampled-goal` name the group's fields."""
    tc = default_config("dqn")
    parse_overrides(tc, ["--her", "true", "--her.strategy", "final", "--her.n-sampled-goal", "8"])
    assert (tc.replay.her.enabled, tc.replay.her.strategy, tc.replay.her.n_sampled_goal) == (True, "final", 8)
    assert config_from_dict(to_dict(tc)).replay.her == tc.replay.her


def test_nested_fields_by_python_keyword() -> None:
    """Keyword arguments cannot hold dots: `her_strategy` is `replay.her.strategy`, `high_actor_lr` is
    `algo.high.actor_lr` (the Python API's `SAC(..., her=True, her_strategy="final")`)."""
    tc = default_config("sac")
    set_value(tc, "her_strategy", "final")
    set_value(tc, "her_n_sampled_goal", "2")
    assert (tc.replay.her.strategy, tc.replay.her.n_sampled_goal) == ("final", 2)
    hiro = default_config("hiro")
    set_value(hiro, "high_actor_lr", "5e-4")
    assert hiro.algo_config.high.actor_lr == 5e-4 and hiro.algo_config.low.actor_lr != 5e-4


# ------------------------------------------------------------------------------------ choice fields (HIRO's levels)
def test_a_hiro_level_is_a_learner_config_switched_by_algo() -> None:
    """`high: TD3Config | SACConfig`: `--high.algo sac` switches the level's config, keeping the fields TD3 and SAC
    share, whatever the order of the flags; a SAC-only flag on a TD3 level is refused with one line; the saved config
    names the learner and loads back; a config saved when a level listed both learners' fields keeps its learner's."""
    from hrlkit.algorithms import config_from_dict, default_config
    from hrlkit.config import parse_overrides, to_dict
    from hrlkit.learners import SACConfig, TD3Config

    tc = default_config("hiro")
    assert isinstance(tc.algo_config.high, TD3Config) and tc.algo_config.high.hidden == (300, 300)
    parse_overrides(tc, ["--high.entropy-coef-init", "0.05", "--high.hidden", "64,64", "--high.algo", "sac"])
    high = tc.algo_config.high
    assert isinstance(high, SACConfig) and high.entropy_coef_init == 0.05 and high.hidden == (64, 64)
    assert high.actor_lr == 1e-4 and high.batch_size == 100  # the reference level's values, kept
    with pytest.raises(HrlkitError, match=r"--algo.low.entropy-coef-init is a setting of sac.*--low.algo sac"):
        parse_overrides(tc, ["--low.entropy-coef-init", "0.1"])
    with pytest.raises(HrlkitError, match=r"--algo.low.algo = 'ppo': use td3 or sac"):
        parse_overrides(tc, ["--low.algo", "ppo"])
    saved = to_dict(tc)
    assert saved["algo_config"]["high"]["algo"] == "sac" and saved["algo_config"]["low"]["algo"] == "td3"
    back = config_from_dict(saved)
    assert back.algo_config.high == high and back.algo_config.low == tc.algo_config.low
    old = {
        "algo": "hiro",
        "algo_config": {
            "high": {"algo": "sac", "hidden": [32], "policy_delay": 2, "entropy_lr": 1e-3},
            "low": {"algo": "td3", "hidden": [16], "entropy_coef_init": 0.5, "policy_delay": 3},
        },
    }
    migrated = config_from_dict(old).algo_config
    assert migrated.high == SACConfig(hidden=(32,), actor_lr=1e-4, critic_lr=1e-3, batch_size=100, entropy_lr=1e-3)
    assert migrated.low == TD3Config(hidden=(16,), actor_lr=1e-4, batch_size=100, policy_delay=3)


def test_every_packaged_preset_section_applies_and_keeps_the_ranges():
    """Each algorithm section of each bundled preset names known keys with values in range (a typo in a preset would
    otherwise surface only when someone trains that env with that algorithm)."""
    from hrlkit.algorithms import ALGORITHMS
    from hrlkit.config import PRESET_DIR, check_values

    files = sorted(PRESET_DIR.rglob("*.yaml"))
    assert len(files) >= 15
    checked = 0
    for path in files:
        for algo in load_yaml(path):
            assert algo in ALGORITHMS, f"{path.name}: section {algo!r} names no algorithm"
            tc = default_config(algo)
            assert apply_preset(tc, load_yaml(path), path.name) == f"section {algo}"
            check_values(tc)
            checked += 1
    assert checked >= 30
