"""Layers by folder: the core never imports Qt, and the UI never reaches past the services."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "station_app"
CORE = ("domain", "store", "services", "sync")


def _imports(path: Path) -> set[str]:
    """Absolute names of every module the file imports (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (PACKAGE / folder).rglob("*.py"))


def _hits(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in _imports(path)
                  if any(name == f or name.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("path", _modules(*CORE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_never_imports_qt(path):
    assert _hits(path, ("PySide6", "shiboken6", "PyQt6", "PyQt5")) == []


@pytest.mark.parametrize("path", _modules("ui"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_ui_goes_through_services(path):
    assert _hits(path, ("sqlalchemy", "station_app.store")) == []


def test_the_walk_sees_the_packages():
    assert _modules("domain") and _modules("services") and _modules("ui")


def test_relative_imports_are_resolved(tmp_path, monkeypatch):
    ui = PACKAGE / "ui" / "sections" / "dashboard.py"
    assert "station_app.services.dashboard" in _imports(ui)
    assert "station_app.ui.sections.PageContext" in _imports(ui)
