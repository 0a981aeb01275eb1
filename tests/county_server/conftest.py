"""Console fixtures: the county server with its console on 127.0.0.1, staff accounts, a signed-in browser session."""

from __future__ import annotations

import re
from datetime import date

import pytest
import requests

from county_server.console import install
from county_server.console.accounts import add_user

from ..sync.conftest import REFERENCE, LiveServer, make_county  # noqa: F401 - fixtures reused
from ..sync.conftest import pg_database, pg_url, reference_rows, station_templates, stations  # noqa: F401

ADMIN = ("chief", "chief-pass-1")
VIEWER = ("looker", "looker-pass-1")
PAST_YEAR = date.today().year - 1


class Console:
    """The county server (sync API + console) and helpers to drive it over real HTTP."""

    def __init__(self, county):
        self.county = county
        self.store = county.store
        self.url = county.url + "/console"

    def session(self, who=ADMIN) -> requests.Session:
        s = requests.Session()
        page = s.get(self.url + "/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        r = s.post(self.url + "/login", data={"csrf": csrf, "username": who[0], "password": who[1],
                                              "next": "/console/"}, allow_redirects=False)
        assert r.status_code == 303, r.text
        return s

    @staticmethod
    def csrf(session: requests.Session, page_url: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', session.get(page_url).text).group(1)


def _console(county) -> Console:
    # Installed before the server answers its first request; no background refresher in tests
    # (pages refresh on demand, and a test asserts when figures move).
    install(county.server.app, county.store, refresh_interval=None)
    county.store.load_reference({**REFERENCE, "year_settings": REFERENCE["year_settings"] + [
        {"year": PAST_YEAR, "premium_yuan": 380, "collection_start": f"{PAST_YEAR - 1}-09-01",
         "deadline": f"{PAST_YEAR - 1}-12-31"}]})
    add_user(county.store.engine, username=ADMIN[0], role="county_admin", password=ADMIN[1], display_name="县局管理员")
    add_user(county.store.engine, username=VIEWER[0], role="viewer", password=VIEWER[1], display_name="查看员")
    return Console(county)


@pytest.fixture
def console(tmp_path, reference_rows):  # noqa: F811
    from ..sync.conftest import make_county as make

    county = make(f"sqlite:///{tmp_path / 'county.db'}", reference_rows, )
    county.server.stop()
    cons = _console(county)
    county.server.start()
    yield cons
    county.server.stop()
    county.store.close()


@pytest.fixture
def pg_console(pg_url, reference_rows):  # noqa: F811
    from ..sync.conftest import make_county as make

    county = make(pg_url, reference_rows)
    county.server.stop()
    cons = _console(county)
    county.server.start()
    yield cons
    county.server.stop()
    county.store.close()
