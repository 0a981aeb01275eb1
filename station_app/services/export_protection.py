"""Exports of personal data: password protection (ECMA-376 agile encryption, what Excel itself
writes for 「用密码进行加密」) and an audit entry for every export (who, what, how many rows).

The UI asks before writing (what the file holds, with a password on by default when it carries
full ID numbers) and passes the password through ``export_password`` for the export functions
that run on a worker thread.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from contextvars import ContextVar
from pathlib import Path

from station_app.domain.errors import ValidationError
from station_app.store.base import utcnow
from station_app.store.models import AuditEntry

from .changes import Actor
from .workspace import Workspace

logger = logging.getLogger(__name__)

MIN_EXPORT_PASSWORD = 6
_MIN_PACKAGE = 8192
#: The password of the export running in this context (set by the UI's export runner around the
#: call, on the worker thread), used when an export function is not given one itself.
export_password: ContextVar[str | None] = ContextVar("export_password", default=None)

PERSONAL_DATA_NOTICE = ("导出的文件含居民个人信息（姓名、身份证号、联系电话等），属于敏感个人信息。"
                        "请只导出工作需要的内容，妥善保管文件，用完及时删除，不要通过微信、QQ 等转发。")


def check_export_password(password: str) -> None:
    if len(password or "") < MIN_EXPORT_PASSWORD:
        raise ValidationError(f"文件打开密码至少需要 {MIN_EXPORT_PASSWORD} 位。", field="password")


def write_protected(plain: io.BytesIO | bytes, target: Path, password: str) -> None:
    """Encrypt an xlsx held in memory into ``target`` (Excel, WPS and LibreOffice ask for the password)."""
    import msoffcrypto.format.ooxml

    check_export_password(password)
    source = io.BytesIO(plain.getvalue() if isinstance(plain, io.BytesIO) else plain)
    size = len(source.getvalue())
    if size < _MIN_PACKAGE:
        # msoffcrypto-tool stores a package under 4 KiB in the compound file's mini stream and cuts
        # it short: pad the zip with a comment (ignored by Excel/WPS) so it goes to the main stream.
        with zipfile.ZipFile(source, "a") as book:
            book.comment = b" " * (_MIN_PACKAGE - size)
    source.seek(0)
    with open(target, "wb") as handle:
        msoffcrypto.format.ooxml.OOXMLFile(source).encrypt(password, handle)
        handle.flush()
        os.fsync(handle.fileno())


def is_protected(path: Path) -> bool:
    """An encrypted Office file is an OLE compound file, not a zip."""
    with open(path, "rb") as handle:
        return handle.read(8) == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def record_export(ws: Workspace, actor: Actor, what: str, rows: int, path: Path, *, protected: bool,
                  full_ids: bool) -> None:
    """The audit trail of an export of personal data (never the data itself)."""
    summary = (f"导出{what}：{rows} 行，文件 {Path(path).name}"
               f"{'，含完整身份证号' if full_ids else ''}{'，已设打开密码' if protected else '，未设密码'}")
    with ws.unit_of_work(actor, "export", skip_outbox=True) as session:
        session.add(AuditEntry(at=utcnow(), username=actor.username, station_code=actor.station_code,
                               action="export", table_name="", row_id="", summary=summary))
    logger.info("export by %s: %s rows of %s (protected=%s)", actor.username, rows, what, protected)
