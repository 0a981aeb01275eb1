"""Where things live: bundled data (migrations, resources) and the user's data folders.

No side effects at import. Works from a source checkout, an installed wheel and a
PyInstaller bundle; ``STATION_APP_DATA_DIR`` (or ``--data-dir``) overrides the user folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "VillageYibaoStation"
APP_AUTHOR = "VillageYibao"
DATA_DIR_ENV = "STATION_APP_DATA_DIR"

_PACKAGE_DIR = Path(__file__).resolve().parent


def bundle_dir() -> Path:
    """The folder that holds ``migrations/`` and ``resources/``.

    Frozen: PyInstaller's extraction folder. Source checkout: the repository root.
    Installed wheel: ``station_app/_bundled`` (the wheel build copies both folders there).
    """
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    checkout_root = _PACKAGE_DIR.parent
    if (checkout_root / "migrations" / "env.py").is_file():
        return checkout_root
    return _PACKAGE_DIR / "_bundled"


def migrations_dir() -> Path:
    path = bundle_dir() / "migrations"
    if not (path / "env.py").is_file():
        raise FileNotFoundError(f"找不到数据库迁移脚本目录：{path}（安装包不完整，请重新安装）")
    return path


def resources_dir() -> Path:
    return bundle_dir() / "resources"


def font_files() -> list[Path]:
    return sorted((resources_dir() / "fonts").glob("*.ttf"))


def data_dir() -> Path:
    """Per-user data folder (created on demand); never inside the install folder."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        path = Path(override)
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_path() -> Path:
    return data_dir() / "station.db"


def backups_dir() -> Path:
    path = data_dir() / "backups"
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir() -> Path:
    path = data_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def notices_dir() -> Path:
    path = data_dir() / "notices"
    path.mkdir(parents=True, exist_ok=True)
    return path
