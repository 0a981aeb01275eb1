"""Issue 17: the county's rules (waiting periods, 困难群众, card rules, targets) reach the stations
through the reference feed like the rest of its reference data — not code, not a local file."""

from __future__ import annotations

from county_server.reference import reference_rows as read

from station_app.services.reference import station_rules

from .conftest import REFERENCE, make_county

RULES = {
    "late_enrollment": {"value": {"fixed_waiting_months": 3, "extra_months_per_gap_year": 1}, "source": "国办发〔2024〕38号"},
    "hardship_groups": {"value": ["tekun", "dibao", "tuopin"]},
    "targets": {"value": {"hardship_enrollment_rate": 1.0}},
}


def test_county_rules_reach_a_station(tmp_path, stations):
    county = make_county(f"sqlite:///{tmp_path / 'county.db'}", read({**REFERENCE, "rules": RULES}))
    try:
        (village,) = stations(county, "VA")
        assert not station_rules(village.ws).late_enrollment  # the station's own file had no rules
        village.sync()
        rules = station_rules(village.ws)
        assert (rules.fixed_waiting_months, rules.extra_months_per_gap_year) == (3, 1)
        assert rules.hardship_codes == {"tekun", "dibao", "tuopin"}
        assert rules.target("hardship_enrollment_rate") == 1.0
    finally:
        county.server.stop()
