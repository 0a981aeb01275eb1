"""The wheel must carry migrations/ and resources/ where paths.bundle_dir() looks for them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_migrations_and_font(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "station_app/_bundled/migrations/env.py" in names
    assert "station_app/_bundled/migrations/script.py.mako" in names
    versions = {n for n in names if n.startswith("station_app/_bundled/migrations/versions/") and n.endswith(".py")}
    assert versions == {f"station_app/_bundled/migrations/versions/{p.name}"
                        for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert "station_app/_bundled/resources/fonts/NotoSansSC-Regular.ttf" in names
    assert "station_app/_bundled/resources/fonts/OFL.txt" in names
