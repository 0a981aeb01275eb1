"""The two command lines: county-server (init-db, add-station, load-reference, import-bundle …)
and station-app's sync, export-bundle and import-bundle."""

from __future__ import annotations

import json


from county_server.cli import main as county_main
from station_app.cli.main import main as station_main

from tests.conftest import VILLAGE_A
from .conftest import REFERENCE, pending
from .helpers import household


def test_county_server_commands(tmp_path, capsys, stations):
    url = f"sqlite:///{tmp_path / 'county.db'}"
    assert county_main(["--db-url", url, "init-db"]) == 0
    from county_server.db import head_revision

    assert head_revision() in capsys.readouterr().out
    ref = tmp_path / "county.json"
    ref.write_text(json.dumps(REFERENCE, ensure_ascii=False), encoding="utf-8")
    assert county_main(["--db-url", url, "load-reference", str(ref)]) == 0
    assert "参考数据已载入" in capsys.readouterr().out
    assert county_main(["--db-url", url, "load-reference", str(ref)]) == 0
    assert "0 条变化" in capsys.readouterr().out  # loading the same file twice changes nothing
    assert county_main(["--db-url", url, "add-station", "--code", "VA", "--name", "群英村卫生室",
                        "--scope", "VILLAGE", "--place", VILLAGE_A]) == 0
    out = capsys.readouterr().out
    token = out.strip().splitlines()[-1]
    assert token.startswith("ybs_") and len(token) > 40
    assert county_main(["--db-url", url, "add-station", "--code", "VA", "--name", "again",
                        "--scope", "village", "--place", VILLAGE_A]) == 1
    assert "已存在" in capsys.readouterr().err
    assert county_main(["--db-url", url, "list-stations"]) == 0
    listed = capsys.readouterr().out
    assert '"code": "VA"' in listed and token not in listed
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM station")).scalar_one()
    engine.dispose()
    assert token not in stored and len(stored) == 64  # only the hash is kept
    assert county_main(["--db-url", url, "purge", "--days", "90"]) == 0
    assert county_main(["--db-url", url, "disable-station", "--code", "VA"]) == 0
    bad = tmp_path / "bad.ybsb"
    bad.write_bytes(b"YBSB1 VA 00000000-0000-0000-0000-000000000000 " + b"0" * 64 + b"\nxx")
    assert county_main(["--db-url", url, "import-bundle", str(bad)]) == 1
    assert "签名无效" in capsys.readouterr().err


def test_station_app_sync_and_bundles_from_the_command_line(sqlite_county, stations, tmp_path, capsys):
    village, township = stations(sqlite_county, "VA", "TS")
    household(village, VILLAGE_A)
    path = str(village.path)
    village.close()
    assert station_main(["sync", "--db", path, "--server", sqlite_county.url,
                         "--token", sqlite_county.tokens["VA"], "-q"]) == 0
    assert "同步完成：上传 3 条" in capsys.readouterr().out
    village.reopen()
    assert pending(village) == 0
    household(village, VILLAGE_A, "李四")
    village.close()
    bundle = tmp_path / "va.ybsb"
    assert station_main(["export-bundle", "--db", path, "--out", str(bundle)]) == 0
    assert "已导出数据包" in capsys.readouterr().out
    township.sync()
    township_path = str(township.path)
    township.close()
    assert station_main(["import-bundle", "--db", township_path, str(bundle)]) == 0
    assert "本站立即显示 2 条" in capsys.readouterr().out
    assert station_main(["import-bundle", "--db", township_path, str(bundle)]) == 0
    assert "已导入过" in capsys.readouterr().out
    assert station_main(["sync", "--db", township_path, "-q"]) == 0
    assert "转交数据包 1 个" in capsys.readouterr().out
    village.reopen()
    township.reopen()


def test_sync_without_a_server_says_what_to_do(tmp_path, capsys, station_templates):
    import shutil

    path = tmp_path / "fresh.db"
    shutil.copy(station_templates["VB"], path)
    assert station_main(["sync", "--db", str(path), "-q"]) == 1
    assert "尚未设置县服务器地址" in capsys.readouterr().err
    assert station_main(["sync", "--db", str(path), "--server", "ftp://x", "--token", "t" * 30]) == 1
    assert "http://" in capsys.readouterr().err
