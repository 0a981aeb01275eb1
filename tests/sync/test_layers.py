"""Layers: the sync code and the county server never import Qt; the county server is a program of
its own (never imports the station app); the shared protocol imports neither program, no ORM
models and no Qt (issue 14.4)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in the file, relative ones resolved."""
    module = list(path.relative_to(ROOT).with_suffix("").parts)
    package = module[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                prefix = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.append((prefix, node.lineno))
            found += [(f"{prefix}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    hits = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name, line in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                hits.append(f"{path.relative_to(ROOT)}:{line} {name}")
    return hits


QT = ("PySide6", "shiboken6", "PyQt6", "PyQt5")


@pytest.mark.parametrize("package", ["station_app/sync", "county_server", "sync_protocol"])
def test_no_qt_below_the_ui(package):
    assert _offenders(package, QT + ("station_app.ui",)) == []


def test_the_county_server_never_imports_the_station_app():
    assert _offenders("county_server", ("station_app",)) == []


def test_the_shared_protocol_imports_neither_program_nor_orm_models():
    forbidden = ("station_app", "county_server", "sqlalchemy", *QT)
    assert _offenders("sync_protocol", forbidden) == []


def test_the_walk_sees_imports_and_resolves_relative_ones():
    assert ("sync_protocol.protocol.MAX_FIELD_CHARS", 17) in [
        (n, line) for n, line in _imports(ROOT / "sync_protocol" / "tables.py") if n.endswith("MAX_FIELD_CHARS")]
    assert any(n.startswith("county_server.") for n, _ in _imports(ROOT / "county_server" / "app.py"))
    assert _offenders("county_server", ("sync_protocol",))  # the server does use the shared package


def test_the_server_starts_without_the_station_app_importable(tmp_path):
    """Run the server's import and its reference loading in a process where station_app cannot load."""
    import subprocess
    import sys

    blocker = tmp_path / "station_app"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('the county server must not import station_app')\n")
    code = ("import county_server.app, county_server.cli, county_server.console.routes, county_server.synthetic\n"
            "from county_server.reference import reference_rows\n"
            "import json, pathlib\n"
            "rows = reference_rows(pathlib.Path('resources/reference/demo_county.json'))\n"
            "assert rows and rows[0][0] == 'place'\n"
            "import sys; assert 'station_app' not in sys.modules or sys.modules['station_app'] is None\n")
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
