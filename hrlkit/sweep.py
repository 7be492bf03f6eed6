"""Seeds and hyperparameter sweeps on Ray Tune: `hrlkit sweep ALGO --env ID --seeds N --grid FIELD=V1,V2 ...`.

Each trial runs hrlkit's own training loop (`Algorithm.learn`) in a Ray Tune function trainable, in an ordinary run dir
(`OUT/runs/<trial>`: `hrlkit eval`, `plot`, `report` and `train --resume` work on it). The trial trains toward its
whole budget (so schedules such as PPO's annealed learning rate run as in `hrlkit train`) and pauses after each
evaluation (`run.eval_freq`): a callback ends `learn` there with hrlkit's own checkpoint, the trial reports the
evaluation to Tune with a Tune checkpoint that only points at that step, and goes on. Tune's scheduler (ASHA) decides
on those reports; a trial it stops keeps a run dir that resumes. A trial restarted after a failure (its worker killed,
a node lost), or by `hrlkit sweep --resume OUT` (`Tuner.restore`), resumes its run dir from the latest checkpoint, so
it logs what an uninterrupted trial would have.

Local by default (`ray.init(num_cpus=...)`), a running cluster with `--address`. At the end the sweep writes an
rliable report of all trials (`OUT/report`, `hrlkit.report`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hrlkit.errors import HrlkitError
from hrlkit.training.callbacks import Callback

SPEC_FILE = "sweep_spec.json"
"""the sweep's own settings, in OUT: what `--resume` needs besides Tune's experiment state"""
EXPERIMENT = "tune"
"""Tune's experiment directory name, in OUT"""
# Set once this process has connected to Ray: its driver then leaves through `os._exit` (see `hrlkit.cli.main`).
RAY_CONNECTED = False
STOPPED_BY: int | None = None
"""the signal that stopped the last `run_sweep` (SIGINT or SIGTERM), or None"""


@dataclass
class SweepSpec:
    """What every trial of one sweep shares; JSON-serialisable, saved as OUT/sweep_spec.json."""

    algo: str
    env: str | None
    preset: str | None
    flags: list[str]
    """the command line's other overrides (`--group.field VALUE`), applied to every trial"""
    seeds: list[int]
    grid: dict[str, list[str]] = field(default_factory=dict)
    """field -> values (as typed): every combination runs with every seed"""
    search: dict[str, str] = field(default_factory=dict)
    """field -> range `LOW..HIGH` or `LOW..HIGH:log`, for a search"""
    search_alg: str | None = None
    samples: int = 1
    metric: str = "eval/mean_return"
    mode: str = "max"
    scheduler: str | None = None
    grace_period: int = 0
    total_env_steps: int | None = None
    cpus_per_trial: float = 1.0
    max_concurrent: int = 0
    max_failures: int = 3
    out: str = ""


# ------------------------------------------------------------------------------------------------------ the config
def resolve_trial_config(spec: SweepSpec, seed: int, values: dict[str, Any]) -> Any:
    """The trial's TrainConfig, resolved as `hrlkit train` resolves it: defaults < env preset < --preset < the sweep's
    flags < the trial's grid or search values < its seed."""
    from hrlkit.cli import _resolve_train_config
    from hrlkit.config import set_value

    args = argparse.Namespace(
        algo=spec.algo, env=spec.env, preset=spec.preset, seed=seed, total_env_steps=spec.total_env_steps
    )
    tc, _, _, _ = _resolve_train_config(args, list(spec.flags))
    for key, value in values.items():
        set_value(tc, key, value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value))
    set_value(tc, "run.seed", str(seed))
    given = " ".join(spec.flags).replace("-", "_") + " " + " ".join(values)
    if "torch_threads" not in given:
        tc.run.torch_threads = max(1, int(spec.cpus_per_trial))  # a trial's threads are its CPUs, not the node's
    return tc


def trial_label(values: dict[str, Any]) -> str:
    return ",".join(f"{k.split('.')[-1]}={_text(v)}" for k, v in sorted(values.items()))


def _text(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# ------------------------------------------------------------------------------------------------------ the trainable
def train_trial(params: dict[str, Any], spec: dict[str, Any]) -> None:
    """Ray Tune function trainable: one hrlkit run, reported to Tune at each evaluation."""
    import ray
    from ray import tune

    from hrlkit.algorithms import Algorithm, algorithm_class
    from hrlkit.training.checkpoint import find_checkpoint
    from hrlkit.training.lock import clear_run_dir

    sweep = SweepSpec(**spec)
    seed, values = int(params["seed"]), dict(params.get("values", {}))
    run_dir = Path(sweep.out) / "runs" / tune.get_context().get_trial_name()
    resumable = (run_dir / "checkpoints").is_dir() and _has_checkpoint(run_dir, find_checkpoint)
    if resumable:
        model = Algorithm.resume(run_dir, verbose=0)
        total = model.config.run.total_env_steps if sweep.total_env_steps is None else sweep.total_env_steps
        total = max(total, _planned_total(run_dir, total))
    else:
        if run_dir.exists():
            clear_run_dir(run_dir)  # a trial killed before its first checkpoint: nothing in it can be resumed
        tc = resolve_trial_config(sweep, seed, values)
        total = tc.run.total_env_steps
        model = algorithm_class(sweep.algo)._from_config(tc, run_dir, verbose=0, tensorboard=True)
        (run_dir / "sweep.json").write_text(
            json.dumps({"label": trial_label(values), "seed": seed, "values": values, "total_env_steps": total}) + "\n"
        )
    # learn(total) each time, so that the schedules (PPO's annealed learning rate, PER's beta) run over the whole
    # budget, as in `hrlkit train`; a learn(chunk end) would anneal toward each chunk's end
    pause = _PauseAfterEval() if model.config.run.eval_freq else None
    node = ray.get_runtime_context().get_node_id()  # which node of a cluster ran it
    try:
        while model.env_steps < total:
            model.learn(total, callback=pause)
            last = model.state.last_eval or {}
            report = {"env_steps": model.env_steps, **{f"eval/{k}": v for k, v in last.items()}, "node_id": node}
            with tempfile.TemporaryDirectory() as d:
                (Path(d) / "hrlkit.json").write_text(
                    json.dumps({"run_dir": str(run_dir), "env_steps": model.env_steps})
                )
                tune.report(report, checkpoint=tune.Checkpoint.from_directory(d))
    finally:
        model.close()


class _PauseAfterEval(Callback):
    """Ends `learn` after each evaluation, with a checkpoint as at the end of a budget (a callback that returns False),
    so that the trial reports that evaluation to Tune; the next `learn(total)` continues."""

    def on_eval(self, env_steps: int, result: dict[str, float]) -> bool:
        return False


def _has_checkpoint(run_dir: Path, find_checkpoint: Any) -> bool:
    try:
        find_checkpoint(run_dir)
    except HrlkitError:
        return False
    return True


def _planned_total(run_dir: Path, default: int) -> int:
    """The trial's whole budget (config.yaml holds the current chunk's end)."""
    try:
        return int(json.loads((run_dir / "sweep.json").read_text())["total_env_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return default


# ------------------------------------------------------------------------------------------------------ the sweep
def _parse_values(items: list[str], what: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key or not text.strip():
            raise HrlkitError(f"{what} {item!r}: write FIELD=V1,V2 (e.g. {what} algo.actor_lr=1e-3,3e-4)")
        out[key] = [v.strip() for v in text.split(",") if v.strip()]
    return out


def parse_range(key: str, text: str) -> tuple[float, float, bool]:
    body, _, scale = text.partition(":")
    low, sep, high = body.partition("..")
    try:
        lo, hi = float(low), float(high)
    except ValueError:
        lo = hi = float("nan")
    if not sep or not (lo < hi) or scale not in ("", "log") or (scale == "log" and lo <= 0):
        raise HrlkitError(f"--range {key}={text}: write LOW..HIGH or LOW..HIGH:log with LOW < HIGH (LOW > 0 for log)")
    return lo, hi, scale == "log"


def check_spec(spec: SweepSpec) -> None:
    """Every trial's config resolves and is valid, before Ray starts: a bad field or value is one line now, not N
    failed trials later."""
    import itertools

    from hrlkit.config import check_values

    if spec.search_alg not in (None, "optuna"):
        raise HrlkitError(f"--search {spec.search_alg}: the search available is optuna")
    if spec.scheduler not in (None, "asha"):
        raise HrlkitError(f"--scheduler {spec.scheduler}: the scheduler available is asha")
    if spec.mode not in ("max", "min"):
        raise HrlkitError(f"--mode {spec.mode}: max or min")
    if spec.search_alg and len(spec.seeds) > 1:
        raise HrlkitError(
            "--search with --seeds > 1: a search compares single runs; sweep the configuration it finds with --seeds"
        )
    if spec.search and not spec.search_alg:
        raise HrlkitError("--range needs --search optuna (a grid takes --grid FIELD=V1,V2)")
    if spec.search_alg and not (spec.search or spec.grid):
        raise HrlkitError("--search needs something to search: --range FIELD=LOW..HIGH[:log] or --grid FIELD=V1,V2")
    if spec.samples < 1 or spec.cpus_per_trial <= 0 or spec.max_concurrent < 0 or spec.max_failures < 0:
        raise HrlkitError("--samples >= 1, --cpus-per-trial > 0, --max-concurrent >= 0 and --max-failures >= 0")
    for key, text in spec.search.items():
        lo, hi, _ = parse_range(key, text)
        resolve_trial_config(spec, spec.seeds[0], {key: repr(lo)})
        resolve_trial_config(spec, spec.seeds[0], {key: repr(hi)})
    keys = sorted(spec.grid)
    for combo in itertools.product(*(spec.grid[k] for k in keys)):
        tc = resolve_trial_config(spec, spec.seeds[0], dict(zip(keys, combo, strict=True)))
        check_values(tc)
        if tc.run.eval_freq <= 0 and (spec.scheduler or spec.search_alg):
            raise HrlkitError("a scheduler or search decides on evaluations: set --eval-freq > 0")


def run_sweep(spec: SweepSpec, address: str | None = None, num_cpus: int | None = None, resume: bool = False) -> int:
    """Run (or, `resume`, continue) the sweep; return how many trials it left unfinished (interrupted by Ctrl-C:
    `--resume` continues them). Trials' run dirs: OUT/runs; the report of what ran: OUT/report."""
    import logging

    import ray
    from ray import tune

    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        (out / SPEC_FILE).write_text(json.dumps(asdict(spec), indent=1) + "\n")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # the trials' own output stays in their workers' logs (a failed trial's error reaches the summary)
    init: dict[str, Any] = {"configure_logging": True, "logging_level": logging.WARNING, "log_to_driver": False}
    global RAY_CONNECTED
    RAY_CONNECTED = True
    if address:
        ray.init(address=address, **init)
    else:
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, **init)
    try:
        trainable = tune.with_resources(
            tune.with_parameters(train_trial, spec=asdict(spec)), {"cpu": spec.cpus_per_trial}
        )
        run_config = tune.RunConfig(
            name=EXPERIMENT, storage_path=str(out.resolve()), verbose=0,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        )  # fmt: skip
        if resume:
            tuner = tune.Tuner.restore(
                str(out.resolve() / EXPERIMENT), trainable, resume_unfinished=True, resume_errored=True
            )
        else:
            tuner = tune.Tuner(
                trainable, param_space=_param_space(spec), tune_config=_tune_config(spec), run_config=run_config
            )
        global STOPPED_BY
        STOPPED_BY = None
        before = signal.getsignal(signal.SIGINT)
        main_thread = threading.current_thread() is threading.main_thread()
        before_term = signal.signal(signal.SIGTERM, _sigterm_as_ctrl_c) if main_thread else None
        try:
            results = tuner.fit()
        finally:
            if main_thread:  # None: the handler was installed from C (Ray's), which Python cannot put back
                signal.signal(signal.SIGTERM, signal.SIG_DFL if before_term is None else before_term)
        # Tune handles Ctrl-C during fit (saves its state, stops the trials) and then puts the previous handler back;
        # a fit that ran to the end leaves its own handler installed.
        interrupted = main_thread and signal.getsignal(signal.SIGINT) is before
        if main_thread:
            signal.signal(signal.SIGINT, before)
        if interrupted and STOPPED_BY is None:
            STOPPED_BY = signal.SIGINT
    finally:
        ray.shutdown()
    errors = [r for r in results if r.error is not None]
    unfinished = _unfinished(out / "runs", len(results)) if interrupted else 0
    runs = sorted(p for p in (out / "runs").iterdir() if (p / "progress.csv").is_file())
    if runs:
        from hrlkit.report import make_report

        make_report(runs, out / "report", metric=spec.metric if spec.metric in _columns(runs) else None)
    if errors:
        first = str(errors[0].error).strip().splitlines()[-1][:300]
        raise HrlkitError(
            f"{len(errors)} of {len(results)} trials failed after {spec.max_failures} restarts (first: {first}); the "
            f"others' run dirs and the report are in {out}; fix the cause, then `hrlkit sweep --resume {out}`"
        )
    return unfinished


def _sigterm_as_ctrl_c(signum: int, frame: Any) -> None:
    """SIGTERM (schedulers, `timeout`, `kill`) during a sweep gets Ctrl-C's treatment: Tune saves its state and stops
    the trials, and `--resume` continues them. Without it Ray's own handler ended the driver with a stack dump."""
    global STOPPED_BY
    STOPPED_BY = signal.SIGTERM
    handler = signal.getsignal(signal.SIGINT)
    if not callable(handler) or handler is signal.default_int_handler:  # Tune's handler is not installed (yet)
        interrupt = KeyboardInterrupt("SIGTERM")
        interrupt.signum = signal.SIGTERM  # type: ignore[attr-defined]
        raise interrupt
    handler(signal.SIGINT, frame)


def _unfinished(runs_dir: Path, n_trials: int) -> int:
    """Trials short of their budget (at least one: a trial that had not started has no run dir yet)."""
    from hrlkit.plotting import load_progress

    done = 0
    for run in runs_dir.iterdir() if runs_dir.is_dir() else ():
        try:
            steps = load_progress(run)["time/env_steps"]
            done += int(steps[-1] >= _planned_total(run, -1) >= 0)
        except (HrlkitError, KeyError):
            pass
    return max(1, n_trials - done)


def _columns(runs: list[Path]) -> set[str]:
    from hrlkit.plotting import load_progress

    return set.intersection(*(set(load_progress(r)) for r in runs))


def _param_space(spec: SweepSpec) -> dict[str, Any]:
    from ray import tune

    values: dict[str, Any] = {}
    for key, choices in spec.grid.items():
        values[key] = tune.choice(choices) if spec.search_alg else tune.grid_search(choices)
    for key, text in spec.search.items():
        lo, hi, log = parse_range(key, text)
        values[key] = tune.loguniform(lo, hi) if log else tune.uniform(lo, hi)
    seed: Any = spec.seeds[0] if spec.search_alg else tune.grid_search(spec.seeds)
    return {"seed": seed, "values": values}


def _tune_config(spec: SweepSpec) -> Any:
    from ray import tune

    kwargs: dict[str, Any] = {
        "num_samples": spec.samples if spec.search_alg else 1,
        "max_concurrent_trials": spec.max_concurrent or None,
        "trial_name_creator": _trial_name,
        "trial_dirname_creator": _trial_name,
    }
    if spec.search_alg == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        kwargs["search_alg"] = OptunaSearch(metric=spec.metric, mode=spec.mode, seed=spec.seeds[0])
    if spec.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        kwargs["scheduler"] = ASHAScheduler(
            time_attr="env_steps", metric=spec.metric, mode=spec.mode, max_t=10**12,
            grace_period=max(1, spec.grace_period), reduction_factor=2,
        )  # fmt: skip
    return tune.TuneConfig(**kwargs)


def _trial_name(trial: Any) -> str:
    """`<grid values>__seed<S>__<trial id>`: readable, and stable across restarts and `--resume`."""
    config = trial.config
    label = trial_label(config.get("values", {})).replace("/", "_") or "default"
    return f"{label}__seed{config.get('seed')}__{trial.trial_id}"


def default_out(algo: str, env: str | None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / "sweeps" / f"{(env or 'default').replace('/', '_')}__{algo}__{stamp}"


def print_summary(out: Path) -> None:
    data = (
        json.loads((out / "report" / "report.json").read_text()) if (out / "report" / "report.json").is_file() else None
    )
    print(f"runs: {out / 'runs'}", file=sys.stderr)
    if data:
        print(f"report: {out / 'report' / 'report.md'} ({data['metric']})", file=sys.stderr)
        for name, g in data["groups"].items():
            p, lo, hi = g["aggregates"]["IQM"]
            print(f"  {name}: IQM {p:.4g} [{lo:.4g}, {hi:.4g}] over {len(g['runs'])} runs", file=sys.stderr)
