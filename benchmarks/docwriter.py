"""Each benchmark owns one marked section of a Markdown file and rewrites only that section."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(doc: Path, name: str, body: str, heading: str) -> None:
    """Replace the section `name` of `doc` with `body`, or append it under `heading` when the file has none."""
    begin, end = markers(name)
    block = f"{begin}\n{body.strip()}\n{end}"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = text.split(begin)[0] + block + text.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"
    doc.write_text(text)
    print(f"wrote {doc}")
