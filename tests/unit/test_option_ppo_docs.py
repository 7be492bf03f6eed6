"""docs/options.md's config tables stay in step with the configs: every field of Option-Critic, PPOC and DAC has a row
with its current default (for PPOC and DAC in the shared table, or in the learner's own where it differs), and no row
names a field that does not exist."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from hrlkit.agents.option_critic import OptionCriticConfig
from hrlkit.learners.option_ppo import DACConfig, OptionPPOConfig, PPOCConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "options.md"
ROW = re.compile(r"^\| `(--[\w-]+)` \| `(.*?)` \|", re.MULTILINE)


def tables() -> dict[str, dict[str, str]]:
    """Table title (#### X) -> {flag: documented default}."""
    return {
        section.splitlines()[0].strip(): dict(ROW.findall(section))
        for section in re.split(r"^#### ", DOC.read_text(), flags=re.MULTILINE)[1:]
    }


def flags(cls: type) -> dict[str, str]:
    cfg = cls()
    return {f"--{f.name.replace('_', '-')}": repr(getattr(cfg, f.name)) for f in dataclasses.fields(cls)}


@pytest.mark.parametrize(("title", "cls"), [("PPOC only", PPOCConfig), ("DAC only", DACConfig)])
def test_every_field_has_a_row_with_its_default(title: str, cls: type) -> None:
    docs = tables()
    assert flags(OptionPPOConfig) == docs["Shared (PPOC and DAC)"]
    documented = {**docs["Shared (PPOC and DAC)"], **docs[title]}
    assert flags(cls) == documented, f"{title}: docs/options.md and {cls.__name__} differ"


def test_option_critic_table_has_every_field_with_its_default() -> None:
    section = DOC.read_text().split("## Option-Critic", 1)[1].split("### Config", 1)[1].split("\n\n", 3)[2]
    rows = dict(re.findall(r"^\| `([\w-]+)` \| `(.*?)` \|", section, re.MULTILINE))
    assert {k[2:]: v for k, v in flags(OptionCriticConfig).items()} == rows
