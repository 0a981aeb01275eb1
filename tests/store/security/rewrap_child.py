"""Child process of the kill -9 re-wrap test: changes the doctor's password back and forth forever."""

from __future__ import annotations

import sys

from station_app.domain.errors import DomainError
from station_app.services import users
from station_app.services.auth import login
from station_app.services.workspace import Workspace


def main(db: str, first: str, second: str) -> None:
    passwords = [first, second]
    for current in passwords:  # whichever the last round left in place
        try:
            ws = Workspace.open(db, username="doctor", password=current)
            actor = login(ws, "doctor", current)
            break
        except DomainError:
            continue
    else:
        raise SystemExit("no password opens the database")
    n = 0
    while True:
        new = passwords[1] if current == passwords[0] else passwords[0]
        users.change_password(ws, actor, current, new)
        current = new
        n += 1
        print(f"CHANGED {n}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
