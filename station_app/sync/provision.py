"""Set a station up from the county server (``station-app setup``, the first-run dialog's second way).

The county registers the station in its console (code, name, village or township, its first
administrator) and hands out a token; here the token alone is enough: the server says who the
station is, the station database is created the normal way (``Workspace.open``), the station and
its administrator are saved as the first-run dialog would, then the first sync brings the place
tree, the county's reference data and every record of the station's villages.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select

from station_app.domain.errors import ValidationError
from station_app.services.auth import setup_station
from station_app.services.changes import system_actor
from station_app.services.workspace import Workspace
from station_app.store.models import Place, Station, User

from .client import NetworkError, SyncClient, Unauthorized
from .engine import SyncReport, run_sync
from .settings import check_server_url, set_server

logger = logging.getLogger(__name__)

#: What a console set-up file says it is (county_server.console.stations.SETUP_FILE_KIND).
SETUP_FILE_KIND = "village-yibao-station-setup"


@dataclass
class ProvisionResult:
    code: str
    name: str
    scope: str
    place_code: str
    admin_username: str
    report: SyncReport


def read_setup_file(path: str | Path) -> tuple[str, str]:
    """(server, token) from a set-up file downloaded from the county console."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"找不到设置文件：{path}") from None
    except (OSError, ValueError):
        raise ValidationError("设置文件无法读取或格式不对，请从县医保局控制台重新下载。") from None
    if not isinstance(data, dict) or data.get("kind") != SETUP_FILE_KIND or not data.get("server") \
            or not data.get("token"):
        raise ValidationError("这不是站点设置文件，请从县医保局控制台重新下载。")
    return str(data["server"]), str(data["token"])


def fetch_identity(server: str, token: str, *, client: SyncClient | None = None) -> dict[str, Any]:
    """Ask the server who this token belongs to; Chinese errors for a bad token or no server."""
    server = check_server_url(server)
    own = client is None
    client = client or SyncClient(server, token.strip(), max_attempts=2)
    try:
        info = client.whoami()
    except Unauthorized:
        raise ValidationError("同步令牌无效或已停用，请向县医保局核对（令牌只显示一次，丢失需重新生成）。",
                              field="token") from None
    except NetworkError:
        raise ValidationError(f"无法连接县服务器 {server}，请检查地址和网络后重试。", field="server_url") from None
    finally:
        if own:
            client.close()
    if info.get("scope") not in ("village", "township"):
        raise ValidationError("这个令牌属于县级账户，不能用来设置村站或乡镇站。", field="token")
    return info


def provision(ws: Workspace, server: str, token: str, *, admin_username: str = "", admin_password: str = "",
              progress: Callable[[int, int, str], None] | None = None) -> ProvisionResult:
    """Set up an empty station database from the county and run the first sync."""
    if ws.is_set_up:
        raise ValidationError("本数据库已完成初始设置，不能再次设置；如需重装请换一个数据目录。")
    server = check_server_url(server)
    info = fetch_identity(server, token)
    users = [u for u in info.get("users") or [] if u.get("username")]
    admin = next((u for u in users if u.get("role") == "admin"), None)
    if admin is None and not admin_username:
        raise ValidationError("县医保局没有为本站设置管理员，请自行填写管理员用户名和密码（命令行加 --admin-user 和 --admin-password）。",
                              field="username")
    username = admin_username or admin["username"]
    # The county's administrator arrives with its argon2 hash; a throw-away password passes the
    # first-run checks and is replaced by it at once, inside the same set-up.
    password = admin_password or secrets.token_urlsafe(18)
    setup_station(ws, code=info["code"], name=info["name"], scope=info["scope"], place_code=info["place_code"],
                  admin_username=username, admin_password=password,
                  admin_display_name=(admin or {}).get("display_name") or "管理员")
    actor = system_actor(info["code"])
    with ws.unit_of_work(actor, "provision_users") as session:
        for user in users:
            row = session.scalar(select(User).where(User.username == user["username"]))
            if row is None:
                row = User(username=user["username"], display_name=user.get("display_name") or user["username"],
                           role=user.get("role") or "doctor", place_code=info["place_code"],
                           village_code=info["place_code"])
                session.add(row)
            if user.get("password_hash") and not (admin_password and user["username"] == username):
                row.password_hash = user["password_hash"]
    ws.refresh_key_wraps()  # the county's users unlock the encrypted database with their own passwords
    set_server(ws, actor, server, token.strip())
    report = run_sync(ws, progress=progress)
    _fix_county_code(ws, actor)
    return ProvisionResult(info["code"], info["name"], info["scope"], info["place_code"], username, report)


def _fix_county_code(ws: Workspace, actor) -> None:
    """Set up before the place tree arrived, the station guessed its county: correct it now."""
    with ws.read() as session:
        station = session.scalar(select(Station).where(Station.code == ws.station.code))
        county = session.scalar(select(Place.code).where(Place.level == "county"))
        needs = station is not None and county and station.county_code != county
    if needs:
        with ws.unit_of_work(actor, "provision_county") as session:
            session.scalar(select(Station).where(Station.code == ws.station.code)).county_code = county
        ws.reload_station()
