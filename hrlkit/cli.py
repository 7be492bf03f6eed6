"""`hrlkit train | eval | plot`: the command line. Every user mistake ends in one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from hrlkit.errors import HrlkitError

USAGE = """hrlkit train ALGO [--env ID] [--preset NAME] [--total-env-steps N] [--seed S] [--run-dir DIR [--overwrite]]
                  [--init-from RUN_DIR[/checkpoints/STEP]] [--resume RUN_DIR] [--dry-run]
                  [--group.field VALUE ...]     (hrlkit train ALGO --help lists every field)
hrlkit eval RUN_DIR [--episodes N] [--video [--gif]] [--checkpoint STEP] [--seed S] [--out DIR] [--env-kwargs YAML]
hrlkit plot RUN_DIR ... [--out FILE] [--metric KEY | --trajectories | --options]
hrlkit sweep ALGO [--env ID] [--seeds N] [--grid FIELD=V1,V2 ...] [--search optuna --range FIELD=LOW..HIGH[:log]
                  --samples K] [--scheduler asha] [--metric KEY --mode max|min] [--cpus-per-trial C]
                  [--max-concurrent M] [--out DIR] [--address HOST:PORT] [--resume DIR] [--group.field VALUE ...]
hrlkit report RUN_DIR ... [--out DIR] [--metric KEY] [--optimal X] [--reps N] [--at STEPS ...]
hrlkit list                                     (algorithms, presets per env, bundled envs)
hrlkit --version"""


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hrlkit train", allow_abbrev=False, add_help=False)
    p.set_defaults(algo=None)  # ALGO is read by `_train_args`, as the first word only
    p.add_argument("--env")
    p.add_argument("--preset")
    p.add_argument("--total-env-steps")
    p.add_argument("--seed")
    p.add_argument("--run-dir")
    p.add_argument("--resume")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--init-from")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--verbose", type=int, default=1)
    p.add_argument("-h", "--help", action="store_true")
    return p


def _print_train_help(args: argparse.Namespace) -> None:
    from hrlkit.config import ALGORITHM_NAMES as ALGORITHMS
    from hrlkit.config import describe

    print(USAGE.split("\nhrlkit eval")[0])  # the train lines
    print("  --dry-run: print the resolved config, each value's source (default, preset, flag), and stop")
    print("  --no-progress: no progress bar; --verbose 0|1|2: console output (2: every logged value)")
    print(f"\nALGO: {', '.join(ALGORITHMS)}")
    algo = args.algo
    if algo is None:
        return
    tc, applied, _, _ = _resolve_train_config(args, [], with_flags=False)
    if applied:
        print(f"\nThe values below include {'; '.join(applied)} (`--env {tc.run.env}`).")
    titles = {
        "run": "run (the loop)",
        "replay": "replay (the off-policy schedule and buffer)",
        "algo": f"algo ({algo})",
    }
    for name, cfg in tc.groups().items():
        print(f"\n{titles[name]}:")
        for flag, default, doc in describe(cfg, name + "."):
            print(f"  {flag:<34} {default:<14} {doc}")
    prefixes = ", ".join(f"'{g}.'" for g in tc.groups())
    print(f"\nThe {prefixes} prefixes may be left out where the name is unambiguous: --eval-freq 2000.")


def _train_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """`hrlkit train`'s own flags and the field overrides left over. ALGO is the first word or absent: argparse would
    otherwise take the value of a field flag it does not know (`hrlkit train --resume RUN --torch-threads 1`) for it."""
    algo = argv[0] if argv and not argv[0].startswith("-") else None
    args, rest = _train_parser().parse_known_args(argv[1:] if algo else argv)
    args.algo = algo
    if algo is None:
        from hrlkit.config import ALGORITHM_NAMES

        for i, word in enumerate(rest):
            if word in ALGORITHM_NAMES and not (i and rest[i - 1].startswith("--") and "=" not in rest[i - 1]):
                raise HrlkitError(f"ALGO comes first: hrlkit train {word} [--env ID] ... (got {word!r} after flags)")
    return args, rest


def cmd_train(argv: list[str]) -> int:
    args, rest = _train_args(argv)
    if args.help:
        _print_train_help(args)
        return 0
    if args.resume:
        return _resume(args, rest)
    if args.algo is None:
        raise HrlkitError("missing ALGO: hrlkit train ALGO [--env ID] ...; `hrlkit train --help` lists the algorithms")
    from hrlkit.algorithms import algorithm_class, read_agent_state  # torch: after the usage errors

    cls = algorithm_class(args.algo)
    tc, applied, defaults, preset = _resolve_train_config(args, rest)
    if args.dry_run:
        from hrlkit.config import check_values, to_dict

        check_values(tc)
        _print_sources(to_dict(tc), defaults, preset)
        return 0
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.run_dir or f"runs/{tc.run.env.replace('/', '_')}__{tc.algo}__{tc.run.seed}__{stamp}")
    if run_dir.exists() and not run_dir.is_dir():
        raise HrlkitError(f"--run-dir {run_dir} is a file, not a directory: give a new or empty directory")
    init = read_agent_state(args.init_from, tc.algo) if args.init_from else None  # read before anything is written
    if run_dir.exists() and any(run_dir.iterdir()):
        if not args.overwrite:
            raise HrlkitError(
                f"run dir {run_dir} is not empty: pass --resume {run_dir} to continue it, --overwrite to start it "
                "over (its run files are deleted), or another --run-dir"
            )
        from hrlkit.training.lock import clear_run_dir

        clear_run_dir(run_dir)
    model = cls._from_config(tc, run_dir, verbose=args.verbose, tensorboard=True, defer_run_dir=True)
    if init is not None:
        try:
            model.init_from_state(*init)
        except BaseException:
            model.close()
            raise
        applied.append(f"weights from {init[0]}")
    model._open_run_dir(None)
    for line in applied:
        print(f"preset: {line}; flags given on the command line override it")
    print(f"run dir: {run_dir}")
    return _learn_and_report(model, run_dir, progress=not args.no_progress)


def _resolve_train_config(
    args: argparse.Namespace, rest: list[str], with_flags: bool = True
) -> tuple[Any, list[str], dict[str, Any], dict[str, Any]]:
    """(config, presets applied, the defaults as a dict, the config after the presets as a dict): defaults < the
    env's preset < --preset FILE < the command line."""
    import copy

    from hrlkit.algorithms import default_config
    from hrlkit.config import apply_presets, parse_overrides, set_value, to_dict

    tc = default_config(args.algo)
    defaults = to_dict(copy.deepcopy(tc))
    if args.env is not None:
        tc.run.env = args.env
    applied = apply_presets(tc, args.preset)
    preset = to_dict(copy.deepcopy(tc))
    preset["run"]["env"] = defaults["run"]["env"]  # the env is a flag's (--env), whatever preset it chose
    if with_flags:
        parse_overrides(tc, rest)
        if args.env is not None:
            tc.run.env = args.env
        if args.seed is not None:
            set_value(tc, "run.seed", args.seed)
        if args.total_env_steps is not None:
            set_value(tc, "run.total_env_steps", args.total_env_steps)
    return tc, applied, defaults, preset


def _print_sources(final: dict[str, Any], defaults: dict[str, Any], preset: dict[str, Any], indent: str = "") -> None:
    """The resolved config as YAML-like lines, each value followed by its source: default, preset or flag (a flag
    that repeats the preset's value shows as preset)."""
    for key, value in final.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_sources(value, defaults.get(key, {}) or {}, preset.get(key, {}) or {}, indent + "  ")
            continue
        source = "flag" if preset.get(key) != value else "preset" if defaults.get(key) != value else "default"
        print(f"{indent}{key}: {json.dumps(value)}  # {source}")


def _resume(args: argparse.Namespace, rest: list[str]) -> int:
    from hrlkit.algorithms import Algorithm, algorithm_class
    from hrlkit.training.checkpoint import find_checkpoint, read_meta

    run_dir = Path(args.resume)
    meta = read_meta(find_checkpoint(run_dir))
    if args.algo is not None and args.algo != meta["algo"]:
        raise HrlkitError(
            f"{run_dir} is a {meta['algo']} run, not {args.algo}: resume it with `hrlkit train {meta['algo']} --resume {run_dir}`"
        )
    if args.env is not None and args.env != meta["env"]:
        raise HrlkitError(f"{run_dir} was trained on {meta['env']}, not {args.env}: drop --env or start a new run")
    for flag, given in (("--preset", args.preset), ("--run-dir", args.run_dir), ("--overwrite", args.overwrite)):
        if given and not (flag == "--run-dir" and Path(given).resolve() == run_dir.resolve()):
            raise HrlkitError(
                f"{flag} does not apply to a resume, which continues {run_dir} with the config it recorded: drop "
                f"{flag}, or start a new run"
            )
    overrides: dict[str, Any] = {}
    total = meta["config"]["run"].get("total_env_steps", 0)
    if args.total_env_steps is not None:
        try:
            total = int(float(args.total_env_steps))
        except (ValueError, OverflowError):
            raise HrlkitError(f"--total-env-steps expects an integer, got {args.total_env_steps!r}") from None
        overrides["run.total_env_steps"] = total
    if not isinstance(total, int) or total <= meta["env_steps"]:
        raise HrlkitError(
            f"{run_dir} is at {meta['env_steps']} env steps already: give --total-env-steps above that to train on "
            "(nothing was changed)"
        )
    if args.seed is not None and int(args.seed) != meta["config"]["run"]["seed"]:
        raise HrlkitError(f"{run_dir} was trained with seed {meta['config']['run']['seed']}: a resume keeps its seed")
    it = iter(rest)
    for tok in it:
        if not tok.startswith("--"):
            raise HrlkitError(f"unexpected argument {tok!r}")
        key, value = tok.split("=", 1) if "=" in tok else (tok, next(it, None))
        overrides[key] = value
    algorithm_class(meta["algo"])
    model = Algorithm.resume(run_dir, overrides, verbose=args.verbose, env=args.env)
    print(f"resuming {run_dir} at {model.env_steps} env steps")
    return _learn_and_report(model, run_dir, progress=not args.no_progress)


def _learn_and_report(model: Any, run_dir: Path, progress: bool) -> int:
    from hrlkit.plotting import plot_learning_curves

    try:
        model.learn(
            progress_bar=progress and sys.stdout.isatty() or progress and os.environ.get("HRLKIT_PROGRESS") == "1"
        )
    finally:
        model.close()
    try:
        out: Any = plot_learning_curves([run_dir], run_dir / "eval" / "learning_curve.png")
    except HrlkitError as e:  # e.g. a run too short to finish an episode: the run itself is fine
        out = f"none ({e})"
    last = model.state.last_eval if model.state is not None else {}
    summary = ", ".join(f"{k} {v:.3f}" for k, v in last.items())
    print(f"done: {model.env_steps} env steps; last evaluation: {summary or 'none'}; curve: {out}")
    return 0


def cmd_eval(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hrlkit eval", allow_abbrev=False)
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--video", action="store_true", help="record the episodes to RUN_DIR/eval/<step>.mp4")
    p.add_argument("--gif", action="store_true", help="with --video: write a GIF instead of MP4")
    p.add_argument("--checkpoint", type=int, default=None, help="env step of the checkpoint (default: latest)")
    p.add_argument("--seed", type=int, default=None, help="first episode seed (default: the run's evaluation seeds)")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of the deterministic policy")
    p.add_argument(
        "--env", default=None, help="the run's env id, to confirm a user env (module:EnvId) the checkpoint names"
    )
    p.add_argument(
        "--out", default=None, help="directory for the results (default: RUN_DIR/eval); e.g. a read-only run"
    )
    p.add_argument(
        "--env-kwargs", default=None,
        help="a YAML mapping over the run's evaluation env kwargs, e.g. '{goal_moved: true}' (Four Rooms after the "
        "goal moved)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.gif and not args.video:
        raise HrlkitError("--gif chooses the format of --video: add --video (or drop --gif)")
    if args.episodes < 1:
        raise HrlkitError(f"--episodes = {args.episodes}: it must be >= 1")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise HrlkitError(f"--seed = {args.seed}: it must be in 0 .. 2^32 - 1")
    result, video, trajectories = _evaluate_run(
        args.run_dir, args.episodes, args.checkpoint, args.seed, args.stochastic, args.video, args.gif, args.env,
        args.out, _yaml_mapping(args.env_kwargs, "--env-kwargs") if args.env_kwargs is not None else None,
    )  # fmt: skip
    print(f"trajectories: {trajectories}", file=sys.stderr)
    if video is not None:
        print(f"video: {video}", file=sys.stderr)
    # stdout holds one JSON object and nothing else: `hrlkit eval RUN | jq .mean_return`
    print(json.dumps({**result, "trajectories": str(trajectories), "video": None if video is None else str(video)}))
    return 0


def _yaml_mapping(text: str, flag: str) -> dict[str, Any]:
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = None
    if not isinstance(value, dict):
        raise HrlkitError(f"{flag} {text!r}: give a YAML mapping, e.g. {flag} '{{goal_moved: true}}'")
    return value


def _eval_dir(run_dir: str | Path, ckpt: Path) -> Path:
    """RUN_DIR/eval for a training run; CHECKPOINT/eval for a `save`d model directory; never through a link."""
    out = Path(run_dir) / "eval" if (Path(run_dir) / "checkpoints").exists() else ckpt / "eval"
    if out.is_symlink():
        raise HrlkitError(
            f"{out} is a symbolic link: hrlkit never writes evaluation results through links; remove it (a fresh "
            "eval/ is made)"
        )
    return out


def _evaluate_run(
    run_dir: str | Path,
    episodes: int,
    checkpoint: int | None = None,
    seed: int | None = None,
    stochastic: bool = False,
    video: bool = False,
    gif: bool = False,
    env_id: str | None = None,
    out: str | Path | None = None,
    env_kwargs_over: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Path | None, Path]:
    """Evaluate a run's checkpoint; write results_<step>.json, trajectories_<step>.npz and the video to its eval dir
    (or `out`). `env_kwargs_over` updates the run's evaluation env kwargs."""
    from hrlkit.algorithms import Algorithm
    from hrlkit.envs.make import make_eval_env
    from hrlkit.training.checkpoint import find_checkpoint, read_meta
    from hrlkit.training.evaluate import Trajectory, evaluate, save_trajectories

    ckpt = find_checkpoint(run_dir, checkpoint)
    meta = read_meta(ckpt)
    if video:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws offscreen; no display is needed
    if video and "MUJOCO_GL" not in os.environ:
        os.environ["MUJOCO_GL"] = "egl" if os.environ.get("DISPLAY") is None and _has_gpu() else "osmesa"
    model = Algorithm.load(ckpt, env=env_id)
    run_cfg = meta["config"]["run"]
    env_kwargs = run_cfg.get("eval_env_kwargs")
    env_kwargs = run_cfg["env_kwargs"] if env_kwargs is None else env_kwargs
    if env_kwargs_over:
        env_kwargs = {**(env_kwargs or {}), **env_kwargs_over}
        run_cfg = {**run_cfg, "eval_env_kwargs": env_kwargs}
    env = make_eval_env(run_cfg, render_mode="rgb_array" if video else None)
    out_dir = _eval_dir(run_dir, ckpt) if out is None else Path(out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise HrlkitError(
            f"cannot write evaluation results to {out_dir}: {e.strerror}; give a writable directory with --out"
        ) from None
    step = meta["env_steps"]
    video_path = out_dir / f"{step}.{'gif' if gif else 'mp4'}" if video else None
    seed = seed if seed is not None else meta["config"]["run"]["seed"] + 1_000_000
    trajectories: list[Trajectory] = []
    result: dict[str, Any] = evaluate(
        model, env, episodes, seed=seed, deterministic=not stochastic, video_path=video_path, trajectories=trajectories,
        success_distances=tuple(run_cfg.get("eval_success_distances", ())),
    )  # fmt: skip
    env.close()
    result.update(checkpoint_env_steps=step, episodes=episodes, env_kwargs=env_kwargs)
    results = out_dir / f"results_{step}.json"
    n = 1
    while results.exists():  # an earlier evaluation of this checkpoint (other seeds, episodes) is kept
        results, n = out_dir / f"results_{step}_{n}.json", n + 1
    results.write_text(json.dumps(result, indent=2))
    traj_path = save_trajectories(
        out_dir / f"trajectories_{step}.npz", trajectories, env=meta["env"], env_kwargs=env_kwargs,
        algo=meta["algo"], checkpoint_env_steps=step, seed=seed,
    )  # fmt: skip
    return result, video_path, traj_path


def _has_gpu() -> bool:
    return Path("/dev/nvidia0").exists()


def cmd_plot(argv: list[str]) -> int:
    from hrlkit.plotting import plot_learning_curves

    p = argparse.ArgumentParser(prog="hrlkit plot", allow_abbrev=False)
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default=None, help="PNG path (default: learning_curves.png or trajectories.png here)")
    p.add_argument(
        "--metric",
        default=None,
        help="progress.csv column (default: eval/success_rate, else eval/mean_return, else rollout/ep_rew_mean: the first every run has)",
    )
    p.add_argument(
        "--trajectories", action="store_true",
        help="a maze map of each run's latest evaluation episodes and subgoals (runs `hrlkit eval` first if needed)",
    )  # fmt: skip
    p.add_argument(
        "--options", action="store_true",
        help="option agents (option-critic, ppoc, dac): the option active at each step of fresh evaluation episodes, "
        "and on Four Rooms the map coloured by the option picked in each cell",
    )  # fmt: skip
    p.add_argument(
        "--episodes", type=int, default=3, help="with --trajectories or --options: episodes of a fresh evaluation"
    )
    p.add_argument(
        "--env", default=None,
        help="with --trajectories or --options: the runs' env id, to confirm a user env (module:EnvId)",
    )  # fmt: skip
    p.add_argument(
        "--env-kwargs", default=None,
        help="with --options: YAML mapping over the runs' evaluation env kwargs (e.g. '{goal_moved: true}')",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.trajectories and args.options:
        raise HrlkitError("--trajectories and --options draw different pictures: pass one of them")
    if args.env_kwargs is not None and not args.options:
        raise HrlkitError("--env-kwargs applies to --options only (the evaluation it runs)")
    if args.options:
        kwargs = _yaml_mapping(args.env_kwargs, "--env-kwargs") if args.env_kwargs is not None else None
        runs = [Path(d) for d in args.run_dirs]
        out = _plot_options(runs, args.out or "options.png", args.episodes, args.env, kwargs)
    elif args.trajectories:
        runs = [Path(d) for d in args.run_dirs]
        out = _plot_trajectories(runs, args.out or "trajectories.png", args.episodes, args.env)
    else:
        from hrlkit.report import treatment_names

        runs = [Path(d) for d in args.run_dirs]
        out = plot_learning_curves(runs, args.out or "learning_curves.png", args.metric, treatment_names(runs))
    print(f"plot: {out}")
    return 0


def _plot_trajectories(run_dirs: list[Path], out: str | Path, episodes: int, env_id: str | None = None) -> Path:
    """One maze panel per run from its newest trajectories_<step>.npz; a run without one, or whose newest one is older
    than its latest checkpoint, is evaluated first."""
    from hrlkit.algorithms import guard_checkpoint_env
    from hrlkit.envs.make import make_env
    from hrlkit.plotting import MazePanel, maze_walls, maze_y_down, plot_trajectories, png_path
    from hrlkit.training.checkpoint import find_checkpoint, read_meta
    from hrlkit.training.evaluate import TRAJECTORY_FILE, latest_trajectories, load_trajectories

    png_path(out)  # checked before any evaluation runs
    for run_dir in run_dirs:  # every run a maze, checked before anything is evaluated or drawn
        meta = read_meta(find_checkpoint(run_dir))
        guard_checkpoint_env(str(meta["env"]), env_id, Path(run_dir))
        env = make_env(meta["env"], env_kwargs=meta["config"]["run"].get("env_kwargs") or {})
        is_maze = bool(maze_walls(env))
        env.close()
        if not is_maze:
            raise HrlkitError(
                f"{run_dir} was trained on {meta['env']}, which is no maze: --trajectories draws a maze's walls with "
                "the x-y paths; plot its learning curve without --trajectories"
            )
    panels = []
    for run_dir in run_dirs:
        ckpt = find_checkpoint(run_dir)
        step = int(read_meta(ckpt).get("env_steps", 0))
        path = latest_trajectories(_eval_dir(run_dir, ckpt))
        match = TRAJECTORY_FILE.fullmatch(path.name) if path is not None else None
        old = int(match.group(1)) if match else None
        if old is None or old < step:
            why = "no trajectories yet" if old is None else f"its newest trajectories are of {old} env steps"
            print(f"{run_dir}: {why}; evaluating its latest checkpoint ({step} env steps) for {episodes} episodes")
            _, _, path = _evaluate_run(run_dir, episodes, env_id=env_id)
        trajectories, meta = load_trajectories(path)
        guard_checkpoint_env(str(meta["env"]), env_id, path)
        env = make_env(meta["env"], env_kwargs=meta.get("env_kwargs") or {})
        title = f"{run_dir.name}: {meta.get('algo', '?')} on {meta['env']} @ {meta.get('checkpoint_env_steps', '?')}"
        panels.append(MazePanel(title, trajectories, maze_walls(env), maze_y_down(env)))
        env.close()
    return plot_trajectories(panels, out)


def _plot_options(
    run_dirs: list[Path], out: str | Path, episodes: int, env_id: str | None, env_kwargs: dict[str, Any] | None
) -> Path:
    """One row per run: the option active at each step of `episodes` fresh evaluation episodes (`hrlkit eval`'s,
    written to the run's eval dir), and on grid worlds (Four Rooms) the map coloured by the option picked in each cell."""
    import numpy as np

    from hrlkit.algorithms import Algorithm, guard_checkpoint_env
    from hrlkit.envs.make import make_eval_env
    from hrlkit.plotting import OptionPanel, plot_options, png_path
    from hrlkit.training.checkpoint import find_checkpoint, read_meta
    from hrlkit.training.evaluate import load_trajectories

    png_path(out)  # checked before any evaluation runs
    if episodes < 1:
        raise HrlkitError(f"--episodes {episodes}: it must be >= 1")
    models = []
    for run_dir in run_dirs:  # every run an option agent, checked before anything is evaluated or drawn
        ckpt = find_checkpoint(run_dir)
        meta = read_meta(ckpt)
        guard_checkpoint_env(str(meta["env"]), env_id, Path(run_dir))
        model = Algorithm.load(ckpt, env=env_id)
        if model.active_option(np.zeros(1, np.int64)) is None:
            raise HrlkitError(
                f"{run_dir} is a {meta['algo']} run: --options needs an option agent (option-critic, ppoc or dac)"
            )
        models.append((model, meta))
    panels = []
    for run_dir, (model, meta) in zip(run_dirs, models, strict=True):
        _, _, path = _evaluate_run(run_dir, episodes, env_id=env_id, env_kwargs_over=env_kwargs)
        trajectories, _ = load_trajectories(path)
        run_cfg = dict(meta["config"]["run"])
        if env_kwargs:
            base = run_cfg.get("eval_env_kwargs")
            run_cfg["eval_env_kwargs"] = {**(run_cfg["env_kwargs"] if base is None else base), **env_kwargs}
        env = make_eval_env(run_cfg)
        grid = env.unwrapped
        walls = cell_options = goal = None
        if hasattr(grid, "FREE_CELLS") and hasattr(grid, "WALLS"):  # a grid world: the option picked in each cell
            free = np.asarray(grid.FREE_CELLS)  # (N, 2) (row, col) of cell index i
            _, picked = model.predict(np.arange(len(free)), None)
            walls = np.asarray(grid.WALLS, bool)
            cell_options = np.full(walls.shape, -1, np.int64)
            cell_options[free[:, 0], free[:, 1]] = model.active_option(picked)
            env.reset(seed=0)  # the goal of the first evaluation episode (a function of the env kwargs)
            goal = grid.index_to_cell(grid.goal)
        env.close()
        title = f"{run_dir.name}: {meta['algo']} on {meta['env']} @ {meta['env_steps']}"
        n_options = int(model.config.algo_config.n_options)
        panels.append(OptionPanel(title, trajectories, n_options, walls, cell_options, goal))
    return plot_options(panels, out)


def cmd_list(argv: list[str]) -> int:
    """`hrlkit list`: the algorithms, the presets (env: the algorithms each has a section for) and the bundled envs."""
    if argv:
        raise HrlkitError(f"hrlkit list takes no arguments, got {' '.join(argv)}")
    import gymnasium as gym

    from hrlkit.algorithms import ALGORITHMS
    from hrlkit.config import PRESET_DIR, load_yaml

    print("algorithms: " + ", ".join(ALGORITHMS))
    print("presets (env: algorithms with a section; `hrlkit train ALGO --env ENV` applies them):")
    for path in sorted(PRESET_DIR.rglob("*.yaml")):
        env_id = str(path.relative_to(PRESET_DIR).with_suffix(""))
        data = load_yaml(path)
        sections = [k for k in data if k in ALGORITHMS] or ["flat keys"]
        print(f"  {env_id}: {', '.join(sections)}")
    import hrlkit.envs.toy  # noqa: F401  (registers the bundled envs)

    print("bundled envs: " + ", ".join(sorted(k for k in gym.registry if k.startswith("hrlkit/"))))
    return 0


def cmd_report(argv: list[str]) -> int:
    """`hrlkit report`: rliable aggregates across runs (`hrlkit.report`)."""
    p = argparse.ArgumentParser(prog="hrlkit report", allow_abbrev=False)
    p.add_argument("run_dirs", nargs="+", help="run dirs, or directories that hold runs (a sweep's OUT)")
    p.add_argument("--out", default="report", help="directory for report.md, report.json and the PNGs")
    p.add_argument(
        "--metric", default=None, help="progress.csv column (default: eval/success_rate, else eval/mean_return)"
    )
    p.add_argument(
        "--optimal",
        type=float,
        default=None,
        help="the solved score, for the optimality gap (default: 1 for a success rate)",
    )
    p.add_argument(
        "--reps", type=int, default=2000, help="bootstrap resamples (rliable recommends 50,000 for final figures)"
    )
    from hrlkit.config import coerce

    p.add_argument(
        "--at",
        type=lambda text: coerce(text, int, "--at"),  # 100000 or 1e5; a bad value: one line
        nargs="+",
        default=[],
        metavar="STEPS",
        help="env steps at which report.md tabulates each run's value (its last evaluation at or before each)",
    )
    args = p.parse_args(argv)
    from hrlkit.report import make_report

    result = make_report(args.run_dirs, args.out, args.metric, args.optimal, args.reps, at=args.at)
    print(f"report: {Path(args.out) / 'report.md'} ({result['metric']}, {len(result['groups'])} groups)")
    return 0


def cmd_sweep(argv: list[str]) -> int:
    """`hrlkit sweep`: seeds and hyperparameter sweeps on Ray Tune (`hrlkit.sweep`)."""
    p = argparse.ArgumentParser(prog="hrlkit sweep", allow_abbrev=False)
    p.add_argument("algo", nargs="?")
    p.add_argument("--env")
    p.add_argument("--preset")
    p.add_argument("--seed", type=int, default=0, help="the first seed")
    p.add_argument("--seeds", type=int, default=1, help="seeds per configuration: seed, seed + 1, ...")
    p.add_argument("--total-env-steps", type=int, default=None)
    p.add_argument("--grid", action="append", default=[], help="FIELD=V1,V2: every value is a trial (repeatable)")
    p.add_argument("--search", default=None, help="optuna: sample configurations (--range, --grid as choices)")
    p.add_argument("--range", action="append", default=[], help="FIELD=LOW..HIGH[:log], for --search")
    p.add_argument("--samples", type=int, default=8, help="configurations a search tries")
    p.add_argument("--scheduler", default=None, help="asha: stop trials that trail at each evaluation")
    p.add_argument(
        "--grace-period", type=int, default=0, help="env steps ASHA lets every trial run (default: one evaluation)"
    )
    p.add_argument("--metric", default="eval/mean_return", help="what a search or scheduler optimises")
    p.add_argument("--mode", default="max")
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--max-concurrent", type=int, default=0, help="trials at once (default: as the CPUs allow)")
    p.add_argument("--max-failures", type=int, default=3, help="restarts of a failed trial, each from its checkpoint")
    p.add_argument("--out", default=None, help="sweep directory (default: runs/sweeps/ENV__ALGO__TIME)")
    p.add_argument("--address", default=None, help="a running Ray cluster (`ray start --head`), e.g. 10.0.0.1:6379")
    p.add_argument("--resume", default=None, help="continue the interrupted sweep in this directory")
    args, rest = p.parse_known_args(argv)
    from hrlkit.sweep import SPEC_FILE, SweepSpec, _parse_values, check_spec, default_out, run_sweep

    try:
        import ray  # noqa: F401
    except ImportError:
        raise HrlkitError("hrlkit sweep needs Ray Tune: pip install 'hrlkit[sweep]' (or `make install`)") from None
    if args.resume:
        out = Path(args.resume)
        if not (out / SPEC_FILE).is_file():
            raise HrlkitError(f"{out} holds no sweep ({SPEC_FILE} is missing): give the --out of an earlier sweep")
        if args.algo or rest or args.grid or args.range:
            raise HrlkitError("--resume continues a sweep with the settings it recorded: drop the other arguments")
        import json

        spec = SweepSpec(**json.loads((out / SPEC_FILE).read_text()))
        spec.out = str(out.resolve())  # where the sweep is now, should it have moved
        return _sweep_ending(out, run_sweep(spec, address=args.address, num_cpus=args.cpus, resume=True))
    if args.algo is None:
        raise HrlkitError("missing ALGO: hrlkit sweep ALGO [--env ID] --seeds N [--grid FIELD=V1,V2] ...")
    from hrlkit.algorithms import algorithm_class

    algorithm_class(args.algo)
    if args.seeds < 1:
        raise HrlkitError(f"--seeds {args.seeds}: at least 1")
    search = {k: ",".join(v) for k, v in _parse_values(args.range, "--range").items()}
    out = Path(args.out) if args.out else default_out(args.algo, args.env)
    if out.exists() and any(out.iterdir()):
        raise HrlkitError(f"--out {out} is not empty: continue it with --resume {out}, or give another --out")
    spec = SweepSpec(
        algo=args.algo, env=args.env, preset=args.preset, flags=rest,
        seeds=list(range(args.seed, args.seed + args.seeds)), grid=_parse_values(args.grid, "--grid"), search=search,
        search_alg=args.search, samples=args.samples, metric=args.metric, mode=args.mode, scheduler=args.scheduler,
        grace_period=args.grace_period, total_env_steps=args.total_env_steps, cpus_per_trial=args.cpus_per_trial,
        max_concurrent=args.max_concurrent, max_failures=args.max_failures, out=str(out.resolve()),
    )  # fmt: skip
    check_spec(spec)
    return _sweep_ending(out, run_sweep(spec, address=args.address, num_cpus=args.cpus))


def _sweep_ending(out: Path, unfinished: int) -> int:
    import signal

    from hrlkit import sweep

    sweep.print_summary(out)
    if unfinished:
        term = sweep.STOPPED_BY == signal.SIGTERM
        print(
            f"hrlkit: {'terminated (SIGTERM)' if term else 'interrupted'} with {unfinished} trials unfinished (each "
            f"keeps its checkpoints): continue with `hrlkit sweep --resume {out}`",
            file=sys.stderr,
        )
        return 128 + signal.SIGTERM if term else 130
    return 0


COMMANDS = {
    "train": cmd_train, "eval": cmd_eval, "plot": cmd_plot, "sweep": cmd_sweep, "report": cmd_report, "list": cmd_list
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
    except BrokenPipeError:  # `hrlkit train sac --help | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except BaseException as e:
        if not _ray_driver(argv):
            raise
        if isinstance(e, SystemExit):
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        elif isinstance(e, KeyboardInterrupt):
            import signal

            term = getattr(e, "signum", signal.SIGINT) == signal.SIGTERM
            print("hrlkit: terminated (SIGTERM)" if term else "hrlkit: interrupted", file=sys.stderr)
            code = 128 + signal.SIGTERM if term else 130
        else:
            import traceback

            traceback.print_exc()
            code = 1
    if _ray_driver(argv):
        # A sweep's driver has written everything (runs, report, summary, or the error above) and shut Ray down; what
        # Ray leaves behind can still hold the interpreter's exit for minutes (gRPC channels joined in finalizers,
        # ray-project/ray#29431: one CI run waited past 300 s after the summary). Leave without finalizers.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a reader that left, a closed stream: nothing more can be said
                pass
        os._exit(code)
    return code


def _ray_driver(argv: list[str] | None) -> bool:
    """Whether this is the `hrlkit` program (not an in-process call) and it connected to Ray (`hrlkit sweep`)."""
    sweep = sys.modules.get("hrlkit.sweep")
    return argv is None and sweep is not None and sweep.RAY_CONNECTED


def _main(argv: list[str] | None = None) -> int:
    if argv is None and "" not in sys.path and os.getcwd() not in sys.path:
        # A user env module in the working directory is found by `--env my_envs:Maze-v0` (and, from a checkpoint,
        # only when named again). Last on the path, so a file there never shadows a library hrlkit imports.
        sys.path.append(os.getcwd())
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] == "--version":
        from hrlkit import __version__

        print(f"hrlkit {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        from hrlkit.errors import close_matches

        print(
            f"hrlkit: error: unknown command {command!r}{close_matches(command, COMMANDS)}; use "
            f"{', '.join(COMMANDS)} or --version",
            file=sys.stderr,
        )
        return 2
    try:
        return COMMANDS[command](rest)
    except HrlkitError as e:
        print(f"hrlkit: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        import errno

        full = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
        if e.errno not in full | {errno.EROFS, errno.EACCES, errno.EPERM}:
            raise
        what = "the disk is full" if e.errno in full else "it is read-only or not writable"
        print(
            f"hrlkit: error: cannot write {e.filename or 'a file'}: {e.strerror} ({what}); checkpoints written before "
            "are intact: free space or fix the permissions, then --resume",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as e:
        import signal

        if getattr(e, "signum", signal.SIGINT) == signal.SIGTERM:
            print("hrlkit: terminated (SIGTERM)", file=sys.stderr)
            return 128 + signal.SIGTERM
        print("hrlkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
