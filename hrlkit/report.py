"""Aggregate statistics across runs with rliable (Agarwal et al. 2021, "Deep RL at the edge of the statistical
precipice"): the few-seed comparison the field reports.

Runs are grouped by (algo, env, label). A run's score is the last value of the metric it logged (by default
`eval/success_rate` when every run has it, else `eval/mean_return`), so each group is a score matrix of shape
(n_runs, 1): one env per group. For each group:

- the interquartile mean (IQM: the mean of the middle 50 % of runs, `rliable.metrics.aggregate_iqm`), the mean, the
  median and the optimality gap (how far below `optimal` the runs are, on average; only when `optimal` is known:
  1 for a success rate), each with a 95 % stratified-bootstrap percentile interval (`rliable.library.
  get_interval_estimates`);
- a performance profile: the share of runs scoring above tau, for tau over the scores' range, with its band;
- the probability of improvement of one group over another on the same env, with its interval;
- a sample-efficiency curve: the IQM and its interval at each env step every run of the group evaluated at;
- with `at` (`--at 100000 500000 1000000`): each run's value at those env steps, in seed order, and their mean: the
  table a paper prints beside its curves. A run's value at step s is its last evaluation at or before s; a run whose
  last evaluation comes before s has not reached it and shows as "-".

`hrlkit report RUN_DIR... [--out DIR]` writes `report.md` (the table), `report.json` (every number), and the PNGs.
The bootstrap draws from a seeded generator, so a report is the same each time it is made from the same runs.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrlkit.errors import HrlkitError
from hrlkit.plotting import default_metric, load_progress, run_key, seed_curve

AGGREGATES = ("IQM", "mean", "median", "optimality gap")
SWEEP_FILE = "sweep.json"
"""written by `hrlkit sweep` into each trial's run dir: the trial's label (its grid values) and seed"""


@dataclass
class Group:
    """The runs of one (algo, env, label) and their scores."""

    algo: str
    env: str
    label: str
    runs: list[Path] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    curves: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.algo} [{self.label}]" if self.label else self.algo


# ------------------------------------------------------------------------------------------------------ statistics
def _rliable() -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from rliable import library, metrics
    return library, metrics


@contextlib.contextmanager
def seeded_global_numpy(seed: int) -> Iterator[None]:
    """numpy's global generator seeded with `seed` inside the block, the caller's state put back after it.

    rliable's bootstraps draw their resamples from numpy's global generator (`np.random.choice` in
    `StratifiedBootstrap.update_indices` and `StratifiedIndependentBootstrap`), whatever `random_state` they are
    given; without this, two reports of the same runs had different intervals."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def interval_estimates(
    scores: dict[str, np.ndarray], fn: Any, reps: int = 2_000, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's point estimates and 95 % stratified-bootstrap percentile intervals of `fn` for each score matrix
    ((n_runs, n_tasks) each); intervals have shape (2, k) for a `fn` returning k values. The same for the same
    inputs and `seed`."""
    library, _ = _rliable()
    with warnings.catch_warnings(), seeded_global_numpy(seed):
        warnings.simplefilter("ignore", FutureWarning)  # arch's notice about its random_state argument
        return library.get_interval_estimates(scores, fn, reps=reps, random_state=np.random.RandomState(seed))


def aggregates(
    scores: dict[str, np.ndarray], optimal: float | None, reps: int = 2_000, seed: int = 0
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Group -> aggregate name -> (point estimate, low, high) for IQM, mean, median and (when `optimal` is given) the
    optimality gap."""
    _, metrics = _rliable()

    def fn(x: np.ndarray) -> np.ndarray:
        values = [metrics.aggregate_iqm(x), metrics.aggregate_mean(x), metrics.aggregate_median(x)]
        if optimal is not None:
            values.append(metrics.aggregate_optimality_gap(x, gamma=optimal))
        return np.array(values)

    points, intervals = interval_estimates(scores, fn, reps, seed)
    names = AGGREGATES if optimal is not None else AGGREGATES[:3]
    return {
        g: {n: (float(points[g][i]), float(intervals[g][0, i]), float(intervals[g][1, i])) for i, n in enumerate(names)}
        for g in scores
    }


def improvement(
    x: np.ndarray, y: np.ndarray, reps: int = 2_000, seed: int = 0
) -> tuple[float, float, float]:  # fmt: skip
    """P(X > Y): the probability that a run of X scores above a run of Y (ties count half), with its interval."""
    _, metrics = _rliable()
    points, intervals = interval_estimates({"xy": (x, y)}, metrics.probability_of_improvement, reps, seed)
    low, high = np.ravel(intervals["xy"])
    return float(np.ravel(points["xy"])[0]), float(low), float(high)


# ------------------------------------------------------------------------------------------------------ reading runs
def find_runs(paths: Sequence[str | Path]) -> list[Path]:
    """Run directories from the paths given: a directory with `progress.csv` is a run; any other directory stands for
    the runs below it (a sweep's output, a benchmark's `runs/...`)."""
    runs: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise HrlkitError(f"{p} is not a directory: give run directories, or a directory that holds runs")
        if (p / "progress.csv").is_file():
            runs.append(p)
            continue
        below = sorted(q.parent for q in p.rglob("progress.csv") if (q.parent / "config.yaml").is_file())
        if not below:
            raise HrlkitError(f"{p} holds no run (no progress.csv beside a config.yaml below it)")
        runs.extend(below)
    return list(dict.fromkeys(runs))  # each once, in order


def run_label(run_dir: Path) -> str:
    """The label a sweep wrote for its trial (its grid values), or '' for a run made by hand."""
    path = run_dir / SWEEP_FILE
    if not path.is_file():
        return ""
    try:
        return str(json.loads(path.read_text()).get("label", ""))
    except (json.JSONDecodeError, AttributeError):
        raise HrlkitError(f"{path} is not the JSON object `hrlkit sweep` writes: fix or delete it") from None


def _flat(tree: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: json.dumps(tree)}


IGNORED_FIELDS = frozenset({"run.seed", "run.checkpoint_freq", "run.log_interval", "run.device", "run.torch_threads"})
"""config fields that tell runs apart without making them different treatments"""


def _with_defaults(raw: Any) -> Any:
    """An hrlkit config.yaml with the fields it does not record (it was saved before they existed) at their defaults,
    the values such a run trained with: a newer run that sets one elsewhere then differs from it in that field. Other
    files (a peer library's run written by a benchmark, whose algo hrlkit does not have) come back as they are."""
    from hrlkit.algorithms import config_from_dict
    from hrlkit.config import ALGORITHM_NAMES, to_dict

    if not isinstance(raw, dict) or raw.get("algo") not in ALGORITHM_NAMES:
        return raw
    return to_dict(config_from_dict(raw))  # the loader `train --resume` uses: lenient with fields since renamed


def config_labels(runs: Sequence[Path]) -> dict[Path, str]:
    """A label per run: the one its sweep wrote, else the config fields in which the runs of its (algo, env) differ
    (`her.enabled=true`), so that SAC and SAC+HER, or two learning rates, form groups of their own."""
    import yaml

    configs: dict[Path, dict[str, str]] = {}
    for run in runs:
        path = run / "config.yaml"
        try:
            configs[run] = _flat(_with_defaults(yaml.safe_load(path.read_text()) or {})) if path.is_file() else {}
        except yaml.YAMLError:
            raise HrlkitError(f"{path} is not valid YAML: fix or delete it") from None
    by_key: dict[tuple[str, str], list[Path]] = {}
    for run in runs:
        by_key.setdefault(run_key(run), []).append(run)
    labels = {}
    for members in by_key.values():
        # fields every run has (the configs of other libraries' runs, written by benchmarks, are taken as they are)
        keys = sorted(set.intersection(*(set(configs[r]) for r in members)) - IGNORED_FIELDS)
        differing = [k for k in keys if len({configs[r].get(k) for r in members}) > 1]
        for run in members:
            labels[run] = run_label(run) or ",".join(f"{k.split('.', 1)[-1]}={configs[run][k]}" for k in differing)
    return labels


def treatment_names(runs: Sequence[Path]) -> dict[Path, str]:
    """Each run's group name as `hrlkit report` gives it: its algo, with the config fields in which the runs of its
    (algo, env) differ (`td3 [action_l2=1.0]`). `hrlkit plot` draws one curve per name, so two settings of one
    algorithm are never averaged into one curve."""
    labels = config_labels(runs)
    return {run: Group(run_key(run)[0], "", labels[run]).name for run in runs}


def read_groups(runs: Sequence[Path], metric: str | None) -> tuple[list[Group], str]:
    """The runs grouped by (algo, env, label), each with its score (the metric's last value) and its curve."""
    progresses = [load_progress(r) for r in runs]
    metric = metric or default_metric(progresses, runs)
    labels = config_labels(runs)
    groups: dict[tuple[str, str, str], Group] = {}
    for run, progress in zip(runs, progresses, strict=True):
        x, y = seed_curve(progress, metric, run)  # where both are recorded, by env step
        algo, env = run_key(run)
        key = (algo, env, labels[run])
        group = groups.setdefault(key, Group(*key))
        group.runs.append(run)
        group.scores.append(float(y[-1]))
        group.curves.append((x, y))
    return list(groups.values()), metric


def curve_estimates(group: Group, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(env steps, IQM, low, high) at the env steps every run of the group recorded the metric at."""
    steps = sorted(set.intersection(*(set(x.tolist()) for x, _ in group.curves)))
    if not steps:
        return (np.zeros(0),) * 4  # type: ignore[return-value]
    from scipy.stats import trim_mean

    # (n_runs, n_steps): the stratified bootstrap resamples the runs within each column, so one call gives each step's
    # interval, as one call per step would
    matrix = np.stack([y[np.searchsorted(x, steps)] for x, y in group.curves])

    def per_step(m: np.ndarray) -> np.ndarray:  # each column's IQM (rliable's aggregate_iqm of that column)
        return trim_mean(m, 0.25, axis=0)

    points, intervals = interval_estimates({"curve": matrix}, per_step, reps, seed)
    iqm, (low, high) = np.asarray(points["curve"], float), np.asarray(intervals["curve"], float)
    return np.array(steps, float), iqm, low, high


def run_seed(run_dir: Path) -> int | None:
    """The seed a run's `config.yaml` records (`run.seed`), or None."""
    import yaml

    path = run_dir / "config.yaml"
    try:
        config = yaml.safe_load(path.read_text()) if path.is_file() else None
    except yaml.YAMLError:
        raise HrlkitError(f"{path} is not valid YAML: fix or delete it") from None
    run = config.get("run") if isinstance(config, dict) else None
    seed = run.get("seed") if isinstance(run, dict) else None
    return seed if isinstance(seed, int) else None


def value_at(x: np.ndarray, y: np.ndarray, step: float) -> float | None:
    """The last value at or before `step` of a curve (x sorted), or None where the curve has not reached `step` (its
    last point comes before it) or starts after it.

    Worked example: evaluations at 100, 200, 300 of 1, 2, 3: at 250 -> 2, at 300 -> 3, at 301 -> None, at 50 -> None.
    """
    if len(x) == 0 or x[-1] < step or x[0] > step:
        return None
    return float(y[np.searchsorted(x, step, side="right") - 1])


def table_at(group: Group, steps: Sequence[int]) -> dict[str, Any]:
    """A group's values at `steps`: its runs in seed order, each run's value per step (None: not reached), and the
    mean over the runs that reached the step (None if none did)."""
    seeds = [run_seed(run) for run in group.runs]  # each config read once
    order = sorted(range(len(group.runs)), key=lambda i: (seeds[i] is None, seeds[i] or 0, i))
    values = [[value_at(*group.curves[i], s) for s in steps] for i in order]
    means = []
    for j in range(len(steps)):
        column = [v[j] for v in values if v[j] is not None]
        means.append(float(np.mean(column)) if column else None)
    return {
        "runs": [str(group.runs[i]) for i in order],
        "seeds": [seeds[i] for i in order],
        "values": values,
        "mean": means,
    }


# ------------------------------------------------------------------------------------------------------ the report
def make_report(
    paths: Sequence[str | Path], out: str | Path, metric: str | None = None, optimal: float | None = None,
    reps: int = 2_000, seed: int = 0, at: Sequence[int] = (),
) -> dict[str, Any]:  # fmt: skip
    """Write report.md, report.json, aggregates.png, profiles.png and curves.png into `out`; return the numbers.

    `optimal`: the score that counts as solved, for the optimality gap; 1 by default for a success rate, none (no
    gap) for returns unless given. `at`: env steps at which to tabulate each run's value (see the module docstring)."""
    if reps < 100:
        raise HrlkitError(f"--reps {reps}: a bootstrap needs at least 100 resamples (rliable's default is 50,000)")
    at = [int(s) for s in at]
    if any(s <= 0 for s in at) or len(set(at)) != len(at):
        raise HrlkitError(
            f"--at {' '.join(map(str, at))}: give distinct env step counts above 0, e.g. --at 100000 500000"
        )
    at = sorted(at)
    runs = find_runs(paths)
    groups, metric = read_groups(runs, metric)
    if optimal is None and metric.endswith("success_rate"):
        optimal = 1.0
    scores = {g.name + f" @ {g.env}": np.asarray(g.scores, float)[:, None] for g in groups}  # (n_runs, 1)
    table = aggregates(scores, optimal, reps, seed)
    pairs = {}
    for a, b in itertools.permutations(groups, 2):
        if a.env == b.env and a.name < b.name:
            p = improvement(np.asarray(a.scores)[:, None], np.asarray(b.scores)[:, None], reps, seed)
            pairs[f"P({a.name} > {b.name}) @ {a.env}"] = p
    curves = {g.name + f" @ {g.env}": curve_estimates(g, min(reps, 2000), seed) for g in groups}

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "metric": metric,
        "optimal": optimal,
        "reps": reps,
        "groups": {
            name: {"runs": [str(r) for r in g.runs], "scores": g.scores, "aggregates": table[name]}
            for name, g in zip(scores, groups, strict=True)
        },
        "probability_of_improvement": pairs,
        "curves": {k: [v.tolist() for v in c] for k, c in curves.items()},
    }
    if at:
        result["at"] = {"steps": at, "groups": {name: table_at(g, at) for name, g in zip(scores, groups, strict=True)}}
    (out / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    _write_markdown(out / "report.md", result, scores)
    _plot(out, scores, table, curves, metric)
    return result


def _write_markdown(path: Path, result: dict[str, Any], scores: dict[str, np.ndarray]) -> None:
    names = list(next(iter(result["groups"].values()))["aggregates"])
    lines = [
        f"# Report: {result['metric']} (each run's last value)",
        "",
        f"95 % stratified-bootstrap intervals ({result['reps']} resamples, rliable). "
        + (f"Optimality gap against {result['optimal']:g}." if result["optimal"] is not None else ""),
        "",
        "| group | runs | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for name, g in result["groups"].items():
        cells = [f"{p:.3g} [{lo:.3g}, {hi:.3g}]" for p, lo, hi in g["aggregates"].values()]
        lines.append(f"| {name} | {len(g['runs'])} | " + " | ".join(cells) + " |")
    if result["probability_of_improvement"]:
        lines += ["", "| probability of improvement | estimate [95 % interval] |", "|---|---|"]
        lines += [
            f"| {k} | {p:.3g} [{lo:.3g}, {hi:.3g}] |" for k, (p, lo, hi) in result["probability_of_improvement"].items()
        ]
    if "at" in result:
        steps = result["at"]["steps"]
        lines += [
            "",
            f"{result['metric']} at each env step: the mean over runs, then each run in seed order in brackets (its last"
            " evaluation at or before the step; - where the run has not reached it).",
            "",
            "| group | seeds | " + " | ".join(f"{s:,}" for s in steps) + " |",
            "|---|---|" + "---|" * len(steps),
        ]
        tables = result["at"]["groups"].values()
        d = _decimals([v for t in tables for row in t["values"] for v in row if v is not None])
        for name, t in result["at"]["groups"].items():
            seeds = " / ".join("?" if s is None else str(s) for s in t["seeds"])
            cells = []
            for j, mean in enumerate(t["mean"]):
                each = " / ".join("-" if v[j] is None else f"{v[j]:,.{d}f}" for v in t["values"])
                cell = "-" if mean is None else f"{mean:,.{d}f}"
                cells.append(f"{cell} ({each})" if len(t["values"]) > 1 and mean is not None else cell)
            lines.append(f"| {name} | {seeds} | " + " | ".join(cells) + " |")
    lines += ["", "Plots: aggregates.png, profiles.png, curves.png.", ""]
    path.write_text("\n".join(lines))


def _decimals(values: list[float]) -> int:
    """One format for a whole table: 2 decimals for rates (every |value| <= 1), none from 100 (returns), else 1."""
    largest = max((abs(v) for v in values), default=0.0)
    return 2 if largest <= 1 else 0 if largest >= 100 else 1


def _plot(out: Path, scores: dict[str, np.ndarray], table: dict[str, Any], curves: dict[str, Any], metric: str) -> None:
    import matplotlib.pyplot as plt  # headless: hrlkit.plotting chose the Agg backend

    library, _ = _rliable()
    names = list(scores)
    aggs = list(next(iter(table.values())))
    fig, axes = plt.subplots(1, len(aggs), figsize=(3.2 * len(aggs), 0.6 * len(names) + 1.4), squeeze=False)
    for j, agg in enumerate(aggs):
        ax = axes[0, j]
        for i, name in enumerate(names):
            p, lo, hi = table[name][agg]
            ax.barh(i, hi - lo, left=lo, height=0.6, color=f"C{i}", alpha=0.7)
            ax.plot([p, p], [i - 0.3, i + 0.3], color="k")
        ax.set_yticks(range(len(names)), names if j == 0 else [""] * len(names))
        ax.set_title(agg)
        ax.set_xlabel(metric)
    fig.tight_layout()
    fig.savefig(out / "aggregates.png", dpi=100)
    plt.close(fig)

    everything = np.concatenate([s.ravel() for s in scores.values()])
    taus = (
        np.linspace(everything.min(), everything.max(), 51) if everything.max() > everything.min() else everything[:1]
    )
    with warnings.catch_warnings(), seeded_global_numpy(0):
        warnings.simplefilter("ignore", FutureWarning)
        profiles, bands = library.create_performance_profile(scores, taus, reps=500)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, name in enumerate(names):
        ax.plot(taus, profiles[name], color=f"C{i}", label=name)
        ax.fill_between(taus, bands[name][0], bands[name][1], color=f"C{i}", alpha=0.2)
    ax.set_xlabel(f"{metric} (tau)")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.legend(fontsize=7, title="band: 95 % bootstrap", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "profiles.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for i, (name, (steps, iqm, low, high)) in enumerate(curves.items()):
        if len(steps):
            ax.plot(steps, iqm, color=f"C{i}", marker="o" if len(steps) < 3 else None, label=name)
            ax.fill_between(steps, low, high, color=f"C{i}", alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"IQM of {metric}")
    ax.legend(fontsize=7, title="band: 95 % stratified bootstrap", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)
