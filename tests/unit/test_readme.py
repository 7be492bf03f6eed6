"""The README's Python code runs as written (only its training budget shortened), and every `hrlkit` command in its
Command line block names an algorithm, env and flags that exist (`--help` for that algorithm and env answers)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), re.DOTALL)


def test_the_python_snippets_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code = blocks("python")
    assert code, "README has no python block"
    monkeypatch.chdir(tmp_path)
    for source in code:
        short = re.sub(r"\.learn\(\s*[\d_]+", ".learn(300", source)  # the budget only
        exec(compile(short, str(README), "exec"), {"__name__": "readme"})  # noqa: S102
    assert "mean_return" in capsys.readouterr().out


def test_every_train_command_names_what_exists() -> None:
    from hrlkit.algorithms import algorithm_class, default_config
    from hrlkit.cli import _train_args
    from hrlkit.config import parse_overrides

    commands = [line.split("#")[0] for block in blocks("bash") for line in block.splitlines()]
    train = [shlex.split(c)[2:] for c in commands if c.startswith("hrlkit train ")]
    assert len(train) > 10
    for argv in train:
        args, rest = _train_args(argv)
        if args.resume:
            continue
        algorithm_class(args.algo)  # an unknown algorithm raises
        tc = default_config(args.algo)
        if rest and rest != ["--help"]:
            parse_overrides(tc, rest)  # an unknown flag or a bad value raises


def test_import_hrlkit_is_light_and_registers_the_bundled_envs() -> None:
    """`import hrlkit` registers the bundled envs without importing torch (the algorithms load on first use), so
    `hrlkit --help` and usage errors start fast; `from hrlkit import SAC` still works."""
    import subprocess
    import sys

    code = (
        "import sys, hrlkit, gymnasium as gym; gym.make('hrlkit/FourRooms-v0'); "
        "assert 'torch' not in sys.modules, 'torch imported'; from hrlkit import SAC, evaluate; "
        "assert 'torch' in sys.modules and SAC.name == 'sac' and callable(evaluate)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_light_algorithm_list_is_the_real_one() -> None:
    from hrlkit.algorithms import ALGORITHMS
    from hrlkit.config import ALGORITHM_NAMES

    assert tuple(ALGORITHMS) == ALGORITHM_NAMES
