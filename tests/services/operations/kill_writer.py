"""Child process of the kill -9 test: saves through the services in a loop, printing each committed save.

Single saves (a household, a member) alternate with small roster imports (one transaction of
``BATCH`` people each), so some kills land inside a long bulk transaction.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

from station_app.domain.idnumber import make_id
from station_app.services.auth import login
from station_app.services.households import ResidentInput, add_member, register_household
from station_app.services.roster_import import import_roster
from station_app.services.workspace import Workspace

VILLAGE = "610921103201"
BATCH = 40


def number(n: int) -> str:
    return make_id("610921", date(1930, 1, 1) + timedelta(days=n % 30000), (n // 30000) % 1000)


def batch_numbers(start: int, k: int) -> list[str]:
    """The ID numbers of import ``k`` of the child started at ``start`` (the test recomputes them)."""
    return [number(start + 50_000 + k * 100 + i) for i in range(BATCH)]


def main(db: str, start: int, work: Path) -> None:
    ws = Workspace.open(db, username="admin", password="admin-pass-1")  # sign-in unlocks the database
    actor = login(ws, "admin", "admin-pass-1")
    work.mkdir(parents=True, exist_ok=True)
    print("READY", flush=True)
    household = None
    n, k = start, 0
    while True:
        n += 1
        if n % 5 == 0:
            k += 1
            roster = work / f"batch{k}.csv"
            lines = ["姓名,身份证号,与户主关系"] + [f"赵六,{x},{'户主' if i == 0 else '子'}"
                                                for i, x in enumerate(batch_numbers(start, k))]
            roster.write_text("\n".join(lines), encoding="utf-8")
            result = import_roster(ws, actor, roster, village_code=VILLAGE, backups=work / "backups")
            assert result.added == BATCH, result.summary
            sys.stdout.write(f"BATCH {k}\n")
            sys.stdout.flush()
            continue
        person = ResidentInput("王五", number(n), group_code=VILLAGE + "01")
        # Children started at different offsets give people the same name and birth date: the
        # clerk confirmed "仍然保存" (this test is about durability, not the similarity check).
        if household is None or n % 4 == 0:
            household, rid = register_household(ws, actor, village_code=VILLAGE, head=person, confirm_similar=True)
        else:
            rid = add_member(ws, actor, household, person, confirm_similar=True)
        # Printed only after the unit of work committed: the user "saw" this save succeed.
        sys.stdout.write(f"SAVED {rid}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
