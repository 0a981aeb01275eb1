"""Files the server serves from the repository's ``resources/`` (the notices' font).

A source checkout has them at the repository root; an installed wheel carries them in
``station_app/_bundled/resources`` beside this package (a data folder, not an import: the server
never imports the station app).
"""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    checkout = _ROOT / "resources"
    return checkout if checkout.is_dir() else _ROOT / "station_app" / "_bundled" / "resources"


def font_files() -> list[Path]:
    return sorted((resources_dir() / "fonts").glob("*.ttf"))
