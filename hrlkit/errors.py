"""One exception type for every mistake a user can make: the CLI prints its message on one line and exits 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HrlkitError(Exception):
    """A user-facing error: the message names the problem and the fix, in one line."""


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> str:
    """`" (did you mean: a, b?)"` for the closest choices, or `""` when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(matches)}?)" if matches else ""
