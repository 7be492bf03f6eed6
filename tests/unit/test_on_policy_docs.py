"""docs/on_policy.md's configuration tables stay in step with the configs: every field of PPO, TRPO, NPG and VPG has a
row with its current default, in the learner's own table or (when the learner keeps it) in the shared one."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from hrlkit.learners.on_policy import OnPolicyConfig
from hrlkit.learners.ppo import PPOConfig
from hrlkit.learners.trpo import NPGConfig, TRPOConfig
from hrlkit.learners.vpg import VPGConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "on_policy.md"
ROW = re.compile(r"^\| `(--[\w-]+)` \| `(.*?)` \|", re.MULTILINE)


def tables() -> dict[str, dict[str, str]]:
    """Section title (### X) -> {flag: documented default}."""
    out: dict[str, dict[str, str]] = {}
    for section in re.split(r"^### ", DOC.read_text(), flags=re.MULTILINE)[1:]:
        title = section.splitlines()[0].strip()
        out[title] = dict(ROW.findall(section))
    return out


@pytest.mark.parametrize(
    ("title", "cls", "inherits"),
    [("PPO", PPOConfig, []), ("VPG", VPGConfig, []), ("NPG", NPGConfig, []), ("TRPO", TRPOConfig, ["NPG"])],
)
def test_every_field_has_a_row_with_its_default(title: str, cls: type, inherits: list[str]) -> None:
    docs = tables()
    documented = dict(docs["Shared"])
    for parent in inherits:
        documented.update(docs[parent])
    documented.update(docs[title])
    cfg = cls()
    expected = {f"--{f.name.replace('_', '-')}": repr(getattr(cfg, f.name)) for f in dataclasses.fields(cls)}
    missing = sorted(set(expected) - set(documented))
    wrong = {k: (documented[k], v) for k, v in expected.items() if k in documented and documented[k] != v}
    assert not missing, f"{title}: fields without a row in docs/on_policy.md: {missing}"
    assert not wrong, f"{title}: documented default != actual default: {wrong}"
    shared = {f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(OnPolicyConfig)}
    stale = sorted(set(docs[title]) - set(expected) - shared)
    assert not stale, f"{title}: rows for fields that do not exist: {stale}"
