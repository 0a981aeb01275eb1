"""bench/RESULTS.md: a bench replaces only its own section, and rewriting a section as is changes nothing."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from bench_results import write_block, write_section  # noqa: E402


def sections(text: str) -> list[str]:
    return [p for p in re.split(r"(?m)^(?=## )", text) if p.startswith("## ")]


def test_rewriting_every_section_as_it_is_leaves_the_file_unchanged(tmp_path):
    path = tmp_path / "RESULTS.md"
    shutil.copy(BENCH / "RESULTS.md", path)
    original = path.read_text(encoding="utf-8")
    assert len(sections(original)) >= 8
    for block in sections(original):
        write_block(block, path)
    assert path.read_text(encoding="utf-8") == original


def test_a_section_is_replaced_in_place_and_a_new_one_appended(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## A\n\nold a\n\n## B\n\nold b\n", encoding="utf-8")
    write_section("A", "new a", path)
    write_block("## C\n\nnew c\n", path)
    assert path.read_text(encoding="utf-8") == "# Benchmark results\n\n## A\n\nnew a\n\n## B\n\nold b\n\n## C\n\nnew c\n"
