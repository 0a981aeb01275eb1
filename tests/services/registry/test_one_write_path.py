"""Issue 14.2: one write path for residents and households."""

from __future__ import annotations

import ast
from dataclasses import asdict
from pathlib import Path

from station_app.domain.enums import Relation
from station_app.services import households, registry

from tests.conftest import GROUP_A1, VILLAGE_A
from .conftest import an_id

ROOT = Path(__file__).resolve().parents[3] / "station_app"


def test_each_write_function_is_defined_once():
    found: dict[str, list[str]] = {}
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in (
                    "register_household", "add_member", "update_resident", "set_status"):
                found.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert found == {name: ["services/households.py"] for name in
                     ("register_household", "add_member", "update_resident", "set_status")}
    assert registry.register_household is households.register_household  # old names still work


def test_register_household_leaves_the_callers_head_alone(township_ws):
    from datetime import date

    ws, admin = township_ws

    head = households.ResidentInput("李木子", an_id(date(1970, 2, 3), 31), relation=Relation.SPOUSE.value,
                                    group_code=GROUP_A1)
    before = asdict(head)
    households.register_household(ws, admin, village_code=VILLAGE_A, head=head)
    assert asdict(head) == before
