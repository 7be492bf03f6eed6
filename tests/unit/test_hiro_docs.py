"""docs/hiro.md's configuration table stays in step with HIROConfig: one row per field, with the field's default."""

from __future__ import annotations

import re
from pathlib import Path

from hrlkit.agents.hiro.config import HIROConfig
from hrlkit.config import describe, switch_choice
from hrlkit.learners import SACConfig, TD3Config

DOC = Path(__file__).resolve().parents[2] / "docs" / "hiro.md"


def expected_rows() -> dict[str, str]:
    """flag -> repr(default) for every HIRO field as `--help` lists it (the levels as --high.x and --low.x, TD3 by
    default), plus each level's SAC-only fields with the defaults `--high.algo sac` gives them."""
    cfg = HIROConfig()
    rows = {flag: default for flag, default, _ in describe(cfg)}
    options = (TD3Config, SACConfig)
    for level in ("high", "low"):
        as_sac = switch_choice(getattr(cfg, level), options, "sac", f"--{level}.algo")
        for flag, default, _ in describe(as_sac, f"{level}."):
            rows.setdefault(flag, default)
    return rows


def test_every_hiro_field_has_a_row_with_its_default() -> None:
    documented = dict(re.findall(r"^\| `(--[\w.-]+)` \| `(.*?)` \|", DOC.read_text(), re.MULTILINE))
    expected = expected_rows()
    assert len(expected) > 40  # the level fields were expanded, not skipped
    missing = sorted(set(expected) - set(documented))
    stale = sorted(set(documented) - set(expected))
    wrong = {k: (documented[k], v) for k, v in expected.items() if k in documented and documented[k] != v}
    assert not missing, f"fields without a row in docs/hiro.md: {missing}"
    assert not stale, f"rows in docs/hiro.md for fields that no longer exist: {stale}"
    assert not wrong, f"documented default != actual default: {wrong}"


def test_the_own_env_example_runs_as_written() -> None:
    """The Python block of docs/hiro.md's "HIRO on your own env", executed as it stands (600 env steps)."""
    text = DOC.read_text()
    section = text[text.index("## HIRO on your own env") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    code = code[: code.index("```")]
    namespace: dict = {}
    exec(compile(code, "docs/hiro.md", "exec"), namespace)  # noqa: S102
    assert namespace["state"].goals.shape == (1, 2) and namespace["done"]
