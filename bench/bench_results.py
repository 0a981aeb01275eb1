"""Write one benchmark's section into bench/RESULTS.md, keeping every other section as it is."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n"


def write_section(title: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) the ``## {title}`` section."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    parts = re.split(r"(?m)^(?=## )", text)
    section = f"## {title}\n\n{body.strip()}\n\n"
    for i, part in enumerate(parts):
        if part.startswith(f"## {title}\n"):
            parts[i] = section
            break
    else:
        if not parts[-1].endswith("\n\n"):
            parts[-1] = parts[-1].rstrip("\n") + "\n\n"
        parts.append(section)
    path.write_text("".join(parts).rstrip("\n") + "\n", encoding="utf-8")


def write_block(text: str, path: Path = RESULTS) -> None:
    """Like ``write_section``, for text that starts with its own ``## title`` line."""
    heading, _, body = text.lstrip().partition("\n")
    if not heading.startswith("## "):
        raise ValueError(f"a results block starts with '## ': {heading!r}")
    write_section(heading[3:].strip(), body, path)
