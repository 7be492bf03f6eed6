"""docs/hiro.md's configuration table stays in step with HIROConfig: one row per field, with the field's default."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from hrlkit.agents.hiro.config import HIROConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "hiro.md"


def expected_rows() -> dict[str, str]:
    """flag -> repr(default) for every HIRO field, the per-level ones as --high.x and --low.x."""
    cfg, rows = HIROConfig(), {}
    for f in dataclasses.fields(HIROConfig):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):  # the levels and hindsight, as --high.x, --hindsight.x
            for g in dataclasses.fields(value):
                rows[f"--{f.name}.{g.name.replace('_', '-')}"] = repr(getattr(value, g.name))
        else:
            rows[f"--{f.name.replace('_', '-')}"] = repr(value)
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
