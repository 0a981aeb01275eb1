"""Fixtures for the edges tests: a village doctor and a township clerk next to the admin."""

from __future__ import annotations

import pytest

from tests.conftest import TOWNSHIP, VILLAGE_A


@pytest.fixture
def doctor(township_ws):
    """村医 of 群英村 (VILLAGE_A), signed in."""
    from station_app.services.auth import login
    from station_app.services.users import add_user

    ws, admin = township_ws
    add_user(ws, admin, username="cy01", display_name="李医生", role="village_doctor",
             place_code=VILLAGE_A, password="doctor-pass-1")
    return login(ws, "cy01", "doctor-pass-1")


@pytest.fixture
def clerk(township_ws):
    """乡镇医保专干 of 漩涡镇, signed in."""
    from station_app.services.auth import login
    from station_app.services.users import add_user

    ws, admin = township_ws
    add_user(ws, admin, username="zg01", display_name="王专干", role="township_clerk",
             place_code=TOWNSHIP, password="clerk-pass-1")
    return login(ws, "zg01", "clerk-pass-1")
