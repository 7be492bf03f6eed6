"""How a sweep resolves each trial's config (no Ray here): the order of its sources, its torch threads, its ranges."""

from __future__ import annotations

import pytest

from hrlkit.errors import HrlkitError
from hrlkit.sweep import SweepSpec, _parse_values, parse_range, resolve_trial_config, trial_label


def spec(**changes) -> SweepSpec:
    return SweepSpec(**{"algo": "sac", "env": "Pendulum-v1", "preset": None, "flags": [], "seeds": [0], **changes})


def test_sources_in_order_preset_flags_values_seed() -> None:
    # the Pendulum preset sets actor_lr 1e-3 and eval_freq 2000; the flags override the preset, the trial's values the
    # flags, and the trial's seed everything
    tc = resolve_trial_config(spec(), 4, {})
    assert (tc.algo_config.actor_lr, tc.run.eval_freq, tc.run.seed) == (1e-3, 2000, 4)
    tc = resolve_trial_config(spec(flags=["--actor-lr", "5e-4", "--seed", "9"]), 4, {})
    assert (tc.algo_config.actor_lr, tc.run.seed) == (5e-4, 4)
    tc = resolve_trial_config(spec(flags=["--actor-lr", "5e-4"]), 1, {"algo.actor_lr": "2e-4", "run.eval_freq": 300.0})
    assert (tc.algo_config.actor_lr, tc.run.eval_freq) == (2e-4, 300)
    assert resolve_trial_config(spec(total_env_steps=777), 0, {}).run.total_env_steps == 777


def test_a_trial_uses_its_cpus_as_torch_threads_unless_told() -> None:
    assert resolve_trial_config(spec(cpus_per_trial=2), 0, {}).run.torch_threads == 2
    assert resolve_trial_config(spec(flags=["--torch-threads", "3"]), 0, {}).run.torch_threads == 3
    assert resolve_trial_config(spec(), 0, {"run.torch_threads": "4"}).run.torch_threads == 4


def test_grid_and_range_syntax() -> None:
    assert _parse_values(["algo.actor_lr=1e-3, 3e-4", "--tau=0.01"], "--grid") == {
        "algo.actor_lr": ["1e-3", "3e-4"], "tau": ["0.01"]
    }  # fmt: skip
    for bad in ("actor_lr", "=1,2", "actor_lr="):
        with pytest.raises(HrlkitError, match="FIELD=V1,V2"):
            _parse_values([bad], "--grid")
    assert parse_range("lr", "1e-4..1e-2:log") == (1e-4, 1e-2, True)
    assert parse_range("tau", "0..0.5") == (0.0, 0.5, False)
    for bad in ("1..1", "2..1", "0..1:log", "a..b", "1-2", "1..2:exp"):
        with pytest.raises(HrlkitError, match="LOW..HIGH"):
            parse_range("x", bad)
    assert trial_label({"algo.actor_lr": 0.000123456, "replay.prioritized_replay": "true"}) == (
        "actor_lr=0.0001235,prioritized_replay=true"
    )


@pytest.mark.parametrize(
    ("body", "code", "said"),
    [("return 3", 3, ""), ("raise RuntimeError('boom')", 1, "RuntimeError: boom"), ("raise SystemExit(4)", 4, "")],
)
def test_a_sweep_driver_exits_even_when_something_holds_the_interpreter(body: str, code: int, said: str) -> None:
    """Once connected to Ray, the `hrlkit` program leaves through os._exit with its code (an error: its traceback and
    1), so a thread left running (as Ray's can be) cannot hold it; without that, this child would wait 600 s."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import sys, threading, time
        import hrlkit.cli as cli, hrlkit.sweep as sweep
        threading.Thread(target=time.sleep, args=(600,)).start()  # not a daemon: the interpreter would wait for it
        def fake(argv):
            sweep.RAY_CONNECTED = True
            print("report written", flush=False)
            {body}
        cli._main = fake
        sys.exit(cli.main())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == code, result.stderr
    assert result.stdout == "report written\n"  # flushed before leaving
    assert said in result.stderr
