"""kill -9 during writes, many times: the database stays intact and every save reported as done is there."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station_app.store.encryption import connect_known

from .kill_writer import BATCH, batch_numbers

ROOT = Path(__file__).resolve().parents[3]
ROUNDS = 20
SAVED = re.compile(r"^SAVED ([0-9a-f-]{36})$")
BATCH_DONE = re.compile(r"^BATCH ([0-9]+)$")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_during_writes_loses_no_acknowledged_save(township_ws, tmp_path):
    ws, _admin = township_ws
    db = ws.db_path
    ws.close()
    rng = random.Random(9)
    env = dict(os.environ, PYTHONPATH=str(ROOT), STATION_APP_DATA_DIR=str(tmp_path / "child-data"))
    acknowledged: list[str] = []
    batches: dict[int, int] = {}  # child start → last import it reported done
    started = time.monotonic()
    for round_no in range(ROUNDS):
        args = [sys.executable, "-m", "tests.services.operations.kill_writer", str(db), str(round_no * 100_000),
                str(tmp_path / f"child{round_no}")]
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Let the child get going first (a loaded CI machine starts Python slowly): in odd rounds
        # until an import has committed, in even ones until a single save has; then kill it at
        # a random moment of whatever it is doing next.
        target = "BATCH" if round_no % 2 else "SAVED"
        lines: list[str] = []
        while not (lines and lines[-1].startswith(target)):
            line = child.stdout.readline()
            assert line, child.stderr.read()  # the child died on its own
            lines.append(line.strip())
        time.sleep(rng.uniform(0.0, 0.5))
        child.send_signal(signal.SIGKILL)
        out, _err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        lines += out.splitlines()
        acknowledged += [m.group(1) for line in lines if (m := SAVED.match(line))]
        batches[round_no * 100_000] = max([int(m.group(1)) for line in lines
                                           if (m := BATCH_DONE.match(line))], default=0)
    assert len(acknowledged) >= ROUNDS // 2 and sum(batches.values()) >= ROUNDS // 2
    assert time.monotonic() - started < 300  # 20–40 s here; a guard against a hung child, not a benchmark

    conn = connect_known(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        present = {row[0] for row in conn.execute("SELECT id FROM resident")}
        missing = [rid for rid in acknowledged if rid not in present]
        assert missing == []
        # Write, audit and outbox share one transaction: none of them exists without the others.
        # (An import's bulk insert is audited by one summary entry per batch, not per row.)
        unaudited = {row[0] for row in conn.execute(
            "SELECT r.id_number FROM resident r WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.row_id = r.id)")}
        imported = {x for start, done in batches.items() for k in range(1, done + 2) for x in batch_numbers(start, k)}
        assert unaudited <= imported
        unsynced = conn.execute("SELECT count(*) FROM resident r WHERE NOT EXISTS "
                                "(SELECT 1 FROM sync_outbox o WHERE o.row_id = r.id)").fetchone()[0]
        assert unsynced == 0
        # A roster import is one transaction: all of it or none of it, and all of it once reported.
        numbers = {row[0] for row in conn.execute("SELECT id_number FROM resident")}
        for start, done in batches.items():
            for k in range(1, done + 2):
                present = sum(x in numbers for x in batch_numbers(start, k))
                assert present in (0, BATCH), (start, k, present)
                if k <= done:
                    assert present == BATCH, (start, k)
    finally:
        conn.close()
